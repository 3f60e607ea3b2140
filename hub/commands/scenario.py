"""A market of many days, made up and written through the hub's own intake, for research at scale.

`heila demo --days N --store DIR` fills a store with N days of the DSO flexibility use case:
every day the SPP forecasts weather and prices for each feeder; each site's MGMS publishes an
operation plan and the flexibility of one evening hour, which its aggregator offers; the DSO
bids for the congested evening hours of each feeder; the FMP ranks the offers, publishes an
offer list and reserves the cheapest until the bid is covered; the DSO activates each reserve,
the site's MGMS sends the command, measures the hour and the DSO verifies it. Some deliveries
fall short (a site's battery was emptier than planned), some bids find no offer.

Every message goes through `Intake.submit`, so each is parsed, validated against the shapes
and the references it makes, and stored with its log entry and derived values, as if an actor
had posted it; only HTTP and MQTT are left out. The sites' meters are published as a point map
(`market`), so their readings' units and devices can be queried. Seeded: the same N days every
time.
"""

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyoxigraph as ox

from hub.intake import Intake, StoreCommitter
from hub.model import pointmaps
from hub.model.vocabulary import DEVICE, GRID, HEILA, POINT, RDF
from hub.storage.store import Store
from hub.trust.roles import Roles
from hub.trust.signature import Signing

SPP, FMP, DSO = "spp-1", "fmp-1", "dms-1"
FEEDERS = ("feeder-1", "feeder-2", "feeder-3")
EVENING = (17, 18, 19, 20)
"""The hours whose products are traded: the evening peak."""
SHORT_DELIVERY = 0.2
"""Share of activations that deliver clearly less than promised."""

Document = dict[str, Any]


@dataclass(frozen=True)
class Site:
    """A microgrid: its MGMS, the aggregator selling its flexibility, its feeder, its battery."""

    mgms: str
    aggregator: str
    feeder: str
    device: str
    kilowatts: float


@dataclass(frozen=True)
class Filled:
    """What a run wrote, and how long it took."""

    messages: int
    seconds: float


def sites(aggregators: int, per_aggregator: int) -> list[Site]:
    """Sites spread over the feeders, each sold by one aggregator."""
    made: list[Site] = []
    for a in range(1, aggregators + 1):
        for s in range(1, per_aggregator + 1):
            n = len(made)
            made.append(
                Site(
                    f"mgms-{a}-{s}",
                    f"ams-{a}",
                    FEEDERS[n % len(FEEDERS)],
                    f"battery-{a}-{s}",
                    50.0 + 25.0 * (n % 5),
                )
            )
    return made


def meters(of: list[Site]) -> list[ox.Triple]:
    """The point map of the sites' meters, whose readings the Measurements carry: what they
    measure (active power in kW), of which device and where."""
    known = {
        HEILA + "quantity": ox.NamedNode(HEILA + "ActivePower"),
        "http://qudt.org/schema/qudt/unit": ox.NamedNode("http://qudt.org/vocab/unit/KiloW"),
        RDF + "type": ox.NamedNode(HEILA + "Point"),
    }
    triples = []
    for site in of:
        point = ox.NamedNode(f"{POINT}{site.device}-power")
        facts = {
            **known,
            HEILA + "device": ox.NamedNode(DEVICE + site.device),
            HEILA + "location": ox.NamedNode(GRID + site.feeder),
        }
        triples += [ox.Triple(point, ox.NamedNode(p), o) for p, o in facts.items()]
    return pointmaps.checked(triples)


def _at(day: datetime, hour: float) -> str:
    return (day + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")


class Market:
    """Writes the messages of one day after another, each with an id of its day."""

    def __init__(self, sites: list[Site], seed: int) -> None:
        self.sites = sites
        self.random = random.Random(seed)

    def day(self, day: datetime) -> Iterator[Document]:
        """The messages of one day, in the order the actors would send them."""
        tag = day.strftime("%Y%m%d")
        prices = {feeder: self._prices() for feeder in FEEDERS}
        for feeder in FEEDERS:
            yield self._weather(day, tag, feeder)
            yield self._price_forecast(day, tag, feeder, prices[feeder])
        offers: dict[str, list[Document]] = {feeder: [] for feeder in FEEDERS}
        for site in self.sites:
            hour = self.random.choice(EVENING)
            yield self._plan(day, tag, site, hour)
            flexibility = self._flexibility(day, tag, site, hour)
            yield flexibility
            offer = self._offer(day, site, flexibility, prices[site.feeder][hour - EVENING[0]])
            offers[site.feeder].append(offer)
            yield offer
        for feeder in FEEDERS:
            for hour in EVENING:
                if self.random.random() < 0.5:
                    yield from self._clear(day, tag, feeder, hour, prices[feeder], offers[feeder])

    def _prices(self) -> list[float]:
        return [round(self.random.uniform(60.0, 140.0), 1) for _hour in EVENING]

    def _envelope(self, kind: str, id: str, sender: str, time: str, **body: Any) -> Document:
        return {"type": kind, "id": id, "sender": sender, "time": time, "references": [], **body}

    def _weather(self, day: datetime, tag: str, feeder: str) -> Document:
        slots = [
            {
                "index": n,
                "temperature": round(self.random.uniform(-8.0, 4.0), 1),
                "irradiance": 0.0,
                "windSpeed": round(self.random.uniform(0.0, 12.0), 1),
            }
            for n in range(len(EVENING))
        ]
        return self._envelope(
            "WeatherForecast",
            f"weather-{tag}-{feeder}",
            SPP,
            _at(day, 4),
            recipients=[DSO],
            location=feeder,
            start=_at(day, EVENING[0]),
            end=_at(day, EVENING[-1] + 1),
            timeStep="PT1H",
            slots=slots,
        )

    def _price_forecast(
        self, day: datetime, tag: str, feeder: str, prices: list[float]
    ) -> Document:
        return self._envelope(
            "FlexibilityMarketPriceForecast",
            f"priceforecast-{tag}-{feeder}",
            SPP,
            _at(day, 4.5),
            recipients=[DSO],
            location=feeder,
            start=_at(day, EVENING[0]),
            end=_at(day, EVENING[-1] + 1),
            currency="EUR",
            timeStep="PT1H",
            slots=[{"index": n, "price": price} for n, price in enumerate(prices)],
        )

    def _plan(self, day: datetime, tag: str, site: Site, hour: int) -> Document:
        slots = [
            {"index": n, "power": round(site.kilowatts * self.random.uniform(0.6, 0.95), 1)}
            for n in range(4)
        ]
        return self._envelope(
            "OperationPlan",
            f"plan-{tag}-{site.mgms}",
            site.mgms,
            _at(day, 6),
            recipients=[site.aggregator],
            location=site.feeder,
            start=_at(day, hour),
            end=_at(day, hour + 1),
            timeStep="PT15M",
            slots=slots,
        )

    def _flexibility(self, day: datetime, tag: str, site: Site, hour: int) -> Document:
        return self._envelope(
            "Flexibility",
            f"flex-{tag}-{site.mgms}",
            site.mgms,
            _at(day, 6.5),
            recipients=[site.aggregator],
            flexibilityType="up",
            power=round(site.kilowatts * self.random.uniform(0.5, 0.9), 1),
            start=_at(day, hour),
            end=_at(day, hour + 1),
            location=site.feeder,
            device=site.device,
            operationPlan=f"plan-{tag}-{site.mgms}",
        )

    def _offer(self, day: datetime, site: Site, flexibility: Document, price: float) -> Document:
        return self._envelope(
            "Offer",
            flexibility["id"].replace("flex-", "offer-"),
            site.aggregator,
            _at(day, 7),
            recipients=[FMP],
            flexibilityType="up",
            power=flexibility["power"],
            start=flexibility["start"],
            end=flexibility["end"],
            location=site.feeder,
            price={
                "amount": round(price * self.random.uniform(0.7, 1.3), 2),
                "currency": "EUR",
                "per": "MWH",
            },
            flexibility=flexibility["id"],
            validUntil=_at(day, 12),
        )

    def _clear(
        self,
        day: datetime,
        tag: str,
        feeder: str,
        hour: int,
        prices: list[float],
        offers: list[Document],
    ) -> Iterator[Document]:
        """A bid for one evening hour, then what the market and the grid make of it."""
        bid_id = f"bid-{tag}-{feeder}-{hour}"
        power = round(self.random.uniform(40.0, 250.0), 1)
        cap = round(prices[hour - EVENING[0]] * self.random.uniform(0.9, 1.3), 2)
        yield self._envelope(
            "Bid",
            bid_id,
            DSO,
            _at(day, 8),
            recipients=[FMP],
            references=[f"priceforecast-{tag}-{feeder}"],
            flexibilityType="up",
            power=power,
            start=_at(day, hour),
            end=_at(day, hour + 1),
            location=feeder,
            price={"amount": cap, "currency": "EUR", "per": "MWH"},
        )
        fitting = sorted(
            (o for o in offers if o["start"] == _at(day, hour) and o["price"]["amount"] <= cap),
            key=lambda o: o["price"]["amount"],
        )
        if not fitting:
            return
        list_id = f"offerlist-{tag}-{feeder}-{hour}"
        yield self._envelope(
            "OfferList",
            list_id,
            FMP,
            _at(day, 9),
            recipients=[DSO],
            location=feeder,
            bid=bid_id,
            entries=[{"rank": n, "offer": o["id"]} for n, o in enumerate(fitting, 1)],
        )
        wanted = power
        for offer in fitting:
            if wanted <= 0:
                break
            taken = round(min(wanted, offer["power"]), 1)
            wanted -= taken
            yield from self._deliver(day, offer, bid_id, list_id, taken)

    def _deliver(
        self, day: datetime, offer: Document, bid_id: str, list_id: str, power: float
    ) -> Iterator[Document]:
        """Reserve, activation, command, readings and verification of one accepted offer."""
        site = next(s for s in self.sites if offer["flexibility"].endswith(s.mgms))
        suffix = offer["id"].removeprefix("offer-")
        start, end = offer["start"], offer["end"]
        yield self._envelope(
            "ReserveNotification",
            f"reserve-{suffix}",
            FMP,
            _at(day, 9.1),
            recipients=[offer["sender"], DSO],
            references=[list_id],
            flexibilityType="up",
            power=power,
            start=start,
            end=end,
            price=offer["price"],
            offer=offer["id"],
            bid=bid_id,
        )
        hour = datetime.fromisoformat(start.replace("Z", "+00:00"))
        yield self._envelope(
            "ActivationNotification",
            f"activation-{suffix}",
            DSO,
            _at(hour, -5 / 60),
            recipients=[offer["sender"]],
            flexibilityType="up",
            power=power,
            start=start,
            end=end,
            device=site.device,
            reserve=f"reserve-{suffix}",
        )
        yield self._envelope(
            "ControlSignal",
            f"control-{suffix}",
            site.mgms,
            _at(hour, -1 / 60),
            recipients=[],
            device=site.device,
            action="close",
            activation=f"activation-{suffix}",
        )
        share = (
            self.random.uniform(0.5, 0.85)
            if self.random.random() < SHORT_DELIVERY
            else self.random.uniform(0.97, 1.03)
        )
        baseline = [round(site.kilowatts * self.random.uniform(0.6, 0.9), 1) for _ in range(4)]
        measured = [round(b - power * share * self.random.uniform(0.95, 1.05), 1) for b in baseline]
        readings = [
            {"point": f"{site.device}-power", "value": value, "time": _at(hour, (n + 0.5) / 4)}
            for n, value in enumerate(measured)
        ]
        yield self._envelope(
            "Measurement",
            f"measurement-{suffix}",
            site.mgms,
            _at(hour, 1 + 1 / 60),
            recipients=[DSO],
            references=[f"control-{suffix}"],
            location=site.feeder,
            readings=readings,
        )
        delivered = sum(b - m for b, m in zip(baseline, measured, strict=True)) / 4
        yield self._envelope(
            "VerificationNotification",
            f"verification-{suffix}",
            DSO,
            _at(hour, 1 + 10 / 60),
            recipients=[offer["sender"], FMP],
            references=[f"measurement-{suffix}"],
            start=start,
            end=end,
            timeStep="PT15M",
            slots=[
                {"index": n, "power": m, "baseline": b}
                for n, (m, b) in enumerate(zip(measured, baseline, strict=True))
            ],
            activation=f"activation-{suffix}",
            deliveredEnergy=round(delivered, 3),
        )


def fill(
    store: Store, days: int, first: datetime, aggregators: int = 4, per_aggregator: int = 5
) -> Filled:
    """Write `days` days of the market from the day of `first` on, through the intake."""
    intake = Intake(
        store,
        StoreCommitter(store, lambda _message, _stored: None),
        Roles({}),
        lambda _actor: Signing(),
    )
    market = Market(sites(aggregators, per_aggregator), seed=days)
    store.publish_point_map(pointmaps.graph_of("market"), meters(market.sites))
    midnight = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    started, count = time.perf_counter(), 0
    for n in range(days):
        for document in market.day(midnight + timedelta(days=n)):
            intake.submit(json.dumps(document).encode(), "application/json", document["sender"])
            count += 1
    return Filled(count, time.perf_counter() - started)
