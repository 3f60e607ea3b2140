"""`heila migrate` rewrites a store written with readings of the former model (quantity, unit,
device and receive time on every reading) into the lean one, on disk, keeping the log."""

import io
from pathlib import Path

import pyoxigraph as ox
import pytest

from hub.commands.cli import main
from hub.model.vocabulary import HEILA, MESSAGE
from hub.storage.store import LOG_GRAPH, OxigraphStore, open_store
from hub.web.queries import run_query

FORMER = Path(__file__).resolve().parent / "data" / "readings-of-the-former-model.nq"
"""Two Measurements as the hub stored them before: the example's nine readings, and a reading
of a battery's state of charge that named no point."""


@pytest.fixture
def migrated(tmp_path: Path) -> OxigraphStore:
    location = tmp_path / "store"
    written = ox.Store(str(location))  # the former hub's store, as it left it on disk
    written.bulk_load(path=FORMER, format=ox.RdfFormat.N_QUADS)
    written.flush()
    del written
    assert main(["migrate", "--store", str(location)]) == 0
    return open_store(str(location))


def _values(store: OxigraphStore, sparql: str) -> list[str]:
    return [row[0].value for row in store.query(f"PREFIX heila: <{HEILA}> {sparql}").rows if row[0]]


def test_no_reading_states_its_quantity_unit_device_or_receive_time_any_more(migrated):
    stated = _values(
        migrated,
        "SELECT ?p WHERE { ?m heila:reading ?r . ?r ?p ?o . "
        "FILTER(?p IN (heila:quantity, <http://qudt.org/schema/qudt/unit>, heila:device, "
        "heila:receivedAt)) }",
    )
    assert stated == []


def test_the_points_give_the_units_the_readings_had(migrated):
    found = {row["point"].rsplit("/", 1)[1]: row for row in _rows(migrated, "latest-values")}
    assert (found["q1-voltage-l1"]["unit"], found["q1-frequency"]["unit"]) == (
        "http://qudt.org/vocab/unit/V",
        "http://qudt.org/vocab/unit/HZ",
    )


def test_a_reading_without_a_point_gets_its_devices(migrated):
    assert _values(
        migrated, f"SELECT ?p WHERE {{ <{MESSAGE}measurement-2#reading-0> heila:point ?p }}"
    ) == ["https://w3id.org/heila/point/battery-1.stateOfCharge"]


def test_a_measurement_was_received_when_its_earliest_reading_was(migrated):
    assert _values(
        migrated, f"SELECT ?t WHERE {{ <{MESSAGE}measurement-1> heila:receivedAt ?t }}"
    ) == ["2026-11-26T14:59:31.04Z"]  # as the store writes it


def test_the_log_keeps_every_message_in_its_place(migrated):
    sequences = _values(
        migrated,
        f"SELECT ?n WHERE {{ GRAPH <{LOG_GRAPH}> {{ ?m heila:sequence ?n }} }} ORDER BY ?n",
    )
    assert (sequences, migrated.last_sequence) == (["1", "2"], 2)


def test_a_migrated_message_reads_back_in_the_lean_form(migrated):
    found = migrated.get(f"{MESSAGE}measurement-1")
    assert found is not None
    assert found.to_json()["readings"][0] == {
        "point": "q1-voltage-l1",
        "value": 231.4,
        "time": "2026-11-26T15:00:01Z",
    }


def test_migrating_again_changes_nothing(migrated, tmp_path: Path):
    before = _dumped(migrated)
    migrated.close()
    del migrated
    assert main(["migrate", "--store", str(tmp_path / "store")]) == 0
    assert _dumped(open_store(str(tmp_path / "store"))) == before


def _dumped(store: OxigraphStore) -> set[bytes]:
    target = io.BytesIO()
    store.dump(target)
    return set(target.getvalue().splitlines())


def _rows(store: OxigraphStore, name: str) -> list[dict[str, str]]:
    result = run_query(store, name, {})
    return [
        {var: term.value for var, term in zip(result.variables, row, strict=True) if term}
        for row in result.rows
    ]
