"""The SPP's forecasts: a deterministic day, sent as valid messages."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from actors.clock import Clock
from actors.profiles import flexibility_price, irradiance, temperature
from actors.spp import forecasts
from heila_client.parts import Horizon
from hub.model import message

MIDNIGHT = datetime(2026, 11, 26, tzinfo=UTC)


def test_there_is_no_sunshine_at_night() -> None:
    assert irradiance(2.0) == 0.0
    assert irradiance(23.0) == 0.0


def test_the_sun_peaks_after_noon() -> None:
    assert irradiance(12.5) == max(irradiance(h / 4) for h in range(96))


def test_the_afternoon_is_warmer_than_the_dawn() -> None:
    assert temperature(15.0) > temperature(5.0)


def test_flexibility_is_dearest_in_the_evening_peak() -> None:
    dearest = max(range(96), key=lambda quarter: flexibility_price(quarter / 4))
    assert 18.0 <= dearest / 4 <= 19.0


@pytest.mark.parametrize("which", [0, 1])
def test_each_forecast_is_a_valid_message(which: int) -> None:
    horizon = Horizon(MIDNIGHT, timedelta(minutes=15), 96)
    sent = forecasts("spp-1", horizon, Clock(MIDNIGHT), "feeder-1", ["mgms-1"], ["ams-1"])[which]
    parsed = message.accept(json.dumps(sent).encode(), "application/json")
    assert (parsed.id, len(parsed.to_json()["slots"])) == (sent["id"], 96)
