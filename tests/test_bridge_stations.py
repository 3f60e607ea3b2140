"""Stations: a second one described only in its point map, the link over TLS, the command."""

import logging
import queue
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from bridge_fixtures import (
    ACTOR,
    TOKENS,
    FieldHub,
    MakeBridge,
    TlsStation,
    bridge_end,
    certificates,
    default_point_map,
    endpoints,
    eventually,
    running,
    station_config,
    station_end,
)

from actors.bridge import pointmap
from actors.bridge.field import Changes
from actors.bridge.iec104.link import Link
from hub.commands.cli import main
from substation.server import Substation

PV_POWER = (
    "SELECT ?value ?location WHERE { ?m heila:location ?location ; heila:reading ?r . "
    "?r heila:point <https://w3id.org/heila/point/feeder-pv.resource-power> ; rdf:value ?value }"
)


def test_a_second_station_described_only_in_its_point_map_reports_and_obeys(
    field_hub: FieldHub, make_bridge: MakeBridge
) -> None:
    both = Substation(station_config(("substation-1", "substation-2")))
    both.start()
    try:
        maps = [*pointmap.default_files(), pointmap.shipped("substation-2.ttl")]
        # a confirmation is awaited, not timed: on a busy machine it may take over a second
        bridge = make_bridge(field_hub, both, maps=maps, command_timeout=10.0)
        rows = eventually(lambda: field_hub.select(PV_POWER))
        assert rows[0][1] == "https://w3id.org/heila/grid/feeder-pv"
        order = pointmap.load(maps).commands["pv-1"]
        assert bridge.field.operate(order, 20.0)
        eventually(lambda: both.feeder("feeder-pv").setpoint_kw == 20.0)
    finally:
        both.stop()


Authorities = tuple[dict[str, Path], dict[str, Path]]


@pytest.fixture
def authorities(tmp_path: Path) -> Authorities:
    """Two sets of certificates, ours and theirs, each signed by its own CA."""
    return certificates(tmp_path / "ours"), certificates(tmp_path / "theirs", "another CA")


def test_measurements_arrive_over_a_tls_link(
    field_hub: FieldHub, make_bridge: MakeBridge, tls_station: TlsStation
) -> None:
    station, tls = tls_station
    make_bridge(field_hub, station, tls=tls)
    eventually(lambda: field_hub.select(PV_POWER.replace("feeder-pv", "feeder-1")))


@pytest.mark.parametrize(
    ("refused", "reason"),
    [
        ("station", "refused: certificate verify failed: unable to get local issuer certificate"),
        ("bridge", "refused after the handshake (the bridge's certificate?)"),
    ],
    ids=["station signed by another CA", "bridge signed by another CA"],
)
def test_a_certificate_from_another_ca_is_refused_said_once_and_nothing_flows(
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    authorities: Authorities,
    caplog: pytest.LogCaptureFixture,
    refused: str,
    reason: str,
) -> None:
    ours, theirs = authorities
    station_tls = station_end(theirs, trusting=ours) if refused == "station" else station_end(ours)
    bridge_tls = bridge_end(theirs, trusting=ours) if refused == "bridge" else bridge_end(ours)
    with (
        running(Substation(station_config(), tls=station_tls)) as station,
        caplog.at_level(logging.INFO, logger="heila.bridge"),
    ):
        bridge = make_bridge(field_hub, station, tls=bridge_tls, wait=None)
        # the bridge tries again after each refusal: the second is refused too, not logged again
        eventually(lambda: caplog.text.count("CLOSED_AWAIT_RECONNECT") >= 2)
    assert caplog.text.count(reason) == 1
    assert "Traceback" not in caplog.text
    assert not bridge.field.connected
    assert field_hub.store.messages(type="Measurement", limit=1) == []


def test_a_station_reached_by_an_address_its_certificate_does_not_name_is_refused(
    field_hub: FieldHub,
    make_bridge: MakeBridge,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = certificates(tmp_path)  # for 127.0.0.1 and localhost
    config = station_config()
    config = replace(config, stations=(replace(config.stations[0], host="127.0.0.2"),))
    with (
        running(Substation(config, tls=station_end(files))) as station,
        caplog.at_level(logging.WARNING, logger="heila.bridge.tunnel"),
    ):
        make_bridge(field_hub, station, tls=bridge_end(files), wait=None)
        eventually(lambda: "refused: certificate verify failed" in caplog.text)
    assert "IP address mismatch" in caplog.text


def test_a_stopped_tls_link_leaves_no_tunnel_behind(tls_station: TlsStation) -> None:
    station, tls = tls_station
    link = Link(
        default_point_map(),
        queue.SimpleQueue(),
        Changes(),
        endpoints=endpoints(station),
        tls=tls,
    )
    link.start()
    eventually(lambda: link.connected)
    ports = [tunnel.port for tunnel in link.tunnels]
    link.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("tls-tunnel")]
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_bridge_command_runs_on_its_defaults_and_stops_cleanly(
    field_hub: FieldHub, substation: Substation, tmp_path: Path
) -> None:
    station = substation.config.stations[0]
    command = [sys.executable, "-m", "hub.commands.cli", "bridge", "--hub", field_hub.url]
    command += ["--token", TOKENS[ACTOR], "--mqtt", field_hub.mqtt, "--buffer", "buffer"]
    command += ["--endpoint", f"{station.name}={station.host}:{station.port}"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: field_hub.select(PV_POWER.replace("feeder-pv", "feeder-1")))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_the_bridge_command_names_a_tls_file_it_cannot_find(tmp_path: Path) -> None:
    files = certificates(tmp_path)
    command = [sys.executable, "-m", "hub.commands.cli", "bridge", "--token", TOKENS[ACTOR]]
    command += ["--tls-cert", str(tmp_path / "absent.crt"), "--tls-key", str(files["client-key"])]
    command += ["--tls-ca", str(files["ca"])]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert finished.returncode == 2
    assert f"TLS: no file {tmp_path / 'absent.crt'}" in finished.stderr


def test_the_bridge_command_refuses_a_negative_number_of_retries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bridge", "--token", TOKENS[ACTOR], "--command-retries", "-1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "heila bridge: --command-timeout must be positive and --command-retries not negative"
    )
