"""Service Provider Platform (SPP): the day's Weather and Flexibility Market Price Forecasts.

It publishes both for a horizon that starts at a modelled hour (midnight by default: a
day-ahead forecast), then again one modelled day later.
"""

import argparse
from datetime import timedelta

from actors.actor import Actor
from actors.clock import Clock
from actors.profiles import flexibility_price, irradiance, temperature, wind_speed
from heila_client import objects
from heila_client.parts import Horizon, envelope, now, series

DEFAULT_ID = "spp-1"


def weather_slots(hours: list[float]) -> list[objects.WeatherSlot]:
    return [
        {
            "index": index,
            "temperature": round(temperature(hour), 2),
            "irradiance": round(irradiance(hour), 1),
            "windSpeed": round(wind_speed(hour), 2),
        }
        for index, hour in enumerate(hours)
    ]


def price_slots(hours: list[float]) -> list[objects.PriceSlot]:
    return [
        {"index": index, "price": round(flexibility_price(hour), 2)}
        for index, hour in enumerate(hours)
    ]


def forecasts(
    sender: str,
    horizon: Horizon,
    clock: Clock,
    location: str,
    weather_to: list[str],
    prices_to: list[str],
) -> tuple[objects.WeatherForecast, objects.FlexibilityMarketPriceForecast]:
    """The Weather Forecast and the Flexibility Market Price Forecast of one horizon."""
    hours = clock.slot_hours(horizon)
    weather: objects.WeatherForecast = {
        "type": "WeatherForecast",
        **envelope("weather", sender, weather_to),
        "location": location,
        **series(horizon, weather_slots(hours)),
    }
    prices: objects.FlexibilityMarketPriceForecast = {
        "type": "FlexibilityMarketPriceForecast",
        **envelope("prices", sender, prices_to),
        "location": location,
        "currency": "EUR",
        **series(horizon, price_slots(hours)),
    }
    return weather, prices


def horizon(clock: Clock, start_hour: float, hours: float, step_minutes: float) -> Horizon:
    """The next horizon: from the next modelled `start_hour`, `hours` long, in equal steps."""
    step = clock.real(timedelta(minutes=step_minutes))
    return Horizon(clock.next(start_hour, now()), step, round(hours * 60 / step_minutes))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--location", default="feeder-1", help="the grid location forecast")
    parser.add_argument("--start-hour", type=float, default=0.0, help="modelled hour it starts")
    parser.add_argument("--hours", type=float, default=24.0, help="modelled hours it covers")
    parser.add_argument("--step-minutes", type=float, default=15.0, help="modelled slot length")
    parser.add_argument("--weather-to", default="mgms-1,cems-1,dms-1", help="recipients")
    parser.add_argument("--prices-to", default="ams-1,dms-1", help="recipients")


def install(actor: Actor, args: argparse.Namespace) -> None:
    def publish() -> None:
        ahead = horizon(actor.clock, args.start_hour, args.hours, args.step_minutes)
        for message in forecasts(
            actor.id,
            ahead,
            actor.clock,
            args.location,
            args.weather_to.split(","),
            args.prices_to.split(","),
        ):
            actor.send(message)
        actor.at(now() + actor.clock.real(timedelta(days=1)), publish)

    actor.call(publish)
