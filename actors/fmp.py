"""Flexibility Market Platform (FMP): Offer Ranking and market clearing.

A Bid is cleared at gate closure (a modelled hour before its window, or at once when that has
passed): the open offers that can serve it are ranked cheapest first (the merit order) and
published as the Offer List; offers are then accepted down the merit order until the bid's
power is covered, the last one only for what is still missing. Each accepted offer gets a
Reserve Notification to its aggregator and to the bidder, at the offer's price (pay as bid).
An offer is reserved at most once. A bid that no open offer can serve at its gate waits for the
first offer that can, until its window opens: offers and bids race on the bus, and a bid placed
after its gate would otherwise miss an offer sent a moment after it. Offers and bids are read
from the hub loosely, as plain JSON, into a `Tender`; what the market sends is typed.
"""

import argparse
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from actors.actor import Actor
from heila_client import objects
from heila_client.parts import Message, Price, Product, envelope, moment, now

log = logging.getLogger("heila.fmp")

DEFAULT_ID = "fmp-1"


@dataclass(frozen=True)
class Tender:
    """An Offer or a Bid as the market sees it."""

    id: str
    sender: str
    time: datetime
    product: Product
    location: str
    price: Price
    valid_until: datetime | None = None

    @classmethod
    def of(cls, message: Message) -> "Tender":
        valid_until = message.get("validUntil")
        return cls(
            message["id"],
            message["sender"],
            moment(message["time"]),
            Product.of(message),
            message["location"],
            Price.of(message["price"]),
            moment(valid_until) if valid_until else None,
        )


def serves(offer: Tender, bid: Tender) -> bool:
    """Same direction and place, a window covering the bid's, a price within the bid's."""
    return (
        offer.product.direction == bid.product.direction
        and offer.location == bid.location
        and offer.product.window.covers(bid.product.window)
        and offer.price.currency == bid.price.currency
        and offer.price.per_mwh <= bid.price.per_mwh
    )


def merit_order(bid: Tender, offers: list[Tender]) -> list[Tender]:
    """The offers that can serve `bid`, cheapest first; earlier offers first at equal price."""
    return sorted(
        (offer for offer in offers if serves(offer, bid)),
        key=lambda offer: (offer.price.per_mwh, offer.time, offer.id),
    )


def clear(bid: Tender, ranked: list[Tender]) -> list[tuple[Tender, float]]:
    """The accepted offers and the power taken from each, until the bid's power is covered."""
    accepted = []
    missing = bid.product.power
    for offer in ranked:
        if missing <= 0:
            break
        taken = min(offer.product.power, missing)
        accepted.append((offer, taken))
        missing -= taken
    return accepted


class Market:
    def __init__(self, actor: Actor, gate: timedelta) -> None:
        self.actor = actor
        self.gate = gate
        """how long (modelled) before a bid's window the market clears it"""
        self.open: dict[str, Tender] = {}
        self.waiting: dict[str, Tender] = {}
        """bids that no open offer could serve at their gate, by id, until their window opens"""
        actor.on("Offer")(self.on_offer)
        actor.on("Bid")(self.on_bid)

    def on_offer(self, message: Message) -> None:
        offer = Tender.of(message)
        self.open[offer.id] = offer
        for bid in [bid for bid in self.waiting.values() if serves(offer, bid)]:
            self.clear_bid(bid)

    def on_bid(self, message: Message) -> None:
        bid = Tender.of(message)
        closure = bid.product.window.start - self.actor.clock.real(self.gate)
        self.actor.at(closure, lambda: self.clear_bid(bid))

    def clear_bid(self, bid: Tender) -> None:
        cleared_at = now()
        valid = [
            o for o in self.open.values() if o.valid_until is None or o.valid_until >= cleared_at
        ]
        ranked = merit_order(bid, valid)
        if not ranked:
            if bid.id not in self.waiting:
                self.wait(bid)
            return
        self.waiting.pop(bid.id, None)
        offer_list: objects.OfferList = {
            "type": "OfferList",
            **envelope("offerlist", self.actor.id, [bid.sender], [bid.id]),
            "location": bid.location,
            "bid": bid.id,
            "entries": [{"rank": rank, "offer": o.id} for rank, o in enumerate(ranked, 1)],
        }
        self.actor.send(offer_list)
        for offer, power in clear(bid, ranked):
            product = Product(bid.product.direction, power, bid.product.window)
            reserve: objects.ReserveNotification = {
                "type": "ReserveNotification",
                **envelope(
                    "reserve", self.actor.id, [offer.sender, bid.sender], [offer_list["id"]]
                ),
                **product.fields(),
                "price": offer.price.fields(),
                "offer": offer.id,
                "bid": bid.id,
            }
            self.actor.send(reserve)
            del self.open[offer.id]

    def wait(self, bid: Tender) -> None:
        """Keep `bid` for the first offer that can serve it, until its window opens."""
        log.info("%s: bid %s waits for an offer that can serve it", self.actor.id, bid.id)
        self.waiting[bid.id] = bid
        self.actor.at(bid.product.window.start, lambda: self.give_up(bid))

    def give_up(self, bid: Tender) -> None:
        if self.waiting.pop(bid.id, None) is not None:
            log.warning("%s: no open offer could serve bid %s", self.actor.id, bid.id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gate-minutes", type=float, default=60.0, help="modelled minutes before a bid's window"
    )


def install(actor: Actor, args: argparse.Namespace) -> None:
    Market(actor, timedelta(minutes=args.gate_minutes))
