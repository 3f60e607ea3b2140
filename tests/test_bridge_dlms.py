"""DLMS/COSEM meters through the bridge, over real TCP: registers and load profiles become
readings in the hub, failures end in clear log lines."""

import itertools
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bridge_fixtures import ACTOR, DSO, FieldHub, MakeBridge, eventually
from conftest import METER_PASSWORD, simulated_meter

from actors.bridge import pointmap
from actors.bridge.dlms.captures import Mark, undelivered
from actors.bridge.dlms.client import quality_flags
from actors.bridge.main import Bridge
from actors.clock import Horizon
from actors.mgms import meter_query, metered_slots
from substation.meter import Meter

PASSWORD_VARIABLE = "HEILA_TEST_METER_PASSWORD"
PASSWORD = METER_PASSWORD
POINT = "https://w3id.org/heila/point/"


def meter_map(folder: Path, meter: Meter, extra: str = "") -> Path:
    """The shipped meter map, read often, reaching the test's meter, with `extra` Turtle."""
    text = pointmap.shipped("meter-1.ttl").read_text()
    text = text.replace('"HEILA_METER_PASSWORD"', f'"{PASSWORD_VARIABLE}"')
    text = text.replace("dlms:readInterval 10", "dlms:readInterval 0.2")
    text = text.replace("dlms:profileInterval 900", "dlms:profileInterval 1")
    path = folder / "meter.ttl"
    path.write_text(text + extra)
    return path


@pytest.fixture
def read_meter(
    meter: Meter,
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Bridge]:
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    yield make_bridge(
        field_hub,
        None,
        maps=[field_hub.publish("meter", meter_map(tmp_path, meter))],
        endpoints={"meter-1": ("127.0.0.1", meter.port)},
        reconnect_backoff=(0.05, 0.2),
    )


def readings(hub: FieldHub, point: str) -> list[tuple[object, ...]]:
    """A point's readings with what its published point map says of it, and when their
    Measurement was received and sent."""
    return hub.select(
        "SELECT ?quantity ?unit ?value ?time ?received ?sent ?device WHERE { "
        f"BIND(<{POINT}{point}> AS ?point) "
        "?m heila:reading ?r ; heila:receivedAt ?received ; "
        "<http://smart-api.io/ontology/1.0/smartapi#generatedAt> ?sent . "
        "?r heila:point ?point ; rdf:value ?value ; heila:measuredAt ?time . "
        "?point heila:quantity ?quantity ; qudt:unit ?unit ; heila:device ?device } "
        "ORDER BY ?time"
    )


def test_a_voltage_register_arrives_scaled_in_volts(
    field_hub: FieldHub, read_meter: Bridge
) -> None:
    quantity, unit, value, *_ = eventually(lambda: readings(field_hub, "meter-1.voltage-l1"))[0]
    assert quantity == "https://w3id.org/heila/ontology#PhaseVoltage"
    assert unit == "http://qudt.org/vocab/unit/V"
    assert 200.0 < float(value) < 240.0
    assert round(float(value), 1) == float(value)  # the register's scaler -1: tenths of a volt


def test_power_in_watts_arrives_in_kilowatts(field_hub: FieldHub, read_meter: Bridge) -> None:
    _, unit, value, *_ = eventually(lambda: readings(field_hub, "meter-1.active-power"))[0]
    assert unit == "http://qudt.org/vocab/unit/KiloW"
    assert 100.0 < float(value) < 140.0  # the feeder's 120 kW load, sent in W


def test_a_register_reading_is_stamped_when_the_bridge_received_it(
    field_hub: FieldHub, read_meter: Bridge
) -> None:
    *_, measured, received, sent, device = eventually(
        lambda: readings(field_hub, "meter-1.voltage-l2")  # no load profile captures it
    )[0]
    stamps = [datetime.fromisoformat(str(t)) for t in (received, measured, sent)]
    assert stamps == sorted(stamps)  # received in its read round, before the round was sent
    assert device == "https://w3id.org/heila/device/meter-1"


def test_load_profile_captures_arrive_at_their_capture_times(
    meter: Meter, field_hub: FieldHub, read_meter: Bridge
) -> None:
    eventually(lambda: len(meter.profile.buffer) >= 3)
    captured = {row[0].value.isoformat().replace("+00:00", "Z") for row in meter.profile.buffer}

    def stored_captures() -> set[str]:
        rows = readings(field_hub, "meter-1.energy-import")
        return {str(row[3]).replace("+00:00", "Z") for row in rows} & captured

    assert len(eventually(lambda: len(stored_captures()) >= 2 and stored_captures())) >= 2


@pytest.fixture
def quick_meter() -> Iterator[Meter]:
    """A meter that captures its load profile every 0.3 s, faster than the bridge reads it."""
    with simulated_meter(capture_period=0.3) as quick:
        yield quick


def as_sent(stamp: datetime) -> datetime:
    """A capture's time as the meter sends it: a COSEM date-time holds hundredths of a second."""
    return stamp.replace(microsecond=stamp.microsecond // 10_000 * 10_000)


def test_captures_less_than_a_second_apart_are_each_stored_once(
    quick_meter: Meter,
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    make_bridge(
        field_hub,
        None,
        maps=[field_hub.publish("meter", meter_map(tmp_path, quick_meter))],
        endpoints={"meter-1": ("127.0.0.1", quick_meter.port)},
    )
    eventually(lambda: len(quick_meter.profile.buffer) >= 10)  # three profile reads or more
    captured = [as_sent(row[0].value) for row in quick_meter.profile.buffer[:10]]

    def stored() -> list[datetime]:
        rows = readings(field_hub, "meter-1.energy-import")
        times = [datetime.fromisoformat(str(row[3])) for row in rows]
        return [time for time in times if time in captured]

    eventually(lambda: set(stored()) == set(captured))
    assert sorted(stored()) == sorted(captured)


def test_an_unknown_obis_code_is_logged_by_name_and_the_rest_flow(
    meter: Meter,
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    unknown = (
        "\npoint:meter-1.reactive-power a dlms:Point ; dlms:meter grid:meter-1 ;"
        ' dlms:obis "1.0.3.7.0.255" ; heila:quantity heila:ReactivePower ;'
        " qudt:unit unit:KiloV-A_Reactive .\n"
    )
    caplog.set_level(logging.WARNING, "heila.bridge.dlms")
    make_bridge(
        field_hub,
        None,
        maps=[field_hub.publish("meter", meter_map(tmp_path, meter, unknown))],
        endpoints={"meter-1": ("127.0.0.1", meter.port)},
    )
    eventually(lambda: readings(field_hub, "meter-1.voltage-l1"))
    assert (
        "meter meter-1: point meter-1.reactive-power (1.0.3.7.0.255:2) not read: "
        "1.0.3.7.0.255 attribute 3: undefined-object: the meter has no such object"
    ) in caplog.text


def test_a_lost_association_is_logged_and_opened_again(
    meter: Meter, read_meter: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "heila.bridge.dlms")
    reader = read_meter.field.clients["dlms"].readers["meter-1"]  # type: ignore[attr-defined]
    eventually(lambda: reader.reads > 0)
    meter.forget_association()
    eventually(lambda: "associated again" in caplog.text)
    assert "meter meter-1: association lost (the meter refused the request" in caplog.text


def test_a_meter_restart_is_logged_and_reading_resumes(
    meter: Meter, read_meter: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "heila.bridge.dlms")
    reader = read_meter.field.clients["dlms"].readers["meter-1"]  # type: ignore[attr-defined]
    eventually(lambda: reader.reads > 0)
    meter.restart()
    eventually(lambda: "associated again" in caplog.text)
    assert "meter meter-1: association lost (connection lost" in caplog.text
    reads = reader.reads
    eventually(lambda: reader.reads > reads)


def test_a_wrong_password_is_logged_with_the_reason(
    meter: Meter,
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "not-the-password")
    caplog.set_level(logging.WARNING, "heila.bridge.dlms")
    make_bridge(
        field_hub,
        None,
        maps=[meter_map(tmp_path, meter)],
        endpoints={"meter-1": ("127.0.0.1", meter.port)},
        wait=None,
    )
    eventually(lambda: "refused the association" in caplog.text)
    assert "meter meter-1: cannot associate with 127.0.0.1:" in caplog.text
    assert "Authentication failure" in caplog.text


def test_a_malformed_obis_code_is_refused_by_name(meter: Meter, tmp_path: Path) -> None:
    path = meter_map(tmp_path, meter)
    path.write_text(path.read_text().replace('"1.0.32.7.0.255"', '"1.0.32.7"'))
    with pytest.raises(pointmap.PointMapError, match=r"meter-1\.voltage-l1 obis"):
        pointmap.load([path])


def test_the_bridge_does_not_start_without_a_meters_password(
    meter: Meter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    command = ["bridge", "--token", "t", "--point-map", str(meter_map(tmp_path, meter))]
    done = subprocess.run(
        [sys.executable, "-m", "hub.commands.cli", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"meter passwords missing from the environment: meter-1 needs {PASSWORD_VARIABLE}" in (
        done.stderr
    )


def test_a_load_profile_read_through_the_hub_gives_the_verifications_slots(
    meter: Meter, field_hub: FieldHub, read_meter: Bridge
) -> None:
    eventually(lambda: len(meter.profile.buffer) >= 4)
    stamps = [row[0].value for row in meter.profile.buffer[:4]]
    counts = [row[1] for row in meter.profile.buffer[:4]]  # in 0.1 Wh: the register's scaler -1
    step = stamps[1] - stamps[0]
    horizon = Horizon(stamps[1], step, 2)

    def energy(point: str) -> list[tuple[datetime, float]]:
        query = meter_query(point, stamps[0], stamps[3] + step)
        return [(datetime.fromisoformat(str(t)), float(v)) for t, v in field_hub.select(query)]

    def captured_in_hub() -> bool:
        stored = {at for at, _ in energy("meter-1.energy-import")}
        return set(stamps) <= stored

    eventually(captured_in_hub)
    slots = metered_slots(energy("meter-1.energy-import"), energy("meter-1.energy-export"), horizon)
    hours = step.total_seconds() / 3600
    expected = [(b - a) * 0.0001 / hours for a, b in itertools.pairwise(counts)]
    assert slots == [
        (pytest.approx(expected[1]), pytest.approx(expected[0])),
        (pytest.approx(expected[2]), pytest.approx(expected[0])),
    ]


def test_an_order_for_a_meter_fails_with_the_reason(
    field_hub: FieldHub, read_meter: Bridge
) -> None:
    order = {
        "type": "ControlSignal",
        "id": f"control-meter-{datetime.now(UTC).timestamp():.0f}",
        "sender": DSO,
        "time": datetime.now(UTC).isoformat(),
        "recipients": [ACTOR],
        "device": "meter-1",
        "action": "open",
    }
    assert field_hub.post(DSO, order).status_code == 201
    outcome = eventually(lambda: read_meter.outcomes and read_meter.outcomes[0])  # type: ignore[attr-defined]
    assert outcome.failed is not None
    assert outcome.reason == "the point map has no command for device meter-1"


def test_a_capture_the_meter_marks_not_valid_is_stored_invalid(
    meter: Meter, field_hub: FieldHub, read_meter: Bridge
) -> None:
    meter.flag_captures(0x04)  # data not valid
    flagged = (
        f"SELECT ?flag WHERE {{ ?r heila:point <{POINT}meter-1.energy-import> ; "
        "heila:quality ?flag }"
    )
    rows = eventually(lambda: field_hub.select(flagged))
    assert {row[0] for row in rows} == {"https://w3id.org/heila/ontology#Invalid"}


def test_profile_status_bits_become_quality_flags() -> None:
    assert quality_flags(0x00) == ()
    assert quality_flags(0x04) == ("invalid",)
    assert quality_flags(0x01 | 0x04 | 0x02) == ("invalid", "notTopical")


def test_a_profile_read_again_from_its_last_capture_delivers_only_the_new_ones() -> None:
    first, second = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    fresh, mark = undelivered([first, second], Mark(first, 1))
    assert (fresh, mark) == ([1], Mark(second, 1))


def test_captures_stamped_alike_are_each_delivered_once() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    _, mark = undelivered([at], None)
    fresh, mark = undelivered([at, at, at + timedelta(seconds=1)], mark)
    assert (fresh, mark) == ([1, 2], Mark(at + timedelta(seconds=1), 1))
