"""Programs that tests and benchmarks start on free ports (NATS servers, hub nodes).

A free port is only free when it is chosen: on a machine where other programs start servers
too, one of them can take it before ours listens there, and ours then exits. Each program
writes what it says to a log file, so that a start that failed tells why, and a port taken
meanwhile can be told from any other failure and chosen again.
"""

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

PORT_TAKEN = "address already in use"
ATTEMPTS = 5
"""Starts a program gets, each on ports chosen anew, before a taken port is an error."""


class Launched:
    """A program running with its output appended to `log`."""

    def __init__(self, command: list[str], log: Path, environment: Mapping[str, str]) -> None:
        self._log = log
        self._since = log.stat().st_size if log.exists() else 0
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **environment},
            )

    def said(self) -> str:
        """What the program wrote since it was launched."""
        with self._log.open("rb") as log:
            log.seek(self._since)
            return log.read().decode("utf-8", errors="replace")

    def ready(self, ready: Callable[[str], bool], timeout: float) -> bool:
        """True once `ready(what it said)`; False when it exits first or after `timeout`
        seconds, and then it is killed."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            if ready(self.said()):
                return True
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        return False

    def port_taken(self) -> bool:
        return PORT_TAKEN in self.said().lower()


def last_line(said: str) -> str:
    lines = said.strip().splitlines()
    return lines[-1] if lines else "nothing"
