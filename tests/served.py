"""A real `heila serve` process for the tests that attack the hub from outside.

It runs on an on-disk store in a folder of its own, with its embedded broker, on free ports,
with a token for each actor of the story; the test sees it only over HTTP, as an attacker would,
and reads its memory from /proc.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hub.mqtt.broker import free_port
from hub.trust.auth import hash_token, new_token
from tests.conftest import STORY_ACTORS, story_messages

ADMINISTRATOR = "operator"
"""the served hub's administrator, the one actor allowed SPARQL Update"""


@dataclass
class ServedHub:
    """A `heila serve` process: its URL, its tokens and its process."""

    url: str
    tokens: dict[str, str]
    process: "subprocess.Popen[bytes]"

    def auth(self, actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[actor]}"}

    def alive(self) -> bool:
        return self.process.poll() is None

    def resident_bytes(self, peak: bool = False) -> int:
        """The process's resident memory now, or its peak so far."""
        key = "VmHWM:" if peak else "VmRSS:"
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
        return 0

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=30).status_code == 200
        except httpx.HTTPError:
            return False

    def post_story(self) -> None:
        for message in story_messages():
            answer = httpx.post(
                f"{self.url}/messages",
                content=message.serialize("application/json"),
                headers={**self.auth(message.sender), "content-type": "application/json"},
            )
            assert answer.status_code in (200, 201), answer.text


def _configuration(
    folder: Path, tokens: dict[str, str], broker_port: int, sparql: dict[str, object]
) -> Path:
    lines = ["[mqtt]", f"embedded_port = {broker_port}"]
    lines += ["[sparql]", *(f"{key} = {value!r}" for key, value in sparql.items())]
    for actor, token in tokens.items():
        lines += [f"[actors.{actor}]", f'token_hash = "{hash_token(token)}"']
        if actor == ADMINISTRATOR:
            lines += ['role = "administrator"']
    path = folder / "hub.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def served_hub(folder: Path, **sparql: object) -> Iterator[ServedHub]:
    """Start `heila serve` in `folder` with these [sparql] settings, the story's actors and an
    administrator; stop it afterwards."""
    tokens = {actor: new_token() for actor in (*STORY_ACTORS, ADMINISTRATOR)}
    port, broker_port = free_port(), free_port()
    config = _configuration(folder, tokens, broker_port, sparql)
    command = [sys.executable, "-m", "hub.commands.cli", "serve", "--config", str(config), "--port"]
    log = (folder / "hub.log").open("wb")
    process = subprocess.Popen(
        [*command, str(port), "--store", str(folder / "store"), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    hub = ServedHub(f"http://127.0.0.1:{port}", tokens, process)
    try:
        deadline = time.monotonic() + 60
        while not hub.healthy():
            if not hub.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"heila serve did not start: {(folder / 'hub.log').read_text()}")
            time.sleep(0.1)
        yield hub
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
