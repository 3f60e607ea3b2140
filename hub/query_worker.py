"""A query worker: a process of its own that answers SPARQL queries from its own copy of the store,
and tries updates on copies of the graphs they name.

Oxigraph cannot stop a query once it runs, nor bound its memory: a sort over a cartesian product
runs on until it is done or the machine's memory is gone. Run in the hub, such a query would hold
a thread, starve the write path, or end the process. Run here, the hub kills the process when it
overstays its time or its memory (hub.query_pool), and starts another.

The copy starts as a checkpoint of the store on disk (hard links, so cheap) or, for a store in
memory, as its quads; then every write the hub commits arrives on the same pipe as the queries, in
commit order, so a query always sees every write acknowledged before it was asked.

Frames on stdin and stdout are pickles with a length before them (`send`, `receive`); both ends
are the hub's own code.
"""

import os
import pickle
import queue
import shutil
import struct
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyoxigraph as ox

from hub import results
from hub.results import Answer

_LENGTH = struct.Struct("!Q")


def send(stream: BinaryIO, frame: Any) -> None:
    """Write one frame and flush it."""
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next frame; EOFError when the other end has closed."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError
    size = _LENGTH.unpack(head)[0]
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


def evaluate(store: ox.Store, query: Query) -> Answer | Refusal:
    """Run one query and write its answer, or say why not."""
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


def _answer(store: ox.Store, asked: "queue.Queue[Query | Trial | None]", out: BinaryIO) -> None:
    while (item := asked.get()) is not None:
        send(out, evaluate(store, item) if isinstance(item, Query) else attempt(item))


def main() -> int:
    """Open the copy, say ready, then apply writes and answer queries until stdin closes."""
    inbound, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames goes to the hub's pipe
    opened = receive(inbound)
    store = _open(opened)
    send(out, "ready")
    asked: queue.Queue[Query | Trial | None] = queue.Queue()
    answering = threading.Thread(target=_answer, args=(store, asked, out), daemon=True)
    answering.start()
    try:
        while True:
            frame = receive(inbound)
            if isinstance(frame, Query | Trial):
                asked.put(frame)
            else:
                _apply(store, *frame)
    except EOFError:
        pass
    asked.put(None)
    answering.join()
    del store
    if opened[0] == "checkpoint":
        shutil.rmtree(opened[1], ignore_errors=True)
    return 0


if __name__ == "__main__":
    from hub import query_worker  # frames carry this module's classes by their importable name

    os.nice(10)  # queries give way to the hub's write path when the cores are busy
    sys.exit(query_worker.main())
