"""The pool of query workers that answers /sparql and the named queries, within bounds.

Each query runs in a worker process (hub.storage.query_worker) holding its own copy of the store, so
the hub can stop it: a query that overstays `timeout`, or whose worker grows more than
`memory_bytes` while it runs, is ended by killing its worker, and a fresh one takes its place. The
hub's own process evaluates no client's query but a lookup of one subject, whose form bounds its
rows and time (hub.storage.subject_lookup), so no query can end it, fill its memory or hold the
threads that writes and /health need.

At most `workers` queries run at once (one by default: on two cores the other stays for writes),
at most `max_waiting` more wait for a worker, and the rest are told at once that the hub is busy.
Workers start on the first query and stop after `idle_seconds` without one, so a hub nobody
queries spends nothing on them; while a worker lives, every commit is copied to it.
"""

import asyncio
import concurrent.futures
import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph as ox

from hub.model.errors import HubError, ParseError, QueryRefused
from hub.storage.query_worker import Query, Refusal, Trial, Tried, framed, send
from hub.storage.results import Answer
from hub.storage.store import QueryLimits
from hub.storage.worker_channel import Channel

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
    """A store that can hand out a snapshot and then every change made after it, and answer a
    lookup of one subject itself (None for any other query)."""

    def follow(self, listener: Callable[[Change], None]) -> Snapshot: ...

    def unfollow(self, listener: Callable[[Change], None]) -> None: ...

    def look_up(self, query: Query) -> Answer | Refusal | None: ...


class QueryStopped(HubError):
    """A query was not answered: too slow, too large, or the hub too busy. `rule` says which."""

    def __init__(self, rule: str, text: str) -> None:
        self.rule = rule
        super().__init__(text)


class _Resident:
    """A process's resident memory, read from /proc; the file stays open, since a query's
    start reads it and one read is cheaper than an open, a read and a close."""

    def __init__(self, pid: int) -> None:
        try:
            self._statm: int | None = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        except OSError:
            self._statm = None

    def bytes(self) -> int:
        if self._statm is None:
            return 0
        try:
            return int(os.pread(self._statm, 128, 0).split()[1]) * 4096
        except (OSError, IndexError, ValueError):
            return 0

    def close(self) -> None:
        statm, self._statm = self._statm, None
        if statm is not None:
            os.close(statm)


class Worker:
    """One worker process: the socket its queries and answers take, the query it runs, and the
    writes on their way to it over its stdin."""

    def __init__(self, source: Source, home: asyncio.AbstractEventLoop | None) -> None:
        self._source = source
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "hub.storage.query_worker", str(theirs.fileno())],
                stdin=subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
            )
        self._channel = Channel(ours, home)
        self._resident = _Resident(self._process.pid)
        self._outbound: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._opening = threading.Lock()
        self._early: list[Change] | None = []
        """Changes told before the snapshot was sent; None once it is."""
        self._told = 0
        """Changes handed to the worker so far: a query asked now waits for that many."""
        self._ready = False
        self._stopped_for: QueryStopped | None = None
        self._checkpoint: Path | None = None
        self.started = 0.0
        """When the running query was handed over (monotonic), 0 when idle."""
        self.memory_at_start = 0
        self.last_used = time.monotonic()
        threading.Thread(target=self._write, name="query-worker-in", daemon=True).start()

    def open(self) -> None:
        """Hand the worker a snapshot of the store and, from then on, every commit. It blocks
        while the store takes its snapshot: call it off the event loop.

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

    async def ready(self) -> None:
        """Wait until the worker has opened its copy of the store (at once, after its start)."""
        if self._ready:
            return
        with self._unless_gone():
            async with asyncio.timeout(_START_TIMEOUT):
                await self._channel.ask()
        self._ready = True

    async def ask(self, query: Query | Trial) -> Answer | Tried | Refusal:
        """The worker's outcome; QueryStopped when the worker ends first."""
        self.memory_at_start = self._resident.bytes()
        self.started = time.monotonic()
        with self._unless_gone():
            outcome: Answer | Tried | Refusal = await self._channel.ask(framed((self._told, query)))
        return outcome

    @contextmanager
    def _unless_gone(self) -> Iterator[None]:
        """Turn the end of the worker's socket (or a start that timed out) into QueryStopped."""
        try:
            yield
        except (EOFError, OSError):
            raise self._stopped_for or QueryStopped(
                "worker", "the query ended the worker that ran it and got no answer"
            ) from None

    def done(self) -> None:
        self.started, self.last_used = 0.0, time.monotonic()

    def memory_grown(self) -> int:
        return self._resident.bytes() - self.memory_at_start

    def kill(self, reason: QueryStopped) -> None:
        """End the process: the query in it fails with `reason`."""
        self._stopped_for = reason
        self._process.kill()

    def stop(self) -> None:
        """Kill the process and let go of its socket and its copy."""
        self._process.kill()
        self._let_go(None)

    def close(self) -> None:
        """Let the worker finish and remove its copy itself; kill it if it does not."""
        self._channel.shutdown()
        self._let_go(5)

    def _let_go(self, grace: float | None) -> None:
        """Stop copying writes, close stdin after those queued, and wait `grace` seconds (None:
        as long as it takes) for the process to end before killing it."""
        self._source.unfollow(self._copy)
        self._outbound.put(_CLOSE)
        try:
            self._process.wait(grace)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._channel.close()
        self._resident.close()
        if self._checkpoint is not None:
            shutil.rmtree(self._checkpoint, ignore_errors=True)

    def _copy(self, change: Change) -> None:
        """Called by the store under its write lock: queue the change, write it later."""
        with self._opening:
            self._told += 1
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
        except (BrokenPipeError, ValueError, OSError):  # the worker is gone; its socket says why
            pass


class QueryPool:
    """Runs queries in worker processes, one query per worker at a time, within the limits.

    A query that finds a worker idle is handed over and answered on the event loop; one that
    has to wait for a worker, or for one to start, waits in a thread of its own. Once the pool
    has a home loop (`serve_on`), its workers' channels are watched there, and a query asked on
    another loop, such as an update's trial, is run on the home loop while that runs."""

    def __init__(self, source: Source, limits: QueryLimits) -> None:
        self._source = source
        self.limits = limits
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting = 0
        self._waiting = 0
        self._admitted = 0
        self._closed = False
        self._home: asyncio.AbstractEventLoop | None = None
        self._callers = concurrent.futures.ThreadPoolExecutor(
            limits.workers + limits.max_waiting, thread_name_prefix="query-caller"
        )
        self._watch = threading.Thread(target=self._watch_workers, name="query-watch", daemon=True)

    def serve_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make `loop`, the one that serves requests, the home of the workers started from now
        on (call it before the first query): theirs are the cheapest round trips."""
        self._home = loop

    async def run(self, query: Query) -> Answer | Refusal:
        """The answer or refusal, from the store itself for a lookup of one subject and from a
        worker for any other query; QueryStopped when the limits end it first."""
        looked_up = self._source.look_up(query)
        if looked_up is not None:
            return looked_up
        if self._admitted >= self.limits.workers + self.limits.max_waiting:
            raise QueryStopped(
                "busy", f"{self._admitted} queries are running or waiting; ask again later"
            )
        self._admitted += 1
        try:
            outcome = await self._run(query)
        finally:
            self._admitted -= 1
        assert not isinstance(outcome, Tried)
        return outcome

    def try_update(self, quads: list[ox.Quad], update: str) -> list[ox.Quad]:
        """What the update leaves of these quads, worked out in a worker within the query
        limits, so that no update can hold the hub; ParseError or QueryRefused when it fails.
        Called from a thread without an event loop (updates run in the thread pool)."""
        nquads = ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""
        outcome = asyncio.run(self._run(Trial(nquads, update, self.limits.timeout)))
        if isinstance(outcome, Refusal):
            if outcome.kind == "parse":
                raise ParseError(outcome.text, outcome.line, outcome.column)
            raise QueryRefused(outcome.text)
        assert isinstance(outcome, Tried)
        return list(ox.parse(outcome.quads, ox.RdfFormat.N_QUADS))

    async def _run(self, query: Query | Trial) -> Answer | Tried | Refusal:
        """The outcome, asked from the home loop when that runs and is not this one, since the
        workers' channels are watched there."""
        home = self._home
        if home is not None and home.is_running() and home is not asyncio.get_running_loop():
            return await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(self._run_here(query), home)
            )
        return await self._run_here(query)

    async def _run_here(self, query: Query | Trial) -> Answer | Tried | Refusal:
        deadline = time.monotonic() + query.timeout
        worker = self._idle_worker() or await self._worker_when_free(deadline)
        try:
            await worker.ready()
            async with asyncio.timeout(max(0.0, deadline - time.monotonic()) + _GRACE):
                outcome = await worker.ask(query)
        except TimeoutError:
            self._discard(worker)
            raise QueryStopped(
                "timeout", f"it ran longer than {query.timeout:g} s and was stopped"
            ) from None
        except BaseException:  # stopped by a limit, or the request went away: never reused
            self._discard(worker)
            raise
        self._release(worker)
        return outcome

    async def _worker_when_free(self, deadline: float) -> Worker:
        """A worker from a thread that waits for one to be freed or starts one. Should the
        query go away meanwhile, the worker the thread gets goes back to the pool."""
        acquiring = self._callers.submit(self._acquire, deadline)
        try:
            return await asyncio.wrap_future(acquiring)
        except asyncio.CancelledError:
            acquiring.add_done_callback(self._release_unused)
            raise

    def _release_unused(self, acquired: "concurrent.futures.Future[Worker]") -> None:
        if not acquired.cancelled() and acquired.exception() is None:
            self._release(acquired.result())

    def _idle_worker(self) -> Worker | None:
        """An idle worker, taken at once, unless other queries wait for one."""
        with self._lock:
            if not self._idle or self._waiting or self._closed:
                return None
            worker = self._idle.pop()
            self._busy.add(worker)
            return worker

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
                self._waiting += 1
                try:
                    self._freed.wait(remaining)
                finally:
                    self._waiting -= 1
            else:
                worker = self._idle.pop()
                self._busy.add(worker)
                return worker
        try:
            worker = Worker(self._source, self._home)
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
                    worker.kill(
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
