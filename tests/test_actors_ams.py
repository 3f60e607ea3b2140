"""Pricing at the Aggregator Management System, as plain functions."""

from datetime import UTC, datetime, timedelta

import pytest

from actors.ams import forecast_price, offer_price
from heila_client.parts import Window, rfc3339

START = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
FORECAST = {
    "start": rfc3339(START),
    "end": rfc3339(START + timedelta(hours=4)),
    "timeStep": "PT1H",
    "currency": "EUR",
    "slots": [
        {"index": 0, "price": 70.0},
        {"index": 1, "price": 90.0},
        {"index": 2, "price": 110.0},
        {"index": 3, "price": 80.0},
    ],
}


def window(first_hour: float, hours: float) -> Window:
    start = START + timedelta(hours=first_hour)
    return Window(start, start + timedelta(hours=hours))


def test_forecast_price_is_the_mean_over_the_slots_the_window_touches() -> None:
    assert forecast_price(window(1.5, 1.0), FORECAST) == pytest.approx(100.0)


def test_offer_price_adds_the_margin_to_the_forecast_price() -> None:
    price = offer_price(window(1, 2), FORECAST, margin=0.1)
    assert price is not None
    assert (price.amount, price.currency, price.per) == (pytest.approx(110.0), "EUR", "MWH")


def test_a_window_outside_the_forecast_gets_no_price() -> None:
    assert offer_price(window(5, 1), FORECAST, margin=0.1) is None
