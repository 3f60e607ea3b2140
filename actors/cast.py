"""The processes a demo starts, and the one way to stop them: latest first, none left behind.

Each process runs in a session of its own, so a Ctrl-C at the terminal reaches only the demo,
which then stops its cast in order. Its stderr goes to a log file of its own; its stdout is
watched for the line `ready` that an actor prints once it listens.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_STOP_TIMEOUT = 10.0
_POLL = 0.1


class Stalled(Exception):
    """What was awaited did not happen: a process ended, or time ran out."""


@dataclass
class Process:
    name: str
    popen: "subprocess.Popen[str]"
    ready: threading.Event = field(default_factory=threading.Event)

    def watch_for_ready(self) -> None:
        """Set `ready` when the process prints `ready`."""

        def read(stream: IO[str]) -> None:
            for line in stream:
                if line.strip() == "ready":
                    self.ready.set()

        assert self.popen.stdout is not None
        threading.Thread(target=read, args=(self.popen.stdout,), daemon=True).start()


class Cast:
    """Python processes started in order, logging to files in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[Process] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        """Run `python COMMAND...` as `name`; `env` adds to this process's environment."""
        with (self.folder / f"{name}.log").open("w") as log:
            popen = subprocess.Popen(
                [sys.executable, *command],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        process = Process(name, popen)
        self.processes.append(process)
        process.watch_for_ready()
        return process

    def wait_until(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        """Poll `condition` until it holds; Stalled when a process ended or time ran out."""
        deadline = time.monotonic() + timeout
        while not condition():
            ended = next((p for p in self.processes if p.popen.poll() is not None), None)
            if ended is not None:
                raise Stalled(f"{ended.name} stopped while waiting for {what}")
            if time.monotonic() > deadline:
                raise Stalled(f"no {what} within {timeout:g} s")
            time.sleep(_POLL)

    def stop(self, keep: int = 0) -> None:
        """Interrupt every process but the first `keep`, latest first; kill what lingers."""
        stopping = self.processes[keep:][::-1]
        for process in stopping:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGINT)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for process in stopping:
            try:
                process.popen.wait(max(_POLL, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        del self.processes[keep:]
