"""The simulated substation: a physical model that answers commands, served over IEC 104."""

import random
import threading
from importlib import resources
from pathlib import Path

import c104
import pytest

from substation import config
from substation.model import Breaker, Feeder, FeederSpec, Grid
from substation.server import Substation

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


def test_a_client_interrogating_the_station_gets_every_point(substation: Substation) -> None:
    served = substation.config.stations[0]
    received: set[int] = set()
    done = threading.Event()

    def on_new_point(
        client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type
    ) -> None:
        received.add(io_address)
        station.add_point(io_address=io_address, type=point_type)
        if len(received) == 2 * 15:
            done.set()

    client = c104.Client()
    client.on_new_point(callable=on_new_point)
    connection = client.add_connection(served.host, served.port, init=c104.Init.INTERROGATION)
    assert connection is not None
    connection.add_station(common_address=served.common_address)
    client.start()
    try:
        assert done.wait(5)
    finally:
        client.stop()
    assert {1000, 1011, 1015, 2000, 2015} <= received
