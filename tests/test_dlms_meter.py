"""The simulated DLMS/COSEM meter, read over real TCP by the bridge's association."""

import itertools
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from bridge_fixtures import eventually
from conftest import METER_PASSWORD

from actors.bridge.dlms.association import (
    AccessError,
    Association,
    AssociationLost,
    DlmsError,
    Endpoint,
)
from hub.mqtt.broker import free_port
from substation.meter import CLOCK, LOAD_PROFILE, PROFILE_STATUS, Meter, MeterConfig
from substation.model import Feeder, FeederSpec

PASSWORD = METER_PASSWORD


@pytest.fixture
def association(meter: Meter) -> Iterator[Association]:
    opened = Association(Endpoint("127.0.0.1", meter.port, password=PASSWORD), timeout=2.0)
    opened.open()
    yield opened
    opened.close()


def test_a_register_comes_with_its_scaler_and_unit(association: Association) -> None:
    raw, scaler_unit = association.register("1.0.32.7.0.255")
    assert (scaler_unit.scaler, scaler_unit.unit_name) == (-1, "VOLTAGE")
    assert 200 < scaler_unit.apply(raw) < 240
    assert scaler_unit.apply(raw) == Decimal(raw) / 10


def test_the_energy_register_counts_the_feeders_import(
    meter: Meter, association: Association
) -> None:
    first, scaler_unit = association.register("1.0.1.8.0.255")
    eventually(lambda: association.register("1.0.1.8.0.255")[0] > first)
    assert scaler_unit.unit_name == "ACTIVE_ENERGY"
    assert association.register("1.0.2.8.0.255")[0] == 0  # a feeder that only imports


def test_the_clock_carries_its_offset_from_utc(association: Association) -> None:
    clock = association.clock()
    assert abs(clock - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_load_profile_is_read_by_range(meter: Meter, association: Association) -> None:
    start = datetime.now(UTC)
    eventually(lambda: len(meter.profile.buffer) >= 3)
    columns, rows = association.profile(LOAD_PROFILE, start, datetime.now(UTC))
    assert columns == [
        (CLOCK, 2),
        ("1.0.1.8.0.255", 2),
        ("1.0.2.8.0.255", 2),
        (PROFILE_STATUS, 2),
    ]
    stamps = [row[0].value for row in rows]
    assert stamps and all(start - timedelta(seconds=1) <= stamp for stamp in stamps)
    assert [row[1] for row in rows] == sorted(row[1] for row in rows)


def test_each_capture_holds_the_count_at_its_boundary() -> None:
    """A steady 120 kW feeder over 0.3 s periods counts 10 Wh (100 tenths) between captures,
    however late after a boundary the meter's 200 ms steps come to take them."""
    config = MeterConfig(port=0, capture_period=0.3, step_ms=200)
    steady = Meter(config, Feeder(FeederSpec("feeder-1", load_kw=120.0)), steps_model=False)
    steady.start()
    try:
        eventually(lambda: len(steady.profile.buffer) >= 6)
    finally:
        steady.stop()
    pairs = list(itertools.pairwise(steady.profile.buffer))
    gaps = [(later[0].value - earlier[0].value).total_seconds() for earlier, later in pairs]
    assert gaps == [pytest.approx(0.3, abs=0.001)] * len(pairs)
    assert all(abs(later[1] - earlier[1] - 100) <= 1 for earlier, later in pairs)


def test_an_unknown_obis_code_is_an_access_error_that_names_it(association: Association) -> None:
    with pytest.raises(AccessError, match=r"1\.0\.99\.99\.0\.255 attribute 3: undefined-object"):
        association.register("1.0.99.99.0.255")


def test_a_wrong_password_is_refused(meter: Meter) -> None:
    refused = Association(Endpoint("127.0.0.1", meter.port, password="not-it"), timeout=2.0)
    with pytest.raises(DlmsError, match="refused the association"):
        refused.open()


def test_a_lost_association_is_told_and_the_connection_dropped(
    meter: Meter, association: Association
) -> None:
    meter.forget_association()
    with pytest.raises(AssociationLost):
        association.register("1.0.1.8.0.255")
    assert not association.is_open


def test_a_restarted_meter_keeps_its_energy(meter: Meter, association: Association) -> None:
    before = association.register("1.0.1.8.0.255")[0]
    meter.restart()
    with pytest.raises(DlmsError):
        association.register("1.0.1.8.0.255")
    again = Association(Endpoint("127.0.0.1", meter.port, password=PASSWORD), timeout=2.0)
    again.open()
    assert again.register("1.0.1.8.0.255")[0] >= before
    again.close()


def test_simulate_meter_refuses_a_port_in_use() -> None:
    port = free_port()
    config = MeterConfig(port=port)
    taken = Meter(config, Feeder(FeederSpec("feeder-1")))
    taken.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hub.commands.cli", "simulate-meter", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        taken.stop()
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
