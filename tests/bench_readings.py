"""A point's last hour of readings among many: the hub's on-disk store against a Parquet file.

A store of generated Measurements (100 points, one reading a second each, 1,000 readings a
message, the N-Quads the hub writes for them and their log entries) is bulk loaded once and
kept in the temporary directory for the next run; the query is the named query
`point-readings` for one point's last hour, read as the hub's code reads it and as /sparql
writes it. The same
readings in a Parquet file (pyarrow, sorted by point and time) are the reference a
time-series layout gives, not a second store. Beside them, the floor of any layout in this
store: the same hour alone in one named graph. The suite runs this on 20,000 readings; the
README's figures come from a million and 10 million:

    HEILA_BENCH_READINGS=1000000 .venv/bin/pytest tests/bench_readings.py --benchmark-enable -s
"""

import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyoxigraph as ox
import pytest

from hub.model import message
from hub.model.vocabulary import ACTOR, HEILA, MESSAGE, POINT, RDF, SMARTAPI, XSD
from hub.storage.results import CSV, Evaluated, answer, read
from hub.storage.store import LOG_GRAPH, OxigraphStore, QueryLimits
from hub.web.queries import named_queries

READINGS = int(os.environ.get("HEILA_BENCH_READINGS", "20000"))
POINTS = 100
PER_MESSAGE = 1_000
START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(seconds=READINGS // POINTS)
ASKED = "bench-p42"
LAYOUT = "v1"
"""Names the generator's output: a cached store of another layout is never reused."""


def _measurement(number: int) -> dict[str, Any]:
    """Ten seconds of every point's value, one a second: the `number`th Measurement."""
    first = number * (PER_MESSAGE // POINTS)
    instants = [START + timedelta(seconds=first + s) for s in range(PER_MESSAGE // POINTS)]
    return {
        "type": "Measurement",
        "id": f"bench-measurement-{number}",
        "sender": "mgms-1",
        "time": (instants[-1] + timedelta(seconds=0.5)).isoformat(),
        "receivedAt": (instants[0] + timedelta(seconds=0.25)).isoformat(),
        "readings": [
            {"point": f"bench-p{p}", "value": 230.0 + p + s / 1e4, "time": t.isoformat()}
            for s, t in enumerate(instants)
            for p in range(POINTS)
        ],
    }


def _nquads(number: int) -> bytes:
    """The N-Quads the hub writes for the `number`th Measurement, without its Python detour
    (which took 610 s for 10 million readings): the same text, formatted straight from the
    JSON; `test_the_generated_quads_are_the_hubs` holds the two together."""
    data = _measurement(number)
    iri = f"{MESSAGE}{data['id']}"
    tail, moment = f" <{iri}> .\n", f"^^<{XSD}dateTime>"
    envelope = [
        f"<{iri}> <{RDF}type> <{HEILA}Measurement>",
        f'<{iri}> <{SMARTAPI}id> "{data["id"]}"',
        f"<{iri}> <{SMARTAPI}generatedBy> <{ACTOR}{data['sender']}>",
        f'<{iri}> <{SMARTAPI}generatedAt> "{data["time"]}"{moment}',
        f'<{iri}> <{HEILA}receivedAt> "{data["receivedAt"]}"{moment}',
    ]
    return "".join([line + tail for line in envelope]).encode() + _readings(iri, data["readings"])


def _readings(iri: str, readings: list[dict[str, Any]]) -> bytes:
    """The quads of a Measurement's readings in its graph, numbered in order."""
    tail, moment = f" <{iri}> .\n", f"^^<{XSD}dateTime>"
    lines = []
    for n, reading in enumerate(readings):
        node = f"<{iri}#reading-{n}>"
        lines += [
            f"<{iri}> <{HEILA}reading> {node}{tail}",
            f"{node} <{HEILA}point> <{POINT}{reading['point']}>{tail}",
            f'{node} <{RDF}value> "{reading["value"]!r}"^^<{XSD}double>{tail}',
            f'{node} <{HEILA}measuredAt> "{reading["time"]}"{moment}{tail}',
        ]
    return "".join(lines).encode()


def _log_lines(iri: str, sequence: int) -> bytes:
    integer, moment = f"<{XSD}integer>", f"<{XSD}dateTime>"
    return (
        f'<{iri}> <{HEILA}sequence> "{sequence}"^^{integer} <{LOG_GRAPH}> .\n'
        f'<{iri}> <{HEILA}storedAt> "{END.isoformat()}"^^{moment} <{LOG_GRAPH}> .\n'
    ).encode()


def _one_points_hour() -> bytes:
    """A point's hour of readings, as the hub writes them, alone in one Measurement's graph."""
    hour = [
        {
            "point": ASKED,
            "value": 230.0 + s / 1e4,
            "time": (START + timedelta(seconds=s)).isoformat(),
        }
        for s in range(3600)
    ]
    return _readings(f"{MESSAGE}bench-one-point", hour)


def _generate(folder: Path) -> None:
    """Write the readings' N-Quads and bulk load them into a store in `folder`."""
    started = time.perf_counter()
    dump = folder / "readings.nq"
    with dump.open("wb") as out:
        for number in range(READINGS // PER_MESSAGE):
            iri = f"{MESSAGE}bench-measurement-{number}"
            out.write(_nquads(number) + _log_lines(iri, number + 1))
    generated = time.perf_counter() - started
    database = ox.Store(str(folder / "store"))
    database.bulk_load(path=dump, format=ox.RdfFormat.N_QUADS)
    database.flush()
    OxigraphStore(database, QueryLimits())  # adds what the hub adds to every store it opens
    dump.unlink()
    loaded = time.perf_counter() - started - generated
    print(f"\n{READINGS:,} readings: generated in {generated:.0f} s, loaded in {loaded:.0f} s")


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="heila-bench-readings-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def database() -> ox.Store:
    """The generated store, kept between runs in the temporary directory under a name that
    says its size and layout: a store of 10 million readings takes minutes to make. It is
    opened read-only: opened for writing, it grew at each run (678, 920, 1,173, then 1,280 MiB
    per million readings) from what RocksDB wrote while the benchmarks ran."""
    cached = Path(tempfile.gettempdir()) / f"heila-bench-readings-{LAYOUT}-{READINGS}"
    if not cached.is_dir():
        making = Path(tempfile.mkdtemp(prefix=f"{cached.name}-making-"))
        _generate(making)
        making.rename(cached)
    database = ox.Store.read_only(str(cached / "store"))
    size = sum(f.stat().st_size for f in (cached / "store").rglob("*") if f.is_file())
    print(
        f"\n{READINGS:,} readings in {cached}: {len(database):,} quads, "
        f"{size / (READINGS / 1e6) / 2**20:.0f} MiB per million readings"
    )
    return database


@pytest.fixture(scope="module")
def parquet(folder: Path) -> Path:
    path = folder / "readings.parquet"
    seconds = READINGS // POINTS
    table = pa.table(
        {
            "point": pa.array(
                [f"bench-p{p}" for p in range(POINTS) for _ in range(seconds)]
            ).dictionary_encode(),
            "time": pa.array(
                [START + timedelta(seconds=s) for _ in range(POINTS) for s in range(seconds)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "value": pa.array(
                [230.0 + p + (s % 10) / 1e4 for p in range(POINTS) for s in range(seconds)]
            ),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)
    size = path.stat().st_size / (READINGS / 1e6) / 2**20
    print(f"\nParquet: {size:.1f} MiB per million readings")
    return path


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> ox.Store:
    """Where pytest keeps it: the store may still hold its folder open when the module ends."""
    database = ox.Store(str(tmp_path_factory.mktemp("alone")))
    database.load(_one_points_hour(), format=ox.RdfFormat.N_QUADS)
    database.flush()
    return database


def _last_hour() -> str:
    query = named_queries()["point-readings"]
    since = (END - timedelta(hours=1)).isoformat()
    return query.bind({"point": ASKED, "from": since, "to": END.isoformat()})


def _ask(database: ox.Store) -> Evaluated:
    """The point's last hour asked over all messages, as the hub asks a query."""
    return database.query(_last_hour(), use_default_graph_as_union=True)


def test_the_generated_quads_are_the_hubs() -> None:
    hubs = message.from_json(_measurement(1)).nquads()
    assert sorted(_nquads(1).splitlines()) == sorted(hubs.splitlines())


def test_a_points_last_hour_among_all_readings(benchmark, database: ox.Store) -> None:
    """As the hub's own code reads a query: a Python term for every value, by the reader
    OxigraphStore.query hands pyoxigraph's answer to (OxigraphStore itself cannot take a
    read-only store: it writes the ontology's graph into the store it opens)."""
    limits = QueryLimits()

    def rows() -> tuple[tuple[Any, ...], ...]:
        result = read(_ask(database), limits.result_limit, time.monotonic() + limits.timeout)
        assert result is not None
        return result.rows

    assert len(benchmark(rows)) == min(3600, READINGS // POINTS)


def test_a_points_last_hour_as_csv(benchmark, database: ox.Store) -> None:
    """As /sparql answers it: the rows written by pyoxigraph, no Python term made."""
    limits = QueryLimits()

    def csv() -> bytes:
        deadline = time.monotonic() + limits.timeout
        written = answer(lambda: _ask(database), CSV, limits.result_limit, deadline)
        assert written is not None
        return written.body

    body = benchmark(csv)
    assert body.count(b"\n") == 1 + min(3600, READINGS // POINTS)


def test_a_points_last_hour_in_a_parquet_file(benchmark, parquet: Path) -> None:
    since = END - timedelta(hours=1)
    filters = [("point", "=", ASKED), ("time", ">=", since), ("time", "<", END)]
    table = benchmark(lambda: pq.read_table(parquet, filters=filters))
    assert table.num_rows == min(3600, READINGS // POINTS)


def test_a_points_hour_alone_in_one_graph_as_csv(benchmark, alone: ox.Store) -> None:
    """The floor of every layout: no index holds a point's readings closer together than a
    graph of their own. The time and the value are asked in two sub-SELECTs, each one scan of
    the graph's index, which Oxigraph joins by hashing (a join reading by reading takes about
    three times as long)."""
    graph = f"<{MESSAGE}bench-one-point>"
    query = (
        f"SELECT ?time ?value WHERE {{"
        f" {{ SELECT ?r ?time WHERE {{ GRAPH {graph} {{ ?r <{HEILA}measuredAt> ?time }} }} }}"
        f" {{ SELECT ?r ?value WHERE {{ GRAPH {graph} {{ ?r <{RDF}value> ?value }} }} }}"
        f" }} ORDER BY ?time"
    )
    body = benchmark(lambda: alone.query(query).serialize(format=ox.QueryResultsFormat.CSV))
    assert body.count(b"\n") == 1 + 3600
