"""A point's last hour of readings among many: the hub's on-disk store against a Parquet file.

A store of generated Measurements (100 points, one reading a second each, 1,000 readings a
message, written as the hub writes them: read in columns, N-Quads, the log) is bulk loaded
once; the query is the named query `point-readings` for one point's last hour. The same
readings in a Parquet file (pyarrow, sorted by point and time) are the reference a
time-series layout gives, not a second store. The suite runs this on 20,000 readings; the
figures come from 10 million:

    HEILA_BENCH_READINGS=10000000 .venv/bin/pytest tests/bench_readings.py --benchmark-enable -s
"""

import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyoxigraph as ox
import pytest

from hub.model import message
from hub.model.vocabulary import HEILA, XSD
from hub.storage.store import LOG_GRAPH, OxigraphStore, QueryLimits
from hub.web.queries import named_queries

READINGS = int(os.environ.get("HEILA_BENCH_READINGS", "20000"))
POINTS = 100
PER_MESSAGE = 1_000
START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(seconds=READINGS // POINTS)
ASKED = "bench-p42"


def _measurements() -> Iterator[message.Message]:
    """Every second, each point's value; ten seconds of them a message."""
    seconds = PER_MESSAGE // POINTS
    for number, first in enumerate(range(0, READINGS // POINTS, seconds)):
        instants = [START + timedelta(seconds=first + s) for s in range(seconds)]
        yield message.from_json(
            {
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
        )


def _log_lines(iri: str, sequence: int) -> bytes:
    integer, moment = f"<{XSD}integer>", f"<{XSD}dateTime>"
    return (
        f'<{iri}> <{HEILA}sequence> "{sequence}"^^{integer} <{LOG_GRAPH}> .\n'
        f'<{iri}> <{HEILA}storedAt> "{END.isoformat()}"^^{moment} <{LOG_GRAPH}> .\n'
    ).encode()


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="heila-bench-readings-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def store(folder: Path) -> Iterator[OxigraphStore]:
    """The generated store, bulk loaded from the N-Quads the hub would have written."""
    started = time.perf_counter()
    dump = folder / "readings.nq"
    with dump.open("wb") as out:
        for sequence, measurement in enumerate(_measurements(), 1):
            out.write(measurement.nquads() + _log_lines(measurement.iri, sequence))
    generated = time.perf_counter() - started
    database = ox.Store(str(folder / "store"))
    database.bulk_load(path=dump, format=ox.RdfFormat.N_QUADS)
    database.flush()
    loaded = time.perf_counter() - started - generated
    dump.unlink()
    size = sum(f.stat().st_size for f in (folder / "store").rglob("*") if f.is_file())
    print(
        f"\n{READINGS:,} readings: generated in {generated:.0f} s, bulk loaded in {loaded:.0f} s; "
        f"{len(database):,} quads, {size / (READINGS / 1e6) / 2**20:.0f} MiB per million readings"
    )
    yield OxigraphStore(database, QueryLimits())


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


def _last_hour() -> str:
    query = named_queries()["point-readings"]
    since = (END - timedelta(hours=1)).isoformat()
    return query.bind({"point": ASKED, "from": since, "to": END.isoformat()})


def test_a_points_last_hour_among_all_readings(benchmark, store: OxigraphStore) -> None:
    rows = benchmark(lambda: store.query(_last_hour()).rows)
    assert len(rows) == min(3600, READINGS // POINTS)


def test_a_points_last_hour_in_a_parquet_file(benchmark, parquet: Path) -> None:
    since = END - timedelta(hours=1)
    filters = [("point", "=", ASKED), ("time", ">=", since), ("time", "<", END)]
    table = benchmark(lambda: pq.read_table(parquet, filters=filters))
    assert table.num_rows == min(3600, READINGS // POINTS)
