"""Distribution Management System (DMS): forecasts its feeder, buys flexibility where the feeder
would be overloaded, and activates what it bought when the product starts.

The feeder's load is the other customers' load (a profile of the modelled day) plus the
operation plans of the sites it expects. Every run of slots above the feeder's limit becomes
a Bid for the largest excess in the run, at a highest price of the forecast's peak over the
run plus the DSO's willingness to pay more. Messages read from the hub are read loosely, as
plain JSON; those it sends are typed.
"""

import argparse
import logging
import math

from actors.actor import Actor
from actors.profiles import bell
from heila_client import objects
from heila_client.parts import (
    Horizon,
    Message,
    Price,
    Product,
    Window,
    envelope,
    horizon_of,
    slot_values,
)

log = logging.getLogger("heila.dms")

DEFAULT_ID = "dms-1"


def background_load(hour: float) -> float:
    """kW drawn on the feeder by customers that send no plan."""
    return 70.0 + 45.0 * bell(hour, 18.0, 2.2) + 15.0 * bell(hour, 8.0, 1.5)


def feeder_load(hours: list[float], plans: list[list[float]]) -> list[float]:
    """The feeder's forecast load per slot: background plus every site's planned import."""
    return [
        background_load(hour) + sum(plan[index] for plan in plans)
        for index, hour in enumerate(hours)
    ]


def congestions(load: list[float], limit: float) -> list[range]:
    """The runs of consecutive slots whose load exceeds `limit`."""
    runs: list[range] = []
    first: int | None = None
    for index, value in enumerate([*load, -math.inf]):
        if value > limit and first is None:
            first = index
        elif value <= limit and first is not None:
            runs.append(range(first, index))
            first = None
    return runs


def needed(run: range, load: list[float], limit: float, horizon: Horizon) -> Product:
    """Up-flexibility covering the largest excess of a congested run, over the whole run."""
    excess = max(load[index] for index in run) - limit
    window = Window(horizon.slot_start(run.start), horizon.slot_start(run.stop))
    return Product("up", float(math.ceil(excess)), window)


def highest_price(window: Window, forecast: Message, premium: float) -> Price:
    """The forecast's highest price over `window`, raised by `premium`."""
    horizon = horizon_of(forecast)
    prices = [
        price
        for index, price in enumerate(slot_values(forecast, "price"))
        if horizon.slot_start(index) < window.end and horizon.slot_start(index + 1) > window.start
    ]
    return Price(max(prices) * (1.0 + premium), forecast["currency"], "MWH")


class Operator:
    def __init__(
        self,
        actor: Actor,
        feeder: str,
        limit: float,
        sites: set[str],
        market: str,
        premium: float,
    ) -> None:
        self.actor = actor
        self.feeder = feeder
        self.limit = limit
        self.sites = sites
        self.market = market
        self.premium = premium
        self.forecast: Message | None = None
        self.plans: dict[str, Message] = {}
        self.bid_for: set[str] = set()
        """horizon starts already bid for"""
        actor.on("FlexibilityMarketPriceForecast")(self.on_price_forecast)
        actor.on("OperationPlan")(self.on_plan)
        actor.on("ReserveNotification")(self.on_reserve)
        actor.on("VerificationNotification")(self.on_verification)

    def on_price_forecast(self, forecast: Message) -> None:
        self.forecast = forecast
        self.place_bids()

    def on_plan(self, plan: Message) -> None:
        if plan["location"] == self.feeder and plan["sender"] in self.sites:
            self.plans[plan["sender"]] = plan
            self.place_bids()

    def place_bids(self) -> None:
        """Once every expected site has planned the same horizon, bid for each congestion."""
        starts = {plan["start"] for plan in self.plans.values()}
        if self.forecast is None or set(self.plans) != self.sites or len(starts) != 1:
            return
        start = starts.pop()
        if start in self.bid_for:
            return
        self.bid_for.add(start)
        plans = list(self.plans.values())
        horizon = horizon_of(plans[0])
        load = feeder_load(
            self.actor.clock.slot_hours(horizon), [slot_values(p, "power") for p in plans]
        )
        for run in congestions(load, self.limit):
            product = needed(run, load, self.limit, horizon)
            price = highest_price(product.window, self.forecast, self.premium)
            references = [p["id"] for p in plans] + [self.forecast["id"]]
            bid: objects.Bid = {
                "type": "Bid",
                **envelope("bid", self.actor.id, [self.market], references),
                **product.fields(),
                "location": self.feeder,
                "price": price.fields(),
            }
            self.actor.send(bid)

    def on_reserve(self, reserve: Message) -> None:
        """Activate the reserved product when its window starts."""
        product = Product.of(reserve)
        self.actor.at(product.window.start, lambda: self.activate(reserve))

    def activate(self, reserve: Message) -> None:
        offer = self.actor.hub.get(reserve["offer"])
        activation: objects.ActivationNotification = {
            "type": "ActivationNotification",
            **envelope("activation", self.actor.id, [offer["sender"]], [reserve["id"]]),
            **Product.of(reserve).fields(),
            "reserve": reserve["id"],
        }
        self.actor.send(activation)

    def on_verification(self, verification: Message) -> None:
        log.info(
            "%s: %s delivered %s kWh",
            self.actor.id,
            verification["activation"],
            verification["deliveredEnergy"],
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--feeder", default="feeder-1", help="the feeder it watches")
    parser.add_argument("--limit", type=float, default=205.0, help="the feeder's limit, kW")
    parser.add_argument("--sites", default="mgms-1,cems-1", help="actors whose plans it expects")
    parser.add_argument("--market", default="fmp-1", help="the FMP its bids go to")
    parser.add_argument("--premium", type=float, default=0.25, help="share over forecast price")


def install(actor: Actor, args: argparse.Namespace) -> None:
    Operator(actor, args.feeder, args.limit, set(args.sites.split(",")), args.market, args.premium)
