"""A query worker: a process of its own that answers SPARQL queries from its own copy of the store,
and tries updates on copies of the graphs they name.

Oxigraph cannot stop a query once it runs, nor bound its memory: a sort over a cartesian product
runs on until it is done or the machine's memory is gone. Run in the hub, such a query would hold
a thread, starve the write path, or end the process. Run here, the hub kills the process when it
overstays its time or its memory (hub.storage.query_pool), and starts another.

The copy starts as a checkpoint of the store on disk (hard links, so cheap) or, for a store in
memory, as its quads; then every write the hub commits arrives on stdin, in commit order. Queries
come on a socket of their own, each with the number of writes the hub had handed over when it
was asked: the worker answers once it has applied that many, so a query always sees every write
acknowledged before it, and the hub can ask straight from its event loop, no thread between
(hub.storage.worker_channel).

Frames are pickles with a length before them (`framed`, `send`, `receive`); both ends are the
hub's own code.
"""

import os
import pickle
import shutil
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyoxigraph as ox

from hub.storage import results
from hub.storage.results import Answer

_LENGTH = struct.Struct("!Q")


class _Pieces(list[Any]):
    """What a pickler writes, kept as the pieces it writes: a large bytes value (an answer's
    body, a batch of N-Quads) comes as itself, not copied into a growing pickle. Built whole,
    the pickle of half a megabyte took 0.46 ms, as its buffer grew; in pieces, 5 µs."""

    write = list.append


def _pieces(frame: Any) -> list[Any]:
    """A frame as it goes over a pipe or socket, in pieces: its length, then its pickle."""
    pieces = _Pieces()
    pickle.dump(frame, pieces, protocol=pickle.HIGHEST_PROTOCOL)
    return [_LENGTH.pack(sum(len(piece) for piece in pieces)), *pieces]


def framed(frame: Any) -> bytes:
    """A frame as it goes over a pipe or socket: its length, then its pickle."""
    return b"".join(_pieces(frame))


def length_of(head: bytes | bytearray | memoryview) -> int:
    """The length of the frame that `head` (its first LENGTH_BYTES bytes) begins."""
    return int(_LENGTH.unpack(head)[0])


LENGTH_BYTES = _LENGTH.size


def send(stream: BinaryIO, frame: Any) -> None:
    """Write one frame, piece by piece, and flush it."""
    stream.writelines(_pieces(frame))
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next frame; EOFError when the other end has closed."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    size = length_of(head)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


@dataclass(frozen=True)
class Query:
    """What the hub asks: the text, its dataset, the client's Accept header and the limits."""

    sparql: str
    default_graphs: tuple[str, ...]
    named_graphs: tuple[str, ...]
    accept: str
    result_limit: int
    timeout: float


@dataclass(frozen=True)
class Trial:
    """A SPARQL Update to try on a copy of the graphs it names (as N-Quads), for the hub to
    validate what it would leave before committing it."""

    quads: bytes
    update: str
    timeout: float


@dataclass(frozen=True)
class Tried:
    """What a tried update left of the graphs, as N-Quads."""

    quads: bytes


@dataclass(frozen=True)
class Refusal:
    """Why a query got no answer: `kind` is parse, refused, timeout or not-acceptable."""

    kind: str
    text: str
    line: int | None = None
    column: int | None = None
    offered: tuple[str, ...] = ()


def evaluate(store: ox.Store, query: Query, *, bounded: bool = False) -> Answer | Refusal:
    """Run one query and write its answer, or say why not; `bounded` when the text itself
    keeps its rows within one past the result limit (hub.storage.results.answer)."""
    deadline = time.monotonic() + query.timeout
    options: dict[str, Any] = {}
    if query.default_graphs:
        options["default_graph"] = [ox.NamedNode(uri) for uri in query.default_graphs]
    elif query.named_graphs:
        options["default_graph"] = []
    else:
        options["use_default_graph_as_union"] = True
    if query.named_graphs:
        options["named_graphs"] = [ox.NamedNode(uri) for uri in query.named_graphs]
    try:
        answer = results.answer(
            lambda: store.query(query.sparql, **options),
            query.accept,
            query.result_limit,
            deadline,
            bounded=bounded,
        )
    except SyntaxError as error:
        return Refusal("parse", *results.syntax_error_position(error))
    except OSError as error:
        return Refusal("refused", str(error))
    except results.NotAcceptable as error:
        return Refusal("not-acceptable", str(error), offered=error.offered)
    if answer is None:
        return Refusal("timeout", f"the query ran longer than {query.timeout:g} s")
    return answer


def attempt(trial: Trial) -> Tried | Refusal:
    """Run the update on a store of its graphs alone and answer what it leaves."""
    copy = ox.Store()
    copy.extend(ox.parse(trial.quads, ox.RdfFormat.N_QUADS))
    try:
        copy.update(trial.update)
    except SyntaxError as error:
        return Refusal("parse", *results.syntax_error_position(error))
    except OSError as error:  # e.g. an allowed SERVICE that does not answer
        return Refusal("refused", str(error))
    return Tried(copy.dump(format=ox.RdfFormat.N_QUADS) or b"")


def _open(frame: tuple[str, Any]) -> ox.Store:
    kind, source = frame
    if kind == "checkpoint":
        return ox.Store(source)
    store = ox.Store()
    store.bulk_extend(ox.parse(source, ox.RdfFormat.N_QUADS))
    return store


def _apply(store: ox.Store, kind: str, change: Any) -> None:
    if kind == "quads":
        store.extend(ox.parse(change, ox.RdfFormat.N_QUADS))
    else:
        store.update(change)


class _Applied:
    """How many of the hub's writes the copy holds; a query waits here for those it must see."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def one_more(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._count >= count)


def _answer(store: ox.Store, applied: _Applied, channel: socket.socket) -> None:
    """Answer each query or trial once the writes told before it are applied."""
    asked, answers = channel.makefile("rb"), channel.makefile("wb")
    try:
        while True:
            after, item = receive(asked)
            applied.wait_for(after)
            send(answers, evaluate(store, item) if isinstance(item, Query) else attempt(item))
    except (EOFError, OSError):  # the hub closed the socket: no more queries
        pass


def main(channel_fd: int) -> int:
    """Open the copy, say ready, then apply writes until stdin closes while another thread
    answers queries from the socket."""
    inbound = sys.stdin.buffer
    channel = socket.socket(fileno=channel_fd)
    opened = receive(inbound)
    store = _open(opened)
    channel.sendall(framed("ready"))
    applied = _Applied()
    answering = threading.Thread(target=_answer, args=(store, applied, channel), daemon=True)
    answering.start()
    try:
        while True:
            _apply(store, *receive(inbound))
            applied.one_more()
    except EOFError:
        pass
    answering.join()
    del store
    if opened[0] == "checkpoint":
        shutil.rmtree(opened[1], ignore_errors=True)
    return 0


if __name__ == "__main__":
    from hub.storage import (
        query_worker,  # frames carry this module's classes by their importable name
    )

    os.nice(10)  # queries give way to the hub's write path when the cores are busy
    sys.exit(query_worker.main(int(sys.argv[1])))
