"""Hub nodes on one machine: `heila serve` processes joined to a NATS cluster, for tests and
benchmarks. Each has its own on-disk store in its own folder, free ports, and the same actor
tokens; it talks MQTT through its own NATS node's MQTT listener.
"""

import subprocess
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

import httpx

from hub.cluster.engine import NatsNode
from hub.cluster.processes import ATTEMPTS, Launched
from hub.lifecycle import Background
from hub.mqtt.broker import free_port
from hub.trust.auth import hash_token
from hub.web.read_after import APPLIED_SEQUENCE

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 20.0


class HubNode(Background):
    """A `heila serve` process in `folder`, using `nats` for its MQTT and every NATS URL given."""

    def __init__(
        self,
        folder: Path,
        nats: NatsNode,
        servers: list[str],
        tokens: Mapping[str, str],
        login: tuple[str, str] | None = None,
        cluster: str = "",
        administrators: Collection[str] = (),
    ) -> None:
        """`login`: the hub's user name and password on NATS, when NATS asks for one;
        `cluster`: more lines for the [cluster] table; `administrators`: the actors among
        `tokens` that may change the registry."""
        self.folder = folder
        self._choose_port()
        self.tokens = dict(tokens)
        folder.mkdir(parents=True, exist_ok=True)
        if login is not None:
            servers = [server.replace("://", f"://{login[0]}:{login[1]}@") for server in servers]
        lines = ["[cluster]", f"nats = {servers!r}".replace("'", '"'), cluster]
        lines += ["[mqtt]", f'url = "{nats.mqtt_url}"', f'client_id = "heila-hub-{self.port}"']
        if login is not None:
            lines += [f'username = "{login[0]}"', f'password = "{login[1]}"']
        for actor, token in tokens.items():
            lines += [f"[actors.{actor}]", f'token_hash = "{hash_token(token)}"']
            lines += ["admin = true"] if actor in administrators else []
        self._config = folder / "hub.toml"
        self._config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._process: subprocess.Popen[bytes] | None = None

    def _choose_port(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def auth(self, actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[actor]}"}

    def start(self, reaching_the_log: bool = True) -> None:
        """Start the process; return once it serves and, with `reaching_the_log`, reads the log.
        Another program that takes its port first makes it start again on another."""
        for _attempt in range(ATTEMPTS):
            command = [
                sys.executable,
                "-m",
                "hub.commands.cli",
                "serve",
                "--config",
                str(self._config),
            ]
            command += ["--port", str(self.port), "--store", str(self.folder / "store")]
            launched = Launched(
                [*command, "--log-level", "warning"],
                self.folder / "hub.log",
                {"PYTHONUNBUFFERED": "1"},
            )
            if launched.ready(lambda _said: self._ready(reaching_the_log), _START_TIMEOUT):
                self._process = launched.process
                return
            if not launched.port_taken():
                raise RuntimeError(f"heila serve did not start: {launched.said()}")
            self._choose_port()
        raise RuntimeError(f"heila serve: its port was taken {ATTEMPTS} times")

    def log(self) -> str:
        return (self.folder / "hub.log").read_text(encoding="utf-8", errors="replace")

    def _ready(self, reaching_the_log: bool) -> bool:
        try:
            answer = httpx.get(f"{self.url}/health", timeout=5)
        except httpx.HTTPError:
            return False
        reached = APPLIED_SEQUENCE in answer.headers
        return answer.status_code == 200 and (reached or not reaching_the_log)

    def stop(self) -> None:
        """Stop the node as an operator would (SIGTERM), waiting for it to finish."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
        self._process = None

    def kill(self) -> None:
        """Kill the node at once, as a crash would."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None
