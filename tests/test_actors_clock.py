"""Modelled time of day, and the slot grid of forecasts and plans."""

from datetime import UTC, datetime, timedelta

import pytest

from actors.clock import Clock
from heila_client.parts import Horizon, duration, span

ORIGIN = datetime(2026, 11, 26, tzinfo=UTC)


def test_at_speed_one_the_modelled_hour_is_the_hour_of_the_day() -> None:
    assert Clock(ORIGIN).hour(ORIGIN + timedelta(hours=17, minutes=30)) == pytest.approx(17.5)


def test_a_fast_clock_passes_a_quarter_hour_in_half_a_second() -> None:
    clock = Clock(ORIGIN, speed=1800)
    assert clock.hour(ORIGIN + timedelta(seconds=0.5)) == pytest.approx(0.25)


def test_the_modelled_day_repeats() -> None:
    clock = Clock(ORIGIN, speed=3600)
    assert clock.hour(ORIGIN + timedelta(seconds=25)) == pytest.approx(1.0)


def test_next_finds_the_coming_modelled_hour() -> None:
    clock = Clock(ORIGIN, speed=3600)
    assert clock.next(16.0, ORIGIN + timedelta(seconds=17)) == ORIGIN + timedelta(seconds=40)


def test_a_horizon_knows_the_hour_at_the_middle_of_each_slot() -> None:
    horizon = Horizon(ORIGIN, timedelta(hours=1), 3)
    assert Clock(ORIGIN).slot_hours(horizon) == pytest.approx([0.5, 1.5, 2.5])


def test_durations_survive_the_round_trip_through_text() -> None:
    assert span(duration(timedelta(seconds=0.5))) == timedelta(seconds=0.5)
    assert span("P1DT2H15M") == timedelta(days=1, hours=2, minutes=15)


def test_a_moment_before_the_horizon_lies_in_a_slot_before_the_first() -> None:
    horizon = Horizon(ORIGIN, timedelta(minutes=15), 4)
    assert horizon.index(ORIGIN - timedelta(minutes=1)) == -1
