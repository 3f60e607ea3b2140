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


FIELD_MAP = """
@prefix heila: <https://w3id.org/heila/ontology#> .
@prefix qudt: <http://qudt.org/schema/qudt/> .
@prefix unit: <http://qudt.org/vocab/unit/> .
<https://w3id.org/heila/point/q1-voltage-l1> a heila:Point ;
    heila:quantity heila:PhaseVoltage ; qudt:unit unit:V ;
    heila:device <https://w3id.org/heila/device/{device}> .
"""
"""The field's own map of one migrated point, of the device given."""
MIGRATED_GRAPH = "https://w3id.org/heila/hub/pointmap/migrated"
Q1_VOLTAGE = ox.NamedNode("https://w3id.org/heila/point/q1-voltage-l1")


def _publish_field_map(store: Path, device: str, tmp_path: Path) -> int:
    (tmp_path / "field.ttl").write_text(FIELD_MAP.replace("{device}", device))
    published = ["pointmap", "publish", str(tmp_path / "field.ttl"), "--name", "field"]
    return main([*published, "--store", str(store)])


def _migrated_points(store: OxigraphStore) -> set[str]:
    return {q.subject.value for q in store.graph_quads(MIGRATED_GRAPH)}


def test_the_fields_map_takes_a_migrated_point_over_as_the_readings_had_it(
    migrated: OxigraphStore, tmp_path: Path
) -> None:
    migrated.close()
    del migrated
    assert _publish_field_map(tmp_path / "store", "breaker-q1", tmp_path) == 0
    store = open_store(str(tmp_path / "store"))
    assert Q1_VOLTAGE.value not in _migrated_points(store)
    assert "https://w3id.org/heila/point/q1-frequency" in _migrated_points(store)
    found = {row["point"].rsplit("/", 1)[1]: row for row in _rows(store, "latest-values")}
    assert found["q1-voltage-l1"]["unit"] == "http://qudt.org/vocab/unit/V"


def test_a_map_giving_a_migrated_point_another_device_is_refused_and_stores_nothing(
    migrated: OxigraphStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _dumped(migrated)
    migrated.close()
    del migrated
    assert _publish_field_map(tmp_path / "store", "breaker-q2", tmp_path) == 2
    assert "point q1-voltage-l1 has device breaker-q1 in migrated and breaker-q2 in field" in (
        capsys.readouterr().err
    )
    assert _dumped(open_store(str(tmp_path / "store"))) == before


def test_a_migration_leaves_the_points_of_a_published_map_to_it(tmp_path: Path) -> None:
    location = tmp_path / "store"
    written = ox.Store(str(location))
    written.bulk_load(path=FORMER, format=ox.RdfFormat.N_QUADS)
    written.flush()
    del written
    assert _publish_field_map(location, "breaker-q1", tmp_path) == 0
    assert main(["migrate", "--store", str(location)]) == 0
    store = open_store(str(location))
    assert Q1_VOLTAGE.value not in _migrated_points(store)
    assert "https://w3id.org/heila/point/q1-frequency" in _migrated_points(store)
