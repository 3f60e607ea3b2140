"""`python -m actors.run`: one actor as a process, ready once it listens, stopped by signal."""

import signal
import subprocess
import sys
from pathlib import Path

from hub.mqtt.broker import Mosquitto


def start(*arguments: str) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, "-m", "actors.run", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_actor_says_ready_once_it_listens_and_stops_on_sigterm(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    token = tmp_path / "fmp.token"
    token.write_text("a-token")
    actor = start("fmp", "--mqtt", mosquitto.url, "--token-file", str(token))
    assert actor.stdout is not None
    assert actor.stdout.readline() == "ready\n"
    actor.send_signal(signal.SIGTERM)
    assert actor.wait(timeout=10) == 0


def test_a_missing_token_file_is_a_one_line_error(tmp_path: Path) -> None:
    actor = start("ams", "--token-file", str(tmp_path / "absent.token"))
    _, errors = actor.communicate(timeout=10)
    assert actor.returncode == 2
    assert errors.strip().splitlines() == [
        "ams: cannot read the token file: No such file or directory"
    ]
