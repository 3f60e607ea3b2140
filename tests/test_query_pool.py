"""The query pool's workers and their copies of the store, with real worker processes."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.model.message import Message
from hub.model.vocabulary import MESSAGE
from hub.storage.query_pool import QueryPool
from hub.storage.query_worker import Answer, Query, Refusal
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


def _ask(pool: QueryPool, sparql: str) -> Any:
    asked = Query(sparql, (), (), "application/sparql-results+json", 100, 10.0)
    outcome = asyncio.run(pool.run(asked))
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
