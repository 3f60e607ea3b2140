"""The query pool's workers and their copies of the store, with real worker processes."""

import asyncio
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from hub.model.message import Message
from hub.model.vocabulary import MESSAGE
from hub.storage.query_pool import QueryPool
from hub.storage.query_worker import Answer, Query, Refusal, framed, receive, send
from hub.storage.store import OxigraphStore, open_store


class WrittenWhileFollowing:
    """A store that commits a message after listening starts and before its snapshot is taken,
    as a write from another thread can."""

    def __init__(self, store: OxigraphStore, message: Message) -> None:
        self._store = store
        self._message = message

    def follow(self, listener: Callable[[tuple[str, Any]], None]) -> tuple[str, Any]:
        snapshot = self._store.follow(listener)
        self._store.put(self._message)
        return snapshot

    def unfollow(self, listener: Callable[[tuple[str, Any]], None]) -> None:
        self._store.unfollow(listener)

    def look_up(self, query: Query) -> Answer | Refusal | None:
        return self._store.look_up(query)


def _query(sparql: str) -> Query:
    return Query(sparql, (), (), "application/sparql-results+json", 10_000, 10.0)


def _ask(pool: QueryPool, sparql: str) -> Any:
    outcome = asyncio.run(pool.run(_query(sparql)))
    assert isinstance(outcome, Answer)
    return json.loads(outcome.body)


@contextmanager
def _home_loop(pool: QueryPool) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop running in a thread of its own as the pool's home, as the server's loop is."""
    loop = asyncio.new_event_loop()
    pool.serve_on(loop)
    running = threading.Thread(target=loop.run_forever)
    running.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(pool.close)
        loop.call_soon_threadsafe(loop.stop)
        running.join()
        loop.close()


def _ask_at_home(loop: asyncio.AbstractEventLoop, pool: QueryPool, sparql: str) -> Any:
    outcome = asyncio.run_coroutine_threadsafe(pool.run(_query(sparql)), loop).result()
    assert isinstance(outcome, Answer)
    return json.loads(outcome.body)


def test_a_write_made_while_a_worker_opens_reaches_its_copy(tmp_path: Path, story):
    store = open_store(str(tmp_path / "store"))
    pool = QueryPool(WrittenWhileFollowing(store, story[0]), store.limits)
    try:
        answer = _ask(pool, f"ASK {{ GRAPH <{story[0].iri}> {{ ?s ?p ?o }} }}")
    finally:
        pool.close()
    assert answer["boolean"] is True


def test_a_query_sees_every_message_stored_before_it(tmp_path: Path, story):
    store = open_store(str(tmp_path / "store"))
    pool = QueryPool(store, store.limits)
    try:
        _ask(pool, "ASK {}")
        for message in story:
            store.put(message)
        rows = _ask(
            pool,
            f"SELECT ?m WHERE {{ GRAPH ?m {{ ?m a ?t }} FILTER(STRSTARTS(STR(?m), '{MESSAGE}')) }}",
        )
    finally:
        pool.close()
    assert len(rows["results"]["bindings"]) == len(story)


def test_queries_asked_on_the_home_loop_and_on_another_loop_each_get_their_own_answer(
    tmp_path: Path, story
):
    store = open_store(str(tmp_path / "store"))
    store.put(story[0])
    pool = QueryPool(store, store.limits)
    asked = f"ASK {{ GRAPH <{story[0].iri}> {{ ?s ?p ?o }} }}"
    with _home_loop(pool) as home:
        answers = [
            _ask_at_home(home, pool, asked)["boolean"],
            _ask(pool, asked)["boolean"],
            _ask_at_home(home, pool, "ASK { FILTER(false) }")["boolean"],
            _ask(pool, "ASK { FILTER(false) }")["boolean"],
        ]
    assert answers == [True, True, False, False]


def test_an_update_tried_from_a_thread_while_the_home_loop_serves_is_worked_out(
    tmp_path: Path, story
):
    store = open_store(str(tmp_path / "store"))
    pool = QueryPool(store, store.limits)
    quad = ox.Quad(
        ox.NamedNode("urn:s"), ox.NamedNode("urn:p"), ox.Literal("o"), ox.NamedNode("urn:g")
    )
    with _home_loop(pool) as home:
        _ask_at_home(home, pool, "ASK {}")
        left = pool.try_update([quad], "DELETE DATA { GRAPH <urn:g> { <urn:s> <urn:p> 'o' } }")
    assert left == []


def test_an_answer_larger_than_the_channels_buffer_arrives_whole_on_the_home_loop(tmp_path: Path):
    store = open_store(str(tmp_path / "store"))
    pool = QueryPool(store, store.limits)
    with _home_loop(pool) as home:
        rows = _ask_at_home(
            home, pool, "SELECT ?n WHERE { VALUES ?n { " + " ".join(map(str, range(5000))) + " } }"
        )
    assert [int(row["n"]["value"]) for row in rows["results"]["bindings"]] == list(range(5000))


def test_a_frame_written_piece_by_piece_is_the_frame_and_reads_back_whole():
    answer = Answer("application/sparql-results+json", os.urandom(1 << 20), False)
    written = io.BytesIO()
    send(written, answer)
    assert written.getvalue() == framed(answer)
    written.seek(0)
    assert receive(written) == answer
