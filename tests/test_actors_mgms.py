"""Planning, flexibility and verification of the MGMS (and CEMS), as plain functions."""

from datetime import UTC, datetime, timedelta

import pytest

from actors.cems import HOUSEHOLD
from actors.clock import Clock
from actors.mgms import (
    MICROGRID,
    baseline,
    count_at,
    delivered_energy,
    flexibility,
    held_average,
    metered_slots,
    peak_run,
    planned_import,
    setpoint,
    verification_horizon,
    verification_slots,
)
from heila_client.parts import Horizon, Product, Window

T0 = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_sunshine_lowers_the_import() -> None:
    dark, sunny = planned_import(MICROGRID, [12.0, 12.0], [0.0, 0.0], [0.0, 800.0])
    assert dark - sunny == pytest.approx(MICROGRID.pv_kwp * 0.8)


def test_cold_raises_the_import() -> None:
    mild, cold = planned_import(HOUSEHOLD, [12.0, 12.0], [10.0, -10.0], [0.0, 0.0])
    assert cold - mild == pytest.approx(HOUSEHOLD.heating_kw_per_degree * 20)


def test_the_peak_run_has_the_largest_total_import() -> None:
    assert peak_run([1.0, 5.0, 1.0, 4.0, 4.0, 1.0], 2) == range(3, 5)


def test_flexibility_spans_the_peak_and_is_limited_by_the_devices_energy() -> None:
    clock = Clock(T0, 1.0)
    quarters = Horizon(T0, timedelta(minutes=15), 24)
    plan = [50.0] * 10 + [100.0] * 12 + [50.0] * 2
    product = flexibility(MICROGRID, quarters, plan, clock)
    assert product.window == Window(at(10 * 900), at(22 * 900))
    assert product.power == pytest.approx(MICROGRID.flex_kwh / MICROGRID.flex_hours, abs=0.1)


def test_flexibility_is_limited_by_the_devices_rating() -> None:
    quarters = Horizon(T0, timedelta(minutes=15), 24)
    product = flexibility(HOUSEHOLD, quarters, [1.0] * 24, Clock(T0, 1.0))
    assert product.power == HOUSEHOLD.flex_kw


def test_up_flexibility_feeds_the_grid_and_down_draws_from_it() -> None:
    window = Window(at(0), at(60))
    assert setpoint(Product("up", 30.0, window)) == 30.0
    assert setpoint(Product("down", 30.0, window)) == -30.0


def test_a_held_reading_counts_until_the_next_one() -> None:
    readings = [(at(-5), 100.0), (at(2), 60.0)]
    assert held_average(readings, at(0), at(4)) == pytest.approx((2 * 100.0 + 2 * 60.0) / 4)


def test_nothing_read_gives_no_average() -> None:
    assert held_average([(at(5), 1.0)], at(0), at(4)) is None


def test_the_baseline_is_the_last_reading_before_the_window() -> None:
    assert baseline([(at(-9), 90.0), (at(-1), 100.0), (at(1), 70.0)], at(0)) == 100.0


def test_delivered_energy_counts_import_avoided_for_up() -> None:
    slots = [(70.0, 100.0), (80.0, 100.0)]
    assert delivered_energy("up", slots, timedelta(minutes=30)) == pytest.approx(25.0)


def test_delivered_energy_is_never_negative() -> None:
    assert delivered_energy("up", [(120.0, 100.0)], timedelta(hours=1)) == 0.0


def test_delivered_energy_counts_import_added_for_down() -> None:
    assert delivered_energy("down", [(130.0, 100.0)], timedelta(hours=1)) == pytest.approx(30.0)


def test_verification_slots_are_quarter_hours_that_fill_the_window() -> None:
    horizon = verification_horizon(Window(at(0), at(4200)), Clock(T0, 1.0))
    assert (horizon.slots, horizon.end) == (5, at(4200))


def test_verification_compares_measured_power_with_the_meter_before() -> None:
    horizon = Horizon(at(0), timedelta(seconds=2), 2)
    readings = [(at(-1), 100.0), (at(1), 60.0)]
    slots = verification_slots(readings, horizon, fallback=[0.0, 0.0])
    assert slots == [(pytest.approx(80.0), 100.0), (pytest.approx(60.0), 100.0)]


def test_without_readings_nothing_counts_as_delivered() -> None:
    horizon = Horizon(at(0), timedelta(seconds=2), 2)
    slots = verification_slots([], horizon, fallback=[95.0, 97.0])
    assert slots == [(95.0, 95.0), (97.0, 97.0)]


def test_a_registers_count_is_linear_between_its_readings() -> None:
    assert count_at([(at(0), 10.0), (at(4), 12.0)], at(1)) == pytest.approx(10.5)


def test_no_count_is_guessed_outside_the_readings() -> None:
    assert count_at([(at(0), 10.0), (at(4), 12.0)], at(5)) is None


def test_metered_slots_are_the_net_energy_counted_per_slot_as_mean_power() -> None:
    horizon = Horizon(at(0), timedelta(minutes=15), 2)
    imported = [(at(-900), 0.0), (at(0), 25.0), (at(900), 40.0), (at(1800), 60.0)]
    exported = [(at(-900), 1.0), (at(1800), 1.0)]
    slots = metered_slots(imported, exported, horizon)
    assert slots == [(pytest.approx(60.0), pytest.approx(100.0)), (pytest.approx(80.0), 100.0)]


def test_a_meter_that_does_not_cover_the_window_gives_no_slots() -> None:
    horizon = Horizon(at(0), timedelta(minutes=15), 2)
    imported = [(at(-900), 0.0), (at(900), 40.0)]
    assert metered_slots(imported, [(at(-900), 0.0), (at(1800), 0.0)], horizon) is None
