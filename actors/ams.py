"""Aggregator Management System (AMS): turns its prosumers' Flexibility into priced Offers, and
passes activations down and verifications up.

An Offer's price is the forecast flexibility price over its window plus the aggregator's
margin. Who owns a reserved product is read back from the hub (reserve → offer → flexibility),
so the AMS keeps no state that a restart would lose, except the latest price forecast.
What it reads from the hub it reads loosely, as plain JSON; what it sends is typed.
"""

import argparse
import logging

from actors.actor import Actor
from heila_client import objects
from heila_client.parts import Message, Price, Product, Window, envelope, horizon_of, slot_values

log = logging.getLogger("heila.ams")

DEFAULT_ID = "ams-1"


def forecast_price(window: Window, forecast: Message) -> float | None:
    """Mean forecast price (EUR/MWh) over the slots that overlap `window`; None outside it."""
    horizon = horizon_of(forecast)
    prices = slot_values(forecast, "price")
    overlapping = [
        price
        for index, price in enumerate(prices)
        if horizon.slot_start(index) < window.end and horizon.slot_start(index + 1) > window.start
    ]
    return sum(overlapping) / len(overlapping) if overlapping else None


def offer_price(window: Window, forecast: Message, margin: float) -> Price | None:
    """The price asked for flexibility over `window`: the forecast price plus the margin."""
    expected = forecast_price(window, forecast)
    if expected is None:
        return None
    return Price(expected * (1.0 + margin), forecast["currency"], "MWH")


class Aggregator:
    def __init__(self, actor: Actor, market: str, margin: float) -> None:
        self.actor = actor
        self.market = market
        self.margin = margin
        self.forecast: Message | None = None
        self.unpriced: list[Message] = []
        """flexibilities waiting for a price forecast that covers them"""
        actor.on("FlexibilityMarketPriceForecast")(self.on_price_forecast)
        actor.on("Flexibility")(self.on_flexibility)
        actor.on("ActivationNotification")(self.on_activation)
        actor.on("VerificationNotification")(self.on_verification)

    def on_price_forecast(self, forecast: Message) -> None:
        self.forecast = forecast
        waiting, self.unpriced = self.unpriced, []
        for flexibility in waiting:
            self.on_flexibility(flexibility)

    def on_flexibility(self, flexibility: Message) -> None:
        product = Product.of(flexibility)
        forecast = self.forecast
        price = None if forecast is None else offer_price(product.window, forecast, self.margin)
        if forecast is None or price is None:
            self.unpriced.append(flexibility)
            return
        offer: objects.Offer = {
            "type": "Offer",
            **envelope("offer", self.actor.id, [self.market], [flexibility["id"], forecast["id"]]),
            **product.fields(),
            "location": flexibility["location"],
            "price": price.fields(),
            "flexibility": flexibility["id"],
            "validUntil": flexibility["start"],
        }
        self.actor.send(offer)

    def on_activation(self, activation: Message) -> None:
        """The DSO activates a reserved product: tell the prosumer that owns it."""
        reserve = self.actor.hub.get(activation["reserve"])
        offer = self.actor.hub.get(reserve["offer"])
        flexibility = self.actor.hub.get(offer["flexibility"])
        forwarded: objects.ActivationNotification = {
            "type": "ActivationNotification",
            **envelope("activation", self.actor.id, [flexibility["sender"]], [activation["id"]]),
            **Product.of(activation).fields(),
            "reserve": reserve["id"],
        }
        if "device" in flexibility:
            forwarded["device"] = flexibility["device"]
        self.actor.send(forwarded)

    def on_verification(self, verification: Message) -> None:
        """A prosumer verified its delivery: pass it to the DSO that activated, and the market."""
        ours = self.actor.hub.get(verification["activation"])
        original = self.actor.hub.get(ours["references"][0])
        reserve = self.actor.hub.get(original["reserve"])
        recipients = [original["sender"], reserve["sender"]]
        passed: objects.VerificationNotification = {
            "type": "VerificationNotification",
            **envelope("verification", self.actor.id, recipients, [verification["id"]]),
            "start": verification["start"],
            "end": verification["end"],
            "timeStep": verification["timeStep"],
            "slots": verification["slots"],
            "deliveredEnergy": verification["deliveredEnergy"],
            "activation": original["id"],
        }
        self.actor.send(passed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", default="fmp-1", help="the FMP its offers go to")
    parser.add_argument("--margin", type=float, default=0.10, help="share over forecast price")


def install(actor: Actor, args: argparse.Namespace) -> None:
    Aggregator(actor, args.market, args.margin)
