"""The simulated substation: a physical model that answers commands, served over IEC 104."""

import random
import socket
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

import c104
import pytest
from bridge_fixtures import eventually

from hub.commands.cli import main
from hub.mqtt.broker import free_port
from substation import config
from substation.model import Breaker, Feeder, FeederSpec, Grid
from substation.server import MEASURED, Substation

SPEC = FeederSpec(name="f", load_kw=100.0, resource_kw=50.0, ramp_kw_per_s=10.0)


def test_an_open_breaker_drops_current_and_power_to_zero() -> None:
    feeder = Feeder(SPEC, breaker=Breaker.OPEN)
    values = feeder.readings(random.Random(1))
    assert [values[q] for q in ("current1", "activePower", "apparentPower")] == [0.0, 0.0, 0.0]


def test_the_resource_ramps_towards_its_setpoint_at_its_rate() -> None:
    feeder = Feeder(SPEC)
    feeder.set_setpoint(40.0)
    feeder.step(1.0, random.Random(1))
    assert feeder.resource_kw == pytest.approx(10.0)
    for _ in range(10):
        feeder.step(1.0, random.Random(1))
    assert feeder.resource_kw == pytest.approx(40.0)


def test_a_setpoint_beyond_the_rating_is_clamped() -> None:
    assert Feeder(SPEC).set_setpoint(-80.0) == -50.0


def test_voltage_sags_with_load() -> None:
    light, heavy = Feeder(SPEC), Feeder(FeederSpec(name="h", load_kw=400.0))
    noise = random.Random(1)
    assert heavy.readings(noise)["voltage1"] < light.readings(noise)["voltage1"] - 10


def test_one_seed_gives_one_run() -> None:
    def run() -> list[float]:
        grid = Grid({"f": Feeder(SPEC)}, seed=42)
        for _ in range(20):
            grid.step(0.1)
        return list(grid.readings("f").values())

    assert run() == run()


def test_shipped_configuration_has_two_stations_without_overlapping_addresses() -> None:
    shipped = config.load()
    assert [(s.name, s.common_address) for s in shipped.stations] == [
        ("substation-1", 1),
        ("substation-2", 2),
    ]


def test_overlapping_address_blocks_are_refused(tmp_path: Path) -> None:
    shipped = resources.files("substation").joinpath(config.DEFAULT_CONFIG).read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(shipped.replace("first_address = 2000", "first_address = 1010"))
    with pytest.raises(config.ConfigError, match="address blocks overlap"):
        config.load(broken)


def test_a_simulator_of_some_feeders_serves_only_their_stations() -> None:
    served = config.only(config.load(), ["feeder-2", "feeder-pv"])
    assert [(s.name, [f.spec.name for f in s.feeders]) for s in served.stations] == [
        ("substation-1", ["feeder-2"]),
        ("substation-2", ["feeder-pv"]),
    ]
    assert config.only(config.load(), ["feeder-pv"]).stations[0].name == "substation-2"


def test_a_feeder_the_configuration_lacks_is_refused_by_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "--feeder", "feeder-9"]) == 2
    assert "--feeder feeder-9: the configuration has" in capsys.readouterr().err


def test_a_client_interrogating_the_station_gets_every_point(substation: Substation) -> None:
    served = substation.config.stations[0]
    expected = {
        feeder.address(name): c104.Type.M_DP_TB_1 if name == "breaker" else c104.Type.M_ME_TF_1
        for feeder in served.feeders
        for name in (*MEASURED, "breaker")
    }
    received: set[int] = set()
    everything = threading.Event()

    def on_receive(
        point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        received.add(point.io_address)
        if len(received) == len(expected):
            everything.set()
        return c104.ResponseState.NONE

    client = c104.Client(tick_rate_ms=50, command_timeout_ms=500)
    connection = client.add_connection(ip=served.host, port=served.port, init=c104.Init.NONE)
    assert connection is not None
    station = connection.add_station(common_address=served.common_address)
    assert station is not None
    for address, kind in expected.items():
        point = station.add_point(io_address=address, type=kind)
        assert point is not None
        point.on_receive(callable=on_receive)
    client.start()
    try:
        eventually(lambda: connection.is_connected, 5)
        for _attempt in range(3):  # c104 can stay muted or lose an answer (docs/c104.md)
            if connection.is_muted:
                connection.unmute()  # STARTDT again, as the bridge does
            connection.interrogation(common_address=served.common_address, wait_for_response=False)
            if everything.wait(2):
                break
        assert everything.is_set(), sorted(set(expected) - received)
    finally:
        client.stop()


def test_simulate_refuses_a_broken_configuration_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("seed = 1\n[[stations]]\nname = 'x'\n")
    assert main(["simulate", "--config", str(broken)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"heila simulate: {broken}: ") and error.count("\n") == 1


def test_simulate_serves_the_configured_stations(tmp_path: Path) -> None:
    shipped = resources.files("substation").joinpath(config.DEFAULT_CONFIG).read_text()
    ports = [free_port(), free_port()]
    moved = shipped.replace("port = 2404", f"port = {ports[0]}")
    (tmp_path / "stations.toml").write_text(moved.replace("port = 2405", f"port = {ports[1]}"))
    command = [sys.executable, "-m", "hub.commands.cli", "simulate", "--config", "stations.toml"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in ports]
        assert lines == [
            f"station substation-1 (CA 1) on 127.0.0.1:{ports[0]}\n",
            f"station substation-2 (CA 2) on 127.0.0.1:{ports[1]}\n",
        ]
        for port in ports:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        process.terminate()
        process.wait(timeout=10)
