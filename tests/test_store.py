"""The store: one named graph per message, commit order, queries under limits, validated updates."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox
import pytest

from hub.model import pointmaps
from hub.model.errors import Invalid, ParseError
from hub.model.message import Message, from_json
from hub.model.vocabulary import HEILA, MESSAGE
from hub.storage.store import (
    BULK_QUADS,
    LOG_GRAPH,
    NotSender,
    OxigraphStore,
    QueryLimits,
    QueryRefused,
    QueryTimeout,
    open_store,
)
from tests.conftest import EXAMPLES

OFFER = MESSAGE + "offer-1"
PREFIXES = (
    f"PREFIX heila: <{HEILA}> PREFIX msg: <{MESSAGE}> "
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
    "PREFIX gr: <http://purl.org/goodrelations/v1#> "
    "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> "
)


@pytest.fixture
def store(story: list[Message]) -> OxigraphStore:
    filled = open_store("memory")
    for message in story:
        filled.put(message)
    return filled


def by_id(story: list[Message], identifier: str) -> Message:
    return next(m for m in story if m.id == identifier)


def graph_quads(store: OxigraphStore, iri: str) -> set[ox.Quad]:
    result = store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}")
    return {ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(iri)) for t in result.triples}


def as_stored(quads: list[ox.Quad]) -> set[ox.Quad]:
    """Quads in the store's canonical form (Oxigraph writes "120.0"^^xsd:decimal as "120")."""
    canonical = ox.Store()
    canonical.extend(quads)
    return set(canonical)


def select_values(store: OxigraphStore, sparql: str) -> list[str]:
    return [str(row[0].value) for row in store.query(PREFIXES + sparql).rows if row[0]]


def test_a_message_is_stored_in_the_named_graph_of_its_iri(store, story):
    offer = by_id(story, "offer-1")
    assert graph_quads(store, OFFER) == as_stored(offer.quads())


def test_sequences_follow_the_commit_order_from_one(store, story):
    assert [s.iri for s in store.messages(limit=100)] == [m.iri for m in story]
    assert [s.sequence for s in store.messages(limit=100)] == list(range(1, len(story) + 1))


def test_a_known_id_is_not_stored_twice_and_answers_the_first_sequence(store, story):
    offer = by_id(story, "offer-1")
    first = next(s for s in store.messages(limit=100) if s.iri == OFFER)
    again = store.put(offer)
    assert (again.sequence, again.created) == (first.sequence, False)
    assert len(store.messages(limit=100)) == len(story)


def test_puts_from_several_threads_get_distinct_sequences(story):
    store = open_store("memory")
    threads = [threading.Thread(target=store.put, args=(m,)) for m in story]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s.sequence for s in store.messages()) == list(range(1, len(story) + 1))


def test_a_disk_store_reopens_with_its_messages_and_its_sequence(tmp_path: Path, story):
    first = open_store(str(tmp_path / "store"))
    for message in story[:3]:
        first.put(message)
    first.close()
    del first
    reopened = open_store(str(tmp_path / "store"))
    assert reopened.put(story[3]).sequence == 4
    assert reopened.get(story[0].iri) is not None


def many_readings(count: int) -> Message:
    now = datetime.now(UTC).isoformat()
    reading = {"time": now}
    return from_json(
        {
            "type": "Measurement",
            "id": f"measurement-{count}",
            "sender": "mgms-1",
            "time": now,
            "receivedAt": now,
            "readings": [
                {**reading, "value": 230.0 + n / count, "point": f"feeder-1.voltage-{n}"}
                for n in range(count)
            ],
        }
    )


def test_a_message_too_large_for_one_transaction_is_stored_whole_and_logged(tmp_path: Path):
    large = many_readings(BULK_QUADS // 4)
    assert len(large.quads()) >= BULK_QUADS
    store = open_store(str(tmp_path / "store"))
    stored = store.put(large)
    store.close()
    del store
    reopened = open_store(str(tmp_path / "store"))
    assert graph_quads(reopened, large.iri) == as_stored(large.quads())
    assert [s.iri for s in reopened.messages()] == [large.iri]
    assert reopened.put(large) == type(stored)(large.iri, stored.sequence, created=False)


def test_get_reads_a_message_back_whole(store, story):
    offer = by_id(story, "offer-1")
    found = store.get(OFFER)
    assert found is not None
    assert (found.id, found.type, found.sender, as_stored(found.quads())) == (
        "offer-1",
        "Offer",
        "ams-1",
        as_stored(offer.quads()),
    )


def test_get_of_an_unknown_iri_is_none(store):
    assert store.get(MESSAGE + "nothing-here") is None


def test_messages_filter_on_type_sender_and_recipient(store):
    found = store.messages(type="ReserveNotification", sender="fmp-1", recipient="dms-1")
    assert [s.iri for s in found] == [MESSAGE + "reserve-1"]


def test_messages_since_a_time_leave_out_older_ones(store):
    found = store.messages(since=datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    assert [s.iri for s in found] == [MESSAGE + "measurement-1", MESSAGE + "verification-1"]


def test_messages_page_after_a_cursor(store, story):
    first = store.messages(limit=5)
    second = store.messages(after=first[-1].sequence, limit=5)
    assert [s.sequence for s in second] == [6, 7, 8, 9, 10]


def test_a_query_sees_every_message_through_the_default_graph(store, story):
    assert len(select_values(store, "SELECT ?m WHERE { ?m a heila:Offer }")) == 1
    assert store.query(PREFIXES + "ASK { ?s a heila:Bid }").boolean


def test_default_graph_uris_make_the_default_graph(store):
    query = "SELECT ?m WHERE { ?m a ?type }"
    found = store.query(query, default_graph_uris=[OFFER])
    assert [row[0] for row in found.rows] == [ox.NamedNode(OFFER)]


def test_named_graph_uris_limit_what_graph_clauses_see(store):
    query = "SELECT ?g WHERE { GRAPH ?g { ?m a ?type } }"
    found = store.query(query, named_graph_uris=[OFFER, MESSAGE + "bid-1"])
    assert {row[0] for row in found.rows} == {ox.NamedNode(OFFER), ox.NamedNode(MESSAGE + "bid-1")}


def test_the_ontology_answers_which_links_are_references(store):
    links = select_values(
        store,
        "SELECT DISTINCT ?link WHERE { msg:reserve-1 ?link ?target . "
        "?link rdfs:subPropertyOf* heila:references }",
    )
    assert set(links) >= {HEILA + "acceptedOffer", HEILA + "servesBid"}


def test_a_malformed_query_says_where_the_parser_stopped(store):
    with pytest.raises(ParseError) as raised:
        store.query("SELECT ?s WHERE {\n ?s ?p }")
    assert raised.value.line == 2


def test_a_service_call_is_refused(store):
    with pytest.raises(QueryRefused, match="SERVICE"):
        store.query("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }")


@pytest.mark.parametrize(
    "query",
    [
        "PREFIX e: <http://example.org/> SELECT * WHERE { SERVICE SILENT e:sparql { ?s ?p ?o } }",
        "select * where { service ?endpoint { ?s ?p ?o } }",
    ],
)
def test_a_service_call_is_refused_however_it_is_spelled(store, query):
    with pytest.raises(QueryRefused, match="SERVICE"):
        store.query(query)


@pytest.mark.parametrize(
    "query",
    [
        'SELECT * WHERE { ?s ?p "SERVICE <http://example.org/>" }',
        "SELECT * WHERE { ?s <http://example.org/SERVICE> ?o } # SERVICE ?x",
    ],
)
def test_the_word_service_in_a_literal_iri_or_comment_is_no_service_call(store, query):
    assert store.query(query).rows == ()


def test_a_result_longer_than_the_limit_is_cut_and_flagged(story):
    store = open_store("memory", QueryLimits(result_limit=3))
    for message in story:
        store.put(message)
    result = store.query("SELECT ?m WHERE { GRAPH ?m { ?m a ?type } }")
    assert (len(result.rows), result.truncated) == (3, True)


def test_a_query_longer_than_the_timeout_is_stopped(story):
    store = open_store("memory", QueryLimits(timeout=0.2, result_limit=10**9))
    with pytest.raises(QueryTimeout):
        store.query("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")


def test_an_update_that_keeps_messages_valid_is_applied(store):
    store.update(
        PREFIXES + "WITH msg:offer-1 DELETE { ?price gr:hasCurrencyValue ?old } "
        "INSERT { ?price gr:hasCurrencyValue 90.0 } "
        "WHERE { msg:offer-1 heila:price ?price . ?price gr:hasCurrencyValue ?old }"
    )
    prices = select_values(
        store,
        "SELECT ?amount WHERE { msg:offer-1 heila:price/gr:hasCurrencyValue ?amount }",
    )
    assert prices == ["90"]


def test_an_update_that_breaks_a_rule_is_refused_and_changes_nothing(store):
    before = graph_quads(store, OFFER)
    with pytest.raises(Invalid) as raised:
        store.update(
            PREFIXES + "WITH msg:offer-1 DELETE { msg:offer-1 heila:power ?p } "
            "INSERT { msg:offer-1 heila:power -5.0 } WHERE { msg:offer-1 heila:power ?p }"
        )
    assert [v.field for v in raised.value.violations] == ["power"]
    assert graph_quads(store, OFFER) == before


def test_an_update_may_change_only_the_writers_own_messages(store):
    with pytest.raises(NotSender):
        store.update(PREFIXES + "DROP GRAPH msg:offer-1", sender="dms-1")
    store.update(PREFIXES + "DROP GRAPH msg:bid-1", sender="dms-1")
    assert store.get(MESSAGE + "bid-1") is None


def test_an_update_of_the_default_graph_is_refused(store):
    with pytest.raises(QueryRefused, match="default graph"):
        store.update(PREFIXES + "INSERT DATA { msg:offer-1 heila:power 1.0 }")


def test_an_update_of_the_log_is_refused(store):
    with pytest.raises(QueryRefused, match="read-only"):
        store.update(f"DROP GRAPH <{LOG_GRAPH}>")


def test_an_update_must_name_its_graphs(store):
    with pytest.raises(QueryRefused, match="name its graphs"):
        store.update("DELETE WHERE { GRAPH ?g { ?s ?p ?o } }")


def test_a_malformed_update_raises_a_parse_error(store):
    with pytest.raises(ParseError):
        store.update("INSERT DATA { GRAPH <urn:x> { <urn:a> <urn:b> } }")


def test_dropping_a_message_by_update_takes_it_out_of_the_log(store):
    store.update(f"DROP GRAPH <{MESSAGE}control-1>")
    assert MESSAGE + "control-1" not in {s.iri for s in store.messages(limit=100)}


def test_a_message_inserted_by_update_joins_the_commit_order(store, story):
    offer = by_id(story, "offer-1")
    copy = offer.serialize("application/n-quads").decode().replace("offer-1", "offer-2")
    store.update(f"INSERT DATA {{ {_as_graph_blocks(copy)} }}")
    assert store.messages(after=len(story))[0].iri == MESSAGE + "offer-2"


def _as_graph_blocks(nquads: str) -> str:
    """N-Quads as the GRAPH blocks of an INSERT DATA."""
    blocks = []
    for line in nquads.strip().splitlines():
        body, graph = line.rstrip(" .").rsplit(" ", 1)
        blocks.append(f"GRAPH {graph} {{ {body} }}")
    return " ".join(blocks)


def test_an_update_past_a_power_factors_range_is_refused_by_its_points_quantity(store):
    store.publish_point_map(
        pointmaps.graph_of("example"), pointmaps.read([EXAMPLES / "pointmap.ttl"])
    )
    measurement = MESSAGE + "measurement-1"
    before = graph_quads(store, measurement)
    reading = f"<{measurement}#reading-5>"
    with pytest.raises(Invalid) as raised:
        store.update(
            PREFIXES + f"WITH <{measurement}> DELETE {{ {reading} rdf:value ?v }} "
            f"INSERT {{ {reading} rdf:value 1.5e0 }} WHERE {{ {reading} rdf:value ?v }}"
        )
    assert [(v.field, v.rule) for v in raised.value.violations] == [
        ("readings[5].value", "powerFactorRange")
    ]
    assert graph_quads(store, measurement) == before
