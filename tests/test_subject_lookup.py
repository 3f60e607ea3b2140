"""Lookups of one subject, answered in the hub's process; every other query goes to a worker.

The pools here may start no worker at all (`workers=0`), so a query that would need one waits
out its timeout for a worker and is told the hub is busy: what is answered was answered in
process.
"""

import asyncio
import json

import pyoxigraph as ox
import pytest

from hub.model.message import Message
from hub.model.vocabulary import ACTOR
from hub.storage.query_pool import QueryPool, QueryStopped
from hub.storage.query_worker import Answer, Query, Refusal
from hub.storage.store import REGISTRY_GRAPH, OxigraphStore, QueryLimits
from hub.storage.subject_lookup import ROWS

_NO_WORKER = QueryLimits(workers=0, max_waiting=1)


@pytest.fixture
def store(story: list[Message]) -> OxigraphStore:
    stored = OxigraphStore(ox.Store(), _NO_WORKER)
    for message in story:
        stored.put(message)
    return stored


def _run(store: OxigraphStore, sparql: str) -> Answer | Refusal:
    pool = QueryPool(store, store.limits)
    try:
        return asyncio.run(
            pool.run(Query(sparql, (), (), "application/sparql-results+json", 10_000, 0.2))
        )
    finally:
        pool.close()


def test_a_lookup_of_one_subject_is_answered_without_a_worker(store, story):
    sparql = f"SELECT ?p ?o WHERE {{ <{story[0].iri}> ?p ?o }}"
    answer = _run(store, sparql)
    assert isinstance(answer, Answer)
    rows = json.loads(answer.body)["results"]["bindings"]
    assert len(rows) == len(store.query(sparql).rows) > 0


def test_a_lookup_by_prefixed_name_with_a_constant_predicate_is_answered_in_process(store, story):
    prefix, _, local = story[0].iri.rpartition("/")
    sparql = f"PREFIX m: <{prefix}/> SELECT * {{ m:{local} a ?type . }} LIMIT 5"
    answer = _run(store, sparql)
    assert isinstance(answer, Answer)
    assert json.loads(answer.body)["results"]["bindings"]


@pytest.mark.parametrize(
    "pattern",
    [
        "?s ?p ?o",
        "_:b ?p ?o",
        "<{iri}> <{iri}>* ?o",
        "<{iri}> ?p ?o . ?o ?q ?r",
        "<{iri}> ?p ?o FILTER(true)",
        "<{iri}> ?p ?o OPTIONAL {{ ?o ?q ?r }}",
        "<{iri}> ?p ?o }} ORDER BY ?o #",
        "<{iri}> ?p ?o # a comment",
        "SERVICE <http://example.org/sparql> {{ <{iri}> ?p ?o }}",
    ],
)
def test_a_query_of_any_other_form_goes_to_a_worker(store, story, pattern):
    sparql = "SELECT ?o WHERE { " + pattern.format(iri=story[0].iri) + " }"
    with pytest.raises(QueryStopped) as stopped:
        _run(store, sparql)
    assert stopped.value.rule == "busy"


def test_a_distinct_lookup_goes_to_a_worker(store, story):
    with pytest.raises(QueryStopped):
        _run(store, f"SELECT DISTINCT ?o WHERE {{ <{story[0].iri}> ?p ?o }}")


def _crowded(store: OxigraphStore) -> str:
    """A subject with one row more than a lookup may read."""
    actor = ox.NamedNode(f"{ACTOR}crowded")
    registry = ox.NamedNode(REGISTRY_GRAPH)
    store.replace_registry(
        [
            ox.Quad(actor, ox.NamedNode(f"{ACTOR}knows"), ox.Literal(str(n)), registry)
            for n in range(ROWS + 1)
        ]
    )
    return actor.value


def test_a_subject_with_more_rows_than_a_lookup_may_read_goes_to_a_worker(store):
    with pytest.raises(QueryStopped):
        _run(store, f"SELECT ?p ?o WHERE {{ <{_crowded(store)}> ?p ?o }}")


def test_a_lookup_limited_past_what_a_lookup_may_read_goes_to_a_worker(store):
    with pytest.raises(QueryStopped):
        _run(store, f"SELECT ?p ?o WHERE {{ <{_crowded(store)}> ?p ?o }} LIMIT {ROWS + 5}")


def test_a_lookup_limited_within_what_a_lookup_may_read_is_answered_in_process(store):
    answer = _run(store, f"SELECT ?p ?o WHERE {{ <{_crowded(store)}> ?p ?o }} LIMIT 3")
    assert isinstance(answer, Answer)
    assert len(json.loads(answer.body)["results"]["bindings"]) == 3


def test_a_lookup_with_an_undeclared_prefix_is_refused_as_malformed(store):
    refusal = _run(store, "SELECT ?p ?o WHERE { nowhere:thing ?p ?o }")
    assert isinstance(refusal, Refusal)
    assert refusal.kind == "parse"
