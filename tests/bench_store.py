"""What the store costs: put() of one message, a lookup among a million quads, paging, and
how many readings a second it can take at all for a given number of quads per reading.

The suite runs each once, untimed; measure with
    .venv/bin/pytest tests/bench_store.py --benchmark-enable
"""

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pyoxigraph as ox
import pytest

from hub.model import message
from hub.model.message import Message
from hub.model.vocabulary import HEILA, MESSAGE, SMARTAPI, XSD
from hub.storage.store import LOG_GRAPH, OxigraphStore, QueryLimits, open_store
from tests.conftest import EXAMPLES

MESSAGES = 55_000
"""Offers in the large store: 16 quads each and 2 in the log, about a million in all."""


def offers(prefix: str, count: int) -> list[Message]:
    """Copies of the example offer (17 triples) under new ids."""
    document = json.loads((EXAMPLES / "valid" / "offer.json").read_text())
    return [
        message.parse(json.dumps({**document, "id": f"{prefix}-{n}"}).encode(), "application/json")
        for n in range(count)
    ]


def _put_each(benchmark, store: OxigraphStore) -> None:  # type: ignore[no-untyped-def]
    fresh: Iterator[Message] = iter(offers("bench", 2_000))
    benchmark.pedantic(lambda: store.put(next(fresh)), rounds=1_500, warmup_rounds=50)


def test_put_one_message_in_memory(benchmark):
    _put_each(benchmark, open_store("memory"))


def test_put_one_message_on_disk(benchmark, tmp_path: Path):
    _put_each(benchmark, open_store(str(tmp_path / "store")))


def _million_quads() -> Iterator[ox.Quad]:
    """The example offer's quads under MESSAGES ids, each with its log entry."""
    template = offers("template", 1)[0].serialize("application/n-quads").decode()
    sequence, stored_at = ox.NamedNode(HEILA + "sequence"), ox.NamedNode(HEILA + "storedAt")
    log = ox.NamedNode(LOG_GRAPH)
    moment = ox.Literal("2026-11-26T12:00:00Z", datatype=ox.NamedNode(XSD + "dateTime"))
    for n in range(1, MESSAGES + 1):
        yield from ox.parse(template.replace("template-0", f"offer-{n}"), ox.RdfFormat.N_QUADS)
        iri = ox.NamedNode(f"{MESSAGE}offer-{n}")
        number = ox.Literal(str(n), datatype=ox.NamedNode(XSD + "integer"))
        yield ox.Quad(iri, sequence, number, log)
        yield ox.Quad(iri, stored_at, moment, log)


@pytest.fixture(scope="module")
def large_store() -> OxigraphStore:
    database = ox.Store()
    database.bulk_extend(_million_quads())
    return OxigraphStore(database, QueryLimits())


def test_the_large_store_holds_a_million_quads(large_store):
    count = large_store.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }").rows[0][0]
    assert isinstance(count, ox.Literal) and int(count.value) >= 990_000


def test_sparql_lookup_of_one_message_by_id(benchmark, large_store):
    ids = itertools.cycle(range(1, MESSAGES + 1, 997))

    def lookup() -> int:
        query = (
            f'SELECT ?p ?o WHERE {{ ?m <{SMARTAPI}id> "offer-{next(ids)}" . '
            "GRAPH ?m { ?m ?p ?o } }"
        )
        return len(large_store.query(query).rows)

    assert benchmark(lookup) == 13


def test_get_of_one_message(benchmark, large_store):
    assert benchmark(large_store.get, f"{MESSAGE}offer-25000") is not None


def test_messages_page_of_a_hundred_in_the_middle(benchmark, large_store):
    page = benchmark(large_store.messages, after=MESSAGES // 2, limit=100)
    assert page[0].sequence == MESSAGES // 2 + 1


def test_messages_page_filtered_by_sender(benchmark, large_store):
    page = benchmark(large_store.messages, sender="ams-1", after=MESSAGES // 2, limit=100)
    assert len(page) == 100


def test_validated_update_of_one_message(benchmark, story):
    store = open_store("memory")
    for item in story:
        store.put(item)
    prices = itertools.cycle(["90.0", "91.0"])

    def reprice() -> None:
        store.update(
            f"PREFIX heila: <{HEILA}> PREFIX gr: <http://purl.org/goodrelations/v1#> "
            f"WITH <{MESSAGE}offer-1> DELETE {{ ?price gr:hasCurrencyValue ?old }} "
            f"INSERT {{ ?price gr:hasCurrencyValue {next(prices)} }} "
            f"WHERE {{ <{MESSAGE}offer-1> heila:price ?price . ?price gr:hasCurrencyValue ?old }}"
        )

    benchmark(reprice)


READINGS = 1_000
"""Readings per message in the ingestion benchmark; five messages a round."""
_rounds = itertools.count()


def _reading_quads(round_: int, per_reading: int, named: bool) -> list[list[ox.Quad]]:
    """Five messages of READINGS readings, `per_reading` quads each (the link from the
    message, the point, the value, then times), in each message's graph or the default one."""
    link, point = ox.NamedNode(HEILA + "reading"), ox.NamedNode(HEILA + "point")
    predicates = [ox.NamedNode(HEILA + name) for name in ("value", "measuredAt", "receivedAt")]
    predicates += [ox.NamedNode(f"{HEILA}extra{n}") for n in range(per_reading)]
    moment = ox.Literal("2026-11-26T12:00:00.125Z", datatype=ox.NamedNode(XSD + "dateTime"))
    batches = []
    for number in range(5):
        iri = ox.NamedNode(f"{MESSAGE}bench-{round_}-{number}")
        graph = iri if named else ox.DefaultGraph()
        quads = []
        for n in range(READINGS):
            reading = ox.NamedNode(f"{iri.value}#reading-{n}")
            quads.append(ox.Quad(iri, link, reading, graph))
            quads.append(ox.Quad(reading, point, ox.NamedNode(f"{HEILA}point-{n % 50}"), graph))
            value = ox.Literal(f"{230 + n / READINGS}", datatype=ox.NamedNode(XSD + "double"))
            objects = [value, *[moment] * (per_reading - 3)]
            quads += [
                ox.Quad(reading, predicate, thing, graph)
                for predicate, thing in zip(predicates, objects, strict=False)
            ]
        batches.append(quads)
    return batches


@pytest.mark.parametrize("graph", ["named", "default"])
@pytest.mark.parametrize("per_reading", [3, 4, 5, 7])
def test_readings_ingested_on_disk(benchmark, tmp_path: Path, per_reading: int, graph: str):
    """The store alone, one sorted ingestion per message: the ceiling of any write path.
    Readings per second = 5 * READINGS / the mean."""
    database = ox.Store(str(tmp_path / "store"))
    ingested = []

    def ingest(batches: list[list[ox.Quad]]) -> None:
        for batch in batches:
            database.bulk_extend(batch)
        ingested.append(5 * READINGS)

    def fresh() -> tuple[tuple[list[list[ox.Quad]]], dict[str, object]]:
        return (_reading_quads(next(_rounds), per_reading, graph == "named"),), {}

    benchmark.pedantic(ingest, setup=fresh, rounds=5)
    assert len(database) == sum(ingested) * per_reading
