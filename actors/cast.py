"""The processes a demo starts, and the one way to stop them: latest first, none left behind.

Each process runs in a session of its own, so a Ctrl-C at the terminal reaches only the demo,
which then stops its cast in order. Its stderr goes to a log file of its own; its stdout is
watched for the line `ready` that an actor prints once it listens.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
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

    def end_session(self) -> None:
        """Kill whatever the process left in its session (the hub's Mosquitto and query
        workers, when the hub was killed or stopped mid-start) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()


@contextlib.contextmanager
def stop_signals_to(handler: Callable[[int, Any], None] | signal.Handlers) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` while the block runs (main thread only)."""
    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handling in previous.items():
            signal.signal(number, handling)


class Cast:
    """Python processes started in order, logging to files in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[Process] = []

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        """Run `python COMMAND...` as `name`; `env` adds to this process's environment.

        A stop signal that comes while the process is being started waits until it is in the
        cast: raised inside Popen, it would leave a child that no one stops."""
        held: list[int] = []
        with (
            (self.folder / f"{name}.log").open("w") as log,
            stop_signals_to(lambda number, _frame: held.append(number)),
        ):
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
        if held:
            signal.raise_signal(held[0])
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
        """Interrupt every process but the first `keep`, latest first, give them
        _STOP_TIMEOUT to end, then kill what is left of each session. Stop signals meanwhile
        are ignored: the stop is what they ask for, and cut short it would leave processes."""
        with stop_signals_to(signal.SIG_IGN):
            stopping = self.processes[keep:][::-1]
            for process in stopping:
                if process.popen.poll() is None:
                    process.popen.send_signal(signal.SIGINT)
            deadline = time.monotonic() + _STOP_TIMEOUT
            for process in stopping:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(max(_POLL, deadline - time.monotonic()))
                process.end_session()
            del self.processes[keep:]
