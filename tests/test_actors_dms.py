"""Feeder forecast, congestion and bids at the Distribution Management System."""

from datetime import UTC, datetime, timedelta

import pytest

from actors.dms import background_load, congestions, feeder_load, highest_price, needed
from heila_client.parts import Horizon, Window, rfc3339

START = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
QUARTERS = Horizon(START, timedelta(minutes=15), 8)


def test_feeder_load_adds_every_plan_to_the_background() -> None:
    load = feeder_load([18.0], [[10.0], [2.5]])
    assert load == [pytest.approx(background_load(18.0) + 12.5)]


def test_congestions_are_the_runs_above_the_limit() -> None:
    load = [90.0, 110.0, 120.0, 100.0, 105.0, 101.0]
    assert congestions(load, 100.0) == [range(1, 3), range(4, 6)]


def test_a_feeder_within_its_limit_has_no_congestion() -> None:
    assert congestions([90.0, 100.0], 100.0) == []


def test_the_bid_covers_the_whole_run_with_its_largest_excess_rounded_up() -> None:
    load = [90.0, 110.0, 120.5, 100.0, 0.0, 0.0, 0.0, 0.0]
    product = needed(range(1, 3), load, 100.0, QUARTERS)
    assert product.direction == "up"
    assert product.power == 21.0
    assert product.window == Window(START + timedelta(minutes=15), START + timedelta(minutes=45))


def test_the_highest_price_is_the_forecast_peak_over_the_window_with_the_premium() -> None:
    forecast = {
        "start": rfc3339(START),
        "timeStep": "PT1H",
        "currency": "EUR",
        "slots": [{"index": 0, "price": 80.0}, {"index": 1, "price": 120.0}],
    }
    price = highest_price(Window(START, START + timedelta(minutes=30)), forecast, premium=0.25)
    assert price.amount == pytest.approx(100.0)
