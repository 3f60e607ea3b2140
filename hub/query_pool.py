"""The pool of query workers that answers /sparql and the named queries, within bounds.

Each query runs in a worker process (hub.query_worker) holding its own copy of the store, so the
hub can stop it: a query that overstays `timeout`, or whose worker grows more than `memory_bytes`
while it runs, is ended by killing its worker, and a fresh one takes its place. The hub's own
process never evaluates a client's query, so no query can end it, fill its memory or hold the
threads that writes and /health need.

At most `workers` queries run at once (one by default: on two cores the other stays for writes),
at most `max_waiting` more wait for a worker, and the rest are told at once that the hub is busy.
Workers start on the first query and stop after `idle_seconds` without one, so a hub nobody
queries spends nothing on them; while a worker lives, every commit is copied to it.
"""

import asyncio
import concurrent.futures
import logging
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph as ox

from hub.errors import HubError, ParseError, QueryRefused
from hub.query_worker import Answer, Query, Refusal, Trial, Tried, receive, send
from hub.store import QueryLimits

log = logging.getLogger(__name__)

_WATCH_INTERVAL = 0.02
_GRACE = 0.5
"""How long past its timeout a query may take to say so itself before its worker is killed."""
_START_TIMEOUT = 60.0
_CLOSE = object()

Change = tuple[str, Any]
"""A committed write: ("quads", [Quad, ...] or N-Quads bytes) added, or ("update", SPARQL Update
text)."""
Snapshot = tuple[str, Any]
"""A store's state: ("checkpoint", directory) or ("quads", N-Quads bytes)."""


class Source(Protocol):
    """A store that can hand out a snapshot and then every change made after it."""

    def follow(self, listener: Callable[[Change], None]) -> Snapshot: ...

    def unfollow(self, listener: Callable[[Change], None]) -> None: ...


class QueryStopped(HubError):
    """A query was not answered: too slow, too large, or the hub too busy. `rule` says which."""

    def __init__(self, rule: str, text: str) -> None:
        self.rule = rule
        super().__init__(text)


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * 4096
    except (OSError, IndexError, ValueError):
        return 0


class Worker:
    """One worker process: its pipes, the query it runs, and the writes on their way to it."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hub.query_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._outbound: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._opening = threading.Lock()
        self._early: list[Change] | None = []
        """Changes told before the snapshot was sent; None once it is."""
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._pending: concurrent.futures.Future[Answer | Tried | Refusal] | None = None
        self._stopped_for: QueryStopped | None = None
        self._checkpoint: Path | None = None
        self.started = 0.0
        """When the running query was handed over (monotonic), 0 when idle."""
        self.memory_at_start = 0
        self.last_used = time.monotonic()
        threading.Thread(target=self._read, name="query-worker-out", daemon=True).start()
        threading.Thread(target=self._write, name="query-worker-in", daemon=True).start()

    def open(self) -> None:
        """Hand the worker a snapshot of the store and, from then on, every commit.

        The store tells changes from before its snapshot is taken; they wait here until the
        snapshot is on its way, since the worker's first frame must be the snapshot."""
        snapshot = self._source.follow(self._copy)
        if snapshot[0] == "checkpoint":
            self._checkpoint = Path(snapshot[1])
        with self._opening:
            self._send(snapshot)
            for change in self._early or ():
                self._send(change)
            self._early = None
        self._ready.result(_START_TIMEOUT)

    def ask(self, query: Query | Trial) -> "concurrent.futures.Future[Answer | Tried | Refusal]":
        self._pending = concurrent.futures.Future()
        self.memory_at_start = _resident_bytes(self._process.pid)
        self.started = time.monotonic()
        self._send(query)
        return self._pending

    def done(self) -> None:
        self._pending, self.started, self.last_used = None, 0.0, time.monotonic()

    def memory_grown(self) -> int:
        return _resident_bytes(self._process.pid) - self.memory_at_start

    def stop(self, reason: QueryStopped | None = None) -> None:
        """Kill the process (a query in it fails with `reason`) and let go of its copy."""
        self._stopped_for = reason
        self._source.unfollow(self._copy)
        self._outbound.put(_CLOSE)
        self._process.kill()
        self._process.wait()
        if self._checkpoint is not None:
            shutil.rmtree(self._checkpoint, ignore_errors=True)

    def close(self) -> None:
        """Let the worker finish and remove its copy itself; kill it if it does not."""
        self._source.unfollow(self._copy)
        self._outbound.put(_CLOSE)
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self.stop()

    def _copy(self, change: Change) -> None:
        """Called by the store under its write lock: queue the change, write it later."""
        with self._opening:
            if self._early is not None:
                self._early.append(change)
            else:
                self._outbound.put(change)

    def _send(self, frame: Any) -> None:
        self._outbound.put(frame)

    def _write(self) -> None:
        """Write queued frames in order: the store's changes become N-Quads here, off the
        write path."""
        stdin = self._process.stdin
        assert stdin is not None
        try:
            while (frame := self._outbound.get()) is not _CLOSE:
                if isinstance(frame, tuple) and frame[0] == "quads" and isinstance(frame[1], list):
                    frame = ("quads", ox.serialize(frame[1], format=ox.RdfFormat.N_QUADS) or b"")
                send(stdin, frame)  # type: ignore[arg-type]
            stdin.close()
        except (BrokenPipeError, ValueError, OSError):  # the worker is gone; its reader says why
            pass

    def _read(self) -> None:
        assert self._process.stdout is not None
        stdout = self._process.stdout
        try:
            if receive(stdout) == "ready":  # type: ignore[arg-type]
                self._ready.set_result(None)
            while True:
                outcome = receive(stdout)  # type: ignore[arg-type]
                if self._pending is not None and not self._pending.done():
                    self._pending.set_result(outcome)
        except (EOFError, OSError):
            gone = self._stopped_for or QueryStopped(
                "worker", "the query ended the worker that ran it and got no answer"
            )
            for waiting in (self._ready, self._pending):
                if waiting is not None and not waiting.done():
                    waiting.set_exception(gone)


class QueryPool:
    """Runs queries in worker processes, one query per worker at a time, within the limits."""

    def __init__(self, source: Source, limits: QueryLimits) -> None:
        self._source = source
        self.limits = limits
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting = 0
        self._admitted = 0
        self._closed = False
        self._callers = concurrent.futures.ThreadPoolExecutor(
            limits.workers + limits.max_waiting, thread_name_prefix="query-caller"
        )
        self._watch = threading.Thread(target=self._watch_workers, name="query-watch", daemon=True)

    async def run(self, query: Query) -> Answer | Refusal:
        """The worker's answer or refusal; QueryStopped when the limits end it first."""
        if self._admitted >= self.limits.workers + self.limits.max_waiting:
            raise QueryStopped(
                "busy", f"{self._admitted} queries are running or waiting; ask again later"
            )
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self._callers, self._run, query)
        finally:
            self._admitted -= 1
        assert not isinstance(outcome, Tried)
        return outcome

    def try_update(self, quads: list[ox.Quad], update: str) -> list[ox.Quad]:
        """What the update leaves of these quads, worked out in a worker within the query
        limits, so that no update can hold the hub; ParseError or QueryRefused when it fails."""
        nquads = ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""
        outcome = self._run(Trial(nquads, update, self.limits.timeout))
        if isinstance(outcome, Refusal):
            if outcome.kind == "parse":
                raise ParseError(outcome.text, outcome.line, outcome.column)
            raise QueryRefused(outcome.text)
        assert isinstance(outcome, Tried)
        return list(ox.parse(outcome.quads, ox.RdfFormat.N_QUADS))

    def _run(self, query: Query | Trial) -> Answer | Tried | Refusal:
        deadline = time.monotonic() + query.timeout
        worker = self._acquire(deadline)
        try:
            outcome = worker.ask(query).result(max(0.0, deadline - time.monotonic()) + _GRACE)
        except concurrent.futures.TimeoutError:
            self._discard(worker)
            raise QueryStopped(
                "timeout", f"it ran longer than {query.timeout:g} s and was stopped"
            ) from None
        except QueryStopped:
            self._discard(worker)
            raise
        self._release(worker)
        return outcome

    def _acquire(self, deadline: float) -> Worker:
        """An idle worker, or a new one while there are fewer than `workers`; waits for one to
        be freed until the deadline."""
        with self._lock:
            while not self._idle:
                if self._closed:
                    raise QueryStopped("busy", "the hub is stopping")
                if len(self._busy) + self._starting < self.limits.workers:
                    self._starting += 1
                    if self._watch.ident is None:  # started with the first worker, not before
                        self._watch.start()
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryStopped("busy", "every query worker stayed busy for the timeout")
                self._freed.wait(remaining)
            else:
                worker = self._idle.pop()
                self._busy.add(worker)
                return worker
        try:
            worker = Worker(self._source)
            worker.open()
        finally:
            with self._lock:
                self._starting -= 1
                self._freed.notify()
        with self._lock:
            self._busy.add(worker)
        return worker

    def _release(self, worker: Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            worker.done()
            self._idle.append(worker)
            self._freed.notify()

    def _discard(self, worker: Worker) -> None:
        worker.stop()
        with self._lock:
            self._busy.discard(worker)
            self._freed.notify()

    def _watch_workers(self) -> None:
        """Stop a worker whose query grows past the memory bound; retire idle ones."""
        while not self._closed:
            time.sleep(_WATCH_INTERVAL)
            with self._lock:
                busy = [w for w in self._busy if w.started]
                now = time.monotonic()
                retired = [w for w in self._idle if now - w.last_used > self.limits.idle_seconds]
                self._idle = [w for w in self._idle if w not in retired]
            for worker in busy:
                if worker.memory_grown() > self.limits.memory_bytes:
                    worker.stop(
                        QueryStopped(
                            "memory",
                            f"it needed more than {self.limits.memory_bytes >> 20} MiB "
                            "and was stopped",
                        )
                    )
            for worker in retired:
                worker.close()

    def close(self) -> None:
        """Stop every worker; queries still waiting are told the hub is stopping."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
            self._freed.notify_all()
        for worker in workers:
            worker.close()
        self._callers.shutdown(wait=False, cancel_futures=True)
