"""Offer Ranking and clearing at the Flexibility Market Platform: the plain functions, and the
market's timing with a stand-in for the actor that records what it sends and schedules."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from actors.actor import Actor
from actors.fmp import Market, Tender, clear, merit_order
from heila_client.parts import Message, Price, Product, Window, now

EVENING = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
BID_WINDOW = Window(EVENING, EVENING + timedelta(hours=1))


def tender(
    identifier: str,
    power: float = 50.0,
    amount: float = 100.0,
    direction: str = "up",
    location: str = "feeder-1",
    window: Window = BID_WINDOW,
    per: str = "MWH",
    sent: int = 0,
) -> Tender:
    return Tender(
        identifier,
        "ams-1",
        EVENING - timedelta(hours=10, minutes=-sent),
        Product(direction, power, window),
        location,
        Price(amount, "EUR", per),
    )


BID = tender("bid-1", power=60.0, amount=120.0)


def ids(tenders: list[Tender]) -> list[str]:
    return [t.id for t in tenders]


def test_offers_are_ranked_cheapest_first() -> None:
    offers = [
        tender("dear", amount=110.0),
        tender("cheap", amount=80.0),
        tender("mid", amount=95.0),
    ]
    assert ids(merit_order(BID, offers)) == ["cheap", "mid", "dear"]


def test_equal_prices_rank_the_earlier_offer_first() -> None:
    offers = [tender("later", sent=5), tender("earlier", sent=1)]
    assert ids(merit_order(BID, offers)) == ["earlier", "later"]


def test_offer_in_the_other_direction_is_not_ranked() -> None:
    assert merit_order(BID, [tender("down", direction="down")]) == []


def test_offer_at_another_location_is_not_ranked() -> None:
    assert merit_order(BID, [tender("elsewhere", location="feeder-2")]) == []


def test_offer_whose_window_does_not_cover_the_bids_is_not_ranked() -> None:
    late = Window(EVENING + timedelta(minutes=15), EVENING + timedelta(hours=2))
    assert merit_order(BID, [tender("late", window=late)]) == []


def test_offer_whose_window_covers_the_bids_is_ranked() -> None:
    wide = Window(EVENING - timedelta(hours=1), EVENING + timedelta(hours=2))
    assert ids(merit_order(BID, [tender("wide", window=wide)])) == ["wide"]


def test_offer_dearer_than_the_bids_highest_price_is_not_ranked() -> None:
    assert merit_order(BID, [tender("dear", amount=120.01)]) == []


def test_prices_per_kilowatt_hour_compare_per_megawatt_hour() -> None:
    offers = [tender("per-kwh", amount=0.09, per="KWH"), tender("per-mwh", amount=100.0)]
    assert ids(merit_order(BID, offers)) == ["per-kwh", "per-mwh"]


def test_clearing_takes_the_last_offer_only_for_what_is_missing() -> None:
    ranked = [tender("first", power=40.0), tender("second", power=40.0)]
    assert [(o.id, p) for o, p in clear(BID, ranked)] == [("first", 40.0), ("second", 20.0)]


def test_clearing_stops_once_the_bid_is_covered() -> None:
    ranked = [tender("enough", power=60.0), tender("unneeded", power=10.0)]
    assert [(o.id, p) for o, p in clear(BID, ranked)] == [("enough", 60.0)]


def test_clearing_accepts_everything_when_too_little_is_offered() -> None:
    ranked = [tender("small", power=10.0), tender("smaller", power=5.0)]
    assert [(o.id, p) for o, p in clear(BID, ranked)] == [("small", 10.0), ("smaller", 5.0)]


class StandIn:
    """An actor that delivers messages when told, runs scheduled jobs when told, and keeps what
    the market sends: enough to follow the market's timing without a hub."""

    id = "fmp-1"

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[Message], None]] = {}
        self.jobs: list[tuple[datetime, Callable[[], None]]] = []
        self.sent: list[Message] = []
        self.clock = self

    def real(self, modelled: timedelta) -> timedelta:
        return modelled

    def on(self, kind: str) -> Callable[[Callable[[Message], None]], None]:
        return lambda handler: self.handlers.__setitem__(kind, handler)

    def at(self, moment: datetime, job: Callable[[], None]) -> None:
        self.jobs.append((moment, job))

    def send(self, message: Message) -> None:
        self.sent.append(message)

    def deliver(self, kind: str, message: Message) -> None:
        self.handlers[kind](message)

    def run_due(self, until: datetime) -> None:
        due = [job for moment, job in self.jobs if moment <= until]
        self.jobs = [(moment, job) for moment, job in self.jobs if moment > until]
        for job in due:
            job()

    def kinds(self) -> list[str]:
        return [message["type"] for message in self.sent]


def message(identifier: str, window: Window, sender: str = "ams-1") -> dict[str, Any]:
    return {
        "id": identifier,
        "sender": sender,
        "time": now().isoformat(),
        "location": "feeder-1",
        "price": Price(100.0).fields(),
    } | Product("up", 50.0, window).fields()


def market_past_its_gate() -> tuple[StandIn, Window]:
    """A market whose bid is placed after its gate: it is cleared at once."""
    actor = StandIn()
    Market(cast(Actor, actor), gate=timedelta(hours=1))
    soon = now() + timedelta(minutes=5)
    window = Window(soon, soon + timedelta(hours=1))
    actor.deliver("Bid", message("bid-1", window, sender="dms-1"))
    actor.run_due(now())
    return actor, window


def test_a_bid_no_offer_serves_yet_is_cleared_by_the_first_offer_that_can() -> None:
    actor, window = market_past_its_gate()
    assert actor.sent == []
    actor.deliver("Offer", message("offer-1", window))
    assert actor.kinds() == ["OfferList", "ReserveNotification"]
    assert actor.sent[1]["offer"] == "offer-1"


def test_an_offer_that_cannot_serve_a_waiting_bid_leaves_it_waiting() -> None:
    actor, window = market_past_its_gate()
    elsewhere = message("offer-2", window) | {"location": "feeder-2"}
    actor.deliver("Offer", elsewhere)
    assert actor.sent == []
    actor.deliver("Offer", message("offer-1", window))
    assert actor.kinds() == ["OfferList", "ReserveNotification"]


def test_a_waiting_bid_is_given_up_when_its_window_opens() -> None:
    actor, window = market_past_its_gate()
    actor.run_due(window.start)
    actor.deliver("Offer", message("offer-1", window))
    assert actor.sent == []
