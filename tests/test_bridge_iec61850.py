"""IEC 61850 MMS through the bridge: a simulated IED over real TCP, its map made from its ICD."""

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bridge_fixtures import (
    DSO,
    Cable,
    FieldHub,
    MakeBridge,
    edited_copy,
    eventually,
    free_port,
)
from test_bridge_control import FAILED, control_signal, outcome_of

from actors.bridge import control, pointmap
from actors.bridge.dlms.association import Association, Endpoint
from actors.bridge.iec61850 import scl, units
from actors.bridge.iec61850.native import iec
from actors.bridge.iec61850.values import quality_flags
from hub.commands.cli import main
from substation import config as substation_config
from substation.ied import Ied
from substation.meter import METER_PASSWORD
from substation.model import Breaker

ICD = scl.SIMULATED_IED
STATION = "ied-1"
EXECUTED = "https://w3id.org/heila/ontology#Executed"
POINT = "https://w3id.org/heila/point/"
ENERGY_IMPORT = "1.0.1.8.0.255"


@pytest.fixture
def ied() -> Iterator[Ied]:
    """The shipped substation-1's feeders as an IED on a free port, its noise kept quiet."""
    shipped = substation_config.load()
    station = replace(shipped.stations[0], port=free_port())
    running = Ied(station, seed=shipped.seed, deadband_percent=50.0)
    running.start()
    yield running
    running.close()


def ied_map(folder: Path, ied: Ied, port: int | None = None, **edits: str) -> Path:
    """The point map `heila pointmap from-scl` makes from the shipped ICD for this IED (reached at
    `port`, the IED's own by default); `edits` replace text in it, as an engineer would."""
    graph = scl.point_map(scl.read(ICD), STATION, "127.0.0.1", port or ied.port, 10.0, 0.2)
    text = graph.serialize(format="turtle")
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path = folder / "ied.ttl"
    path.write_text(text)
    return path


def reading(hub: FieldHub, point: str) -> tuple[Any, ...]:
    """A reading of the point, with the unit its published point map gives."""
    rows = hub.select(
        "SELECT ?value ?unit ?time WHERE { ?r heila:point <" + POINT + point + "> ; "
        "rdf:value ?value ; heila:measuredAt ?time . <" + POINT + point + "> qudt:unit ?unit }"
    )
    return rows[0] if rows else ()


def test_the_shipped_icd_makes_a_point_map_that_passes_its_shape() -> None:
    graph = scl.point_map(scl.read(ICD), STATION, "127.0.0.1", 102, 10.0, 1.0)
    assert pointmap.check(graph) == []


def test_the_map_from_the_icd_names_every_measurement_and_control() -> None:
    graph = scl.point_map(scl.read(ICD), STATION, "127.0.0.1", 102, 10.0, 1.0)
    loaded = pointmap.index(graph)
    power = loaded.points["ied-1.feeder-1.active-power"]
    breaker = loaded.commands["breaker-1"]
    assert (len(loaded.points), len(loaded.commands)) == (32, 4)
    assert (power.address, power.type, power.unit, power.scale, power.location) == (
        "HEILALD0/MMXU1.TotW.mag.f",
        "MX",
        "KiloW",
        0.001,
        "feeder-1",
    )
    assert (breaker.address, breaker.control_model) == (
        "HEILALD0/CSWI1.Pos",
        "sbo-with-enhanced-security",
    )


def test_each_measured_value_takes_the_unit_its_scl_declares() -> None:
    loaded = pointmap.index(scl.point_map(scl.read(ICD), STATION, "127.0.0.1", 102, 10.0, 1.0))
    units = {
        name: (
            loaded.points[f"ied-1.feeder-1.{name}"].unit,
            loaded.points[f"ied-1.feeder-1.{name}"].scale,
        )
        for name in ("active-power", "resource-power", "voltage-l1", "frequency")
    }
    assert units == {
        "active-power": ("KiloW", 0.001),  # W, as MMXU's type declares it
        "resource-power": ("KiloW", 1.0),  # W with multiplier k, as ZBAT1's instance declares it
        "voltage-l1": ("V", 1.0),
        "frequency": ("HZ", 1.0),
    }


def test_a_set_point_declared_in_kilowatts_is_sent_in_kilowatts(tmp_path: Path) -> None:
    model = '<DAI name="ctlModel"><Val>direct-with-normal-security</Val></DAI>'
    kilo = '<SDI name="units"><DAI name="multiplier"><Val>k</Val></DAI></SDI>'
    icd = edited_icd(tmp_path, model, model + kilo)
    loaded = pointmap.index(scl.point_map(scl.read(icd), STATION, "127.0.0.1", 102, 10.0, 1.0))
    setpoint = loaded.commands["battery-1"]
    assert setpoint.scale == 1.0
    assert setpoint.feedback.scale == 1.0
    assert loaded.commands["battery-2"].scale == 0.001  # W, as the APC's type declares it


def test_a_multiplier_scales_a_value_into_the_ontologys_unit() -> None:
    assert units.scaling("MMXU1.PhV.phsA", "PhaseVoltage", units.Unit(29, 3)) == ("V", 1000.0)
    assert units.scaling("MMXU1.TotW", "ActivePower", units.Unit(38, 6)) == ("KiloW", 1000.0)


def test_a_value_without_declared_units_is_in_its_quantitys_si_unit() -> None:
    assert units.scaling("MMXU1.TotVAr", "ReactivePower", units.Unit(None, 0)) == (
        "KiloV-A_Reactive",
        0.001,
    )


def edited_icd(folder: Path, old: str, new: str) -> Path:
    """The shipped ICD with the first `old` replaced: the first is feeder-1's."""
    return edited_copy(ICD, folder / "relay.icd", old, new)


def test_a_unit_that_does_not_measure_the_quantity_is_refused_naming_the_data_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hertz = '<BDA name="SIUnit" bType="Enum" type="SIUnit"><Val>Hz</Val></BDA>'
    icd = edited_icd(tmp_path, hertz, hertz.replace("Hz", "V"))
    assert main(["pointmap", "from-scl", str(icd)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith(
        "HEILALD0/MMXU1.Hz: units SIUnit 29 (V) does not measure Frequency, which is given in Hz"
    )


def test_a_unit_the_enumeration_does_not_name_is_refused_naming_the_data_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    icd = edited_icd(tmp_path, "<Val>k</Val>", "<Val>kilo</Val>")
    assert main(["pointmap", "from-scl", str(icd)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("HEILALD0/ZBAT1.W: units multiplier 'kilo' is not in its enumeration")
    )


def test_iec_61850_quality_becomes_the_flags_iec_104_would_give() -> None:
    quality = iec.QUALITY_VALIDITY_INVALID | iec.QUALITY_DETAIL_OLD_DATA
    quality |= iec.QUALITY_SOURCE_SUBSTITUTED | iec.QUALITY_OPERATOR_BLOCKED
    assert quality_flags(quality) == ("invalid", "notTopical", "blocked", "substituted")


def test_a_questionable_value_alone_has_no_flag() -> None:
    assert quality_flags(iec.QUALITY_VALIDITY_QUESTIONABLE) == ()


def test_pointmap_refuses_a_file_that_is_no_scl_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "relay.icd"
    bad.write_text("<html/>")
    assert main(["pointmap", "from-scl", str(bad)]) == 2
    assert capsys.readouterr().err.strip().endswith("not an SCL file (its root is html)")


def test_pointmap_writes_a_map_the_bridge_accepts(tmp_path: Path) -> None:
    written = tmp_path / "ied.ttl"
    made = ["pointmap", "from-scl", str(ICD), "--station", STATION, "--output", str(written)]
    assert main(made) == 0
    assert main(["bridge", "--point-map", str(written), "--check"]) == 0


def test_reported_measurements_land_with_their_unit_and_utc_time(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    make_bridge(field_hub, ied, maps=[field_hub.publish("ied", ied_map(tmp_path, ied))])
    value, unit, time = eventually(lambda: reading(field_hub, "ied-1.feeder-1.active-power"))
    expected = ied.feeder("feeder-1").readings(ied._grid.noise)["activePower"]
    assert unit == "http://qudt.org/vocab/unit/KiloW"
    assert abs(float(value) - expected) < 0.02 * expected
    assert abs(datetime.fromisoformat(str(time)) - datetime.now(UTC)) < timedelta(minutes=1)


def test_an_ied_serving_one_feeder_of_its_station_reports_it_as_the_stations_icd_says(
    field_hub: FieldHub, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    station = replace(substation_config.load().stations[0], port=free_port())
    second = Ied(station, deadband_percent=50.0, serves=frozenset({"feeder-2"}))
    second.start()
    try:
        make_bridge(field_hub, second, maps=[field_hub.publish("ied", ied_map(tmp_path, second))])
        value, unit, _ = eventually(lambda: reading(field_hub, "ied-1.feeder-2.active-power"))
        assert unit == "http://qudt.org/vocab/unit/KiloW" and float(value) > 0
        assert second.feeders == ["feeder-2"]
    finally:
        second.close()


def test_a_point_in_no_report_is_polled(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    make_bridge(field_hub, ied, maps=[field_hub.publish("ied", ied_map(tmp_path, ied))])
    value, unit, _ = eventually(lambda: reading(field_hub, "ied-1.feeder-1.state-of-charge"))
    assert (float(value), unit) == (50.0, "http://qudt.org/vocab/unit/PERCENT")


def test_an_invalid_value_keeps_its_flag(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied)])
    ied.set_quality("feeder-1", "voltage3", iec.QUALITY_VALIDITY_INVALID)
    rows = eventually(
        lambda: field_hub.select(
            "SELECT ?flag WHERE { ?r heila:point <" + POINT + "ied-1.feeder-1.voltage-l3> ; "
            "heila:quality ?flag }"
        )
    )
    assert rows[0][0] == "https://w3id.org/heila/ontology#Invalid"


@pytest.mark.parametrize(
    ("device", "feeder"), [("breaker-1", "feeder-1"), ("breaker-2", "feeder-2")]
)
def test_a_select_before_operate_breaker_command_is_confirmed_and_recorded(
    field_hub: FieldHub,
    ied: Ied,
    make_bridge: MakeBridge,
    tmp_path: Path,
    device: str,
    feeder: str,
) -> None:
    """breaker-1 is controlled with enhanced security, breaker-2 with normal security."""
    make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied)])
    signal = control_signal(device=device, action="open")
    assert field_hub.post(DSO, signal).status_code == 201
    state, _ = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, ied.feeder(feeder).breaker) == (EXECUTED, Breaker.OPEN)


def test_a_set_point_is_confirmed_and_recorded(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied)])
    signal = control_signal(device="battery-1", action="setActivePower", setpoint=25.0)
    assert field_hub.post(DSO, signal).status_code == 201
    state, _ = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, ied.feeder("feeder-1").setpoint_kw) == (EXECUTED, 25.0)


def test_an_order_while_the_ied_restarts_fails_and_the_association_opens_again(
    field_hub: FieldHub,
    ied: Ied,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(control, "INTERROGATION_WAIT", 0.5)
    bridge = make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied)])
    station = bridge.point_map.stations[0]
    with caplog.at_level(logging.INFO, logger="heila.bridge.iec61850"):
        ied.stop()
        eventually(lambda: bridge.field.away_for(station) > 0.5)
        signal = control_signal(device="breaker-1", action="open")
        assert field_hub.post(DSO, signal).status_code == 201
        state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
        ied.start()
        eventually(lambda: bridge.field.connected)
    assert (state, reason) == (FAILED, "station ied-1 away: no link to it")
    assert f"IEC 61850 association with ied-1 (127.0.0.1:{ied.port}) lost" in caplog.text
    assert f"IEC 61850 association with ied-1 (127.0.0.1:{ied.port}) open" in caplog.text


def test_an_order_after_the_association_is_lost_fails_and_the_loss_is_logged(
    field_hub: FieldHub,
    ied: Ied,
    make_bridge: MakeBridge,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(control, "INTERROGATION_WAIT", 0.5)
    cable = Cable(("127.0.0.1", ied.port))
    bridge = make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied, port=cable.port)])
    with caplog.at_level(logging.WARNING, logger="heila.bridge.iec61850"):
        cable.target = ("127.0.0.1", free_port())  # nothing answers there: the link stays down
        cable.cut()
        eventually(lambda: bridge.field.away_for(bridge.point_map.stations[0]) > 0.5)
        signal = control_signal(device="battery-2", action="setActivePower", setpoint=5.0)
        assert field_hub.post(DSO, signal).status_code == 201
        state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    cable.close()
    assert (state, reason) == (FAILED, "station ied-1 away: no link to it")
    assert f"IEC 61850 association with ied-1 (127.0.0.1:{cable.port}) lost" in caplog.text


def test_an_order_for_an_unknown_reference_fails_and_is_named(
    field_hub: FieldHub,
    ied: Ied,
    make_bridge: MakeBridge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unknown = {
        'iec61850:reference "HEILALD0/GGIO1.AnOut1"': 'iec61850:reference "HEILALD0/GGIO9.AnOut1"'
    }
    with caplog.at_level(logging.ERROR, logger="heila.bridge.iec61850"):
        make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied, **unknown)])
        signal = control_signal(device="battery-1", action="setActivePower", setpoint=10.0)
        assert field_hub.post(DSO, signal).status_code == 201
        state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    expected = "the IED ied-1 has no control object HEILALD0/GGIO9.AnOut1"
    assert (state, reason) == (FAILED, expected)
    assert expected in caplog.text


def test_an_ied_whose_control_model_is_not_the_maps_fails_the_order_naming_both(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    other = {'"sbo-with-enhanced-security"': '"direct-with-normal-security"'}
    make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied, **other)])
    signal = control_signal(device="breaker-1", action="open")
    assert field_hub.post(DSO, signal).status_code == 201
    state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, reason, ied.feeder("feeder-1").breaker) == (
        FAILED,
        "control object HEILALD0/CSWI1.Pos is sbo-with-enhanced-security, "
        "the point map says direct-with-normal-security",
        Breaker.CLOSED,
    )


def test_simulate_ied_serves_on_its_port_and_refuses_an_unknown_station() -> None:
    port = free_port()
    command = [sys.executable, "-m", "hub.commands.cli", "simulate-ied", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"IED HEILA (substation-1) on 127.0.0.1:{port}"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    refused = subprocess.run(
        [*command, "--station", "substation-9"], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("heila simulate-ied: --station substation-9:")


def test_simulate_ied_serves_a_meter_that_counts_its_feeders_import() -> None:
    port, meter_port = free_port(), free_port()
    command = [sys.executable, "-m", "hub.commands.cli", "simulate-ied", "--port", str(port)]
    metered = [*command, "--meter", f"feeder-1={meter_port}"]
    password = {**os.environ, METER_PASSWORD: "ied-meter-password"}
    server = subprocess.Popen(metered, stdout=subprocess.PIPE, text=True, env=password)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        assert server.stdout.readline().strip() == f"meter of feeder-1 on 127.0.0.1:{meter_port}"
        meter = Association(Endpoint("127.0.0.1", meter_port, password="ied-meter-password"))
        meter.open()
        try:
            counted = meter.register(ENERGY_IMPORT)[0]
            eventually(lambda: meter.register(ENERGY_IMPORT)[0] > counted)
        finally:
            meter.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_simulate_ied_refuses_a_meter_of_a_feeder_it_has_not_in_one_line() -> None:
    command = [sys.executable, "-m", "hub.commands.cli", "simulate-ied", "--port", str(free_port())]
    refused = subprocess.run(
        [*command, "--meter", "feeder-9=4059"], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("heila simulate-ied: --meter 'feeder-9=4059':")


def test_a_select_the_ied_refuses_fails_the_order_with_the_ieds_cause(
    field_hub: FieldHub, ied: Ied, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    make_bridge(field_hub, ied, maps=[ied_map(tmp_path, ied)])
    ied.interlocked = True
    signal = control_signal(device="breaker-1", action="open")
    assert field_hub.post(DSO, signal).status_code == 201
    state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, reason, ied.feeder("feeder-1").breaker) == (
        FAILED,
        "the IED ied-1 refused the select of HEILALD0/CSWI1.Pos: temporarily unavailable, "
        "cause blocked by interlocking",
        Breaker.CLOSED,
    )
