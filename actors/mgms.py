"""MicroGrid Management System (MGMS): plans the microgrid's day, offers what its battery can
give, carries out activations through the field bridge, and verifies them from measurements.

Verification goes by the site's meter when it has one, as a DSO settles by metered interval
energy: each slot's energy is what the meter's energy registers (import less export) counted
over it, the baseline a slot-long interval read before the window. Without meter readings
that cover the window it falls back to the feeder's active-power readings.

The same energy management serves a household's CEMS (actors.cems): a `Site` says what is
managed, the functions below say how. Power is signed as at the connection point: + import.
Forecasts and activations are read from the hub loosely, as plain JSON; what it sends is typed.
"""

import argparse
import dataclasses
import itertools
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from actors.actor import Actor
from actors.clock import Clock
from actors.profiles import bell
from heila_client import objects
from heila_client.parts import (
    Horizon,
    Message,
    Product,
    Window,
    envelope,
    horizon_of,
    moment,
    series,
    slot_values,
)
from heila_client.vocabulary import HEILA, POINT, RDF, XSD

log = logging.getLogger("heila.mgms")

DEFAULT_ID = "mgms-1"


@dataclass(frozen=True)
class Site:
    """What an energy management system runs: its loads, its PV and one flexible device."""

    location: str
    device: str
    base_kw: float
    evening_kw: float
    morning_kw: float
    heating_kw_per_degree: float
    """extra load per degree below 10 °C"""
    pv_kwp: float
    flex_kw: float
    """the most the device can shift"""
    flex_kwh: float
    """the energy it can shift in one go"""
    flex_hours: float
    """how long (modelled hours) it offers to shift"""
    direction: objects.FlexibilityType = "up"
    field: str | None = None
    """actor id of the field bridge that operates the device; None: the system acts itself"""
    meter: str | None = None
    """point id that measures the site's import, for verification"""
    energy_meter: tuple[str, str] | None = None
    """point ids of the meter's active energy import and export registers: verification by
    metered interval energy when they cover the window"""


MICROGRID = Site(
    location="feeder-1",
    device="battery-1",
    base_kw=50.0,
    evening_kw=45.0,
    morning_kw=20.0,
    heating_kw_per_degree=1.5,
    pv_kwp=60.0,
    flex_kw=100.0,
    flex_kwh=160.0,
    flex_hours=3.0,
    field="microgrid-1",
    meter="feeder-1.active-power",
    energy_meter=("meter-1.energy-import", "meter-1.energy-export"),
)
"""The laboratory microgrid of the paper: feeder-1 of the simulated substation, with its battery."""


def planned_import(
    site: Site, hours: list[float], temperatures: list[float], irradiances: list[float]
) -> list[float]:
    """The site's import per slot (kW): its loads less its PV, before any flexibility."""
    return [
        site.base_kw
        + site.evening_kw * bell(hour, 18.5, 1.6)
        + site.morning_kw * bell(hour, 7.5, 1.2)
        + site.heating_kw_per_degree * max(0.0, 10.0 - temperature)
        - site.pv_kwp * irradiance / 1000.0
        for hour, temperature, irradiance in zip(hours, temperatures, irradiances, strict=True)
    ]


def peak_run(plan: list[float], length: int) -> range:
    """The `length` consecutive slots with the largest total import (the earliest of equals)."""
    length = max(1, min(length, len(plan)))
    totals = [sum(plan[first : first + length]) for first in range(len(plan) - length + 1)]
    first = totals.index(max(totals))
    return range(first, first + length)


def flexibility(site: Site, plan_horizon: Horizon, plan: list[float], clock: Clock) -> Product:
    """What the device can give: for `flex_hours` around the import peak, as much power as its
    rating and its energy allow."""
    slot_hours = clock.speed * plan_horizon.step.total_seconds() / 3600.0
    run = peak_run(plan, round(site.flex_hours / slot_hours))
    window = Window(plan_horizon.slot_start(run.start), plan_horizon.slot_start(run.stop))
    power = min(site.flex_kw, site.flex_kwh / (len(run) * slot_hours))
    return Product(site.direction, math.floor(power * 10) / 10, window)


def setpoint(product: Product) -> float:
    """The device's active-power set-point (kW, + feeds the grid) that delivers `product`."""
    return product.power if product.direction == "up" else -product.power


Reading = tuple[datetime, float]


def held_average(readings: list[Reading], start: datetime, end: datetime) -> float | None:
    """Time-weighted mean over [start, end) of a signal that holds each reading until the next.
    None when nothing was read before `end`."""
    before = [r for r in readings if r[0] <= start]
    inside = [r for r in readings if start < r[0] < end]
    points = ([(start, before[-1][1])] if before else []) + inside
    if not points:
        return None
    total = 0.0
    for (at, value), (following, _) in zip(points, [*points[1:], (end, 0.0)], strict=True):
        total += value * (following - at).total_seconds()
    return total / (end - points[0][0]).total_seconds()


def baseline(readings: list[Reading], start: datetime) -> float | None:
    """Meter before: the last import read before the window starts."""
    before = [value for at, value in readings if at <= start]
    return before[-1] if before else None


def delivered_energy(direction: str, slots: list[tuple[float, float]], step: timedelta) -> float:
    """kWh delivered against the baseline: import avoided (up) or added (down), never negative."""
    hours = step.total_seconds() / 3600.0
    sign = 1.0 if direction == "up" else -1.0
    return sum(max(0.0, sign * (base - measured)) * hours for measured, base in slots)


def verification_horizon(window: Window, clock: Clock) -> Horizon:
    """Equal slots of about a modelled quarter hour that fill the window exactly."""
    quarter = clock.real(timedelta(minutes=15))
    count = max(1, round((window.end - window.start) / quarter))
    return Horizon(window.start, (window.end - window.start) / count, count)


def verification_slots(
    readings: list[Reading], horizon: Horizon, fallback: list[float]
) -> list[tuple[float, float]]:
    """(measured, baseline) per slot. Without readings the planned import is the baseline and
    nothing counts as delivered: no evidence, no delivery."""
    base = baseline(readings, horizon.start)
    slots = []
    for index in range(horizon.slots):
        slot_base = base if base is not None else fallback[index]
        measured = held_average(readings, horizon.slot_start(index), horizon.slot_start(index + 1))
        slots.append((measured if measured is not None else slot_base, slot_base))
    return slots


def count_at(readings: list[Reading], at: datetime) -> float | None:
    """A register's count at `at`, linear between the readings around it (a meter's counter
    grows steadily within an interval); None outside the readings."""
    for (before, low), (after, high) in itertools.pairwise(readings):
        if before <= at <= after:
            share = (at - before) / (after - before) if after > before else 0.0
            return low + share * (high - low)
    return None


def last_read(readings: list[Reading], until: datetime) -> datetime | None:
    """When the last of `readings` taken at or before `until` was taken; None if none was."""
    return max((at for at, _ in readings if at <= until), default=None)


def metered_slots(
    imported: list[Reading], exported: list[Reading], horizon: Horizon
) -> list[tuple[float, float]] | None:
    """(measured, baseline) per slot as mean kW from the meter's energy registers: the net
    import counted over each slot, and as the baseline over a slot-long interval that ends at
    the last reading taken before the window: a count interpolated towards a reading from
    inside the window would carry the device's answer into its own baseline.
    None when the readings do not cover that interval to the window's end."""
    settled = last_read(imported + exported, horizon.start)
    if settled is None:
        return None
    bounds = [settled - horizon.step, settled] + [
        horizon.slot_start(index) for index in range(horizon.slots + 1)
    ]
    counts = [(count_at(imported, at), count_at(exported, at)) for at in bounds]
    net = [i - e for i, e in counts if i is not None and e is not None]
    if len(net) < len(bounds):
        return None
    hours = horizon.step.total_seconds() / 3600.0
    base = (net[1] - net[0]) / hours
    return [((later - earlier) / hours, base) for earlier, later in itertools.pairwise(net[2:])]


def meter_query(point: str, since: datetime, until: datetime) -> str:
    """SPARQL for a point's readings measured in [since, until), oldest first: the point says
    what they measure (active power, a register's energy)."""
    return f"""PREFIX heila: <{HEILA}>
SELECT ?time ?value WHERE {{
  ?reading heila:point <{POINT}{point}> ; heila:measuredAt ?time ; <{RDF}value> ?value .
  FILTER(?time >= "{since.isoformat()}"^^<{XSD}dateTime>
         && ?time < "{until.isoformat()}"^^<{XSD}dateTime>)
}} ORDER BY ?time"""


class EnergyManager:
    """The MGMS (or CEMS) as an actor: one site, one aggregator, one DSO."""

    def __init__(self, actor: Actor, site: Site, aggregator: str, dso: str) -> None:
        self.actor = actor
        self.site = site
        self.aggregator = aggregator
        self.dso = dso
        self.plan: tuple[Horizon, list[float]] | None = None
        actor.on("WeatherForecast")(self.on_weather)
        actor.on("ActivationNotification")(self.on_activation)

    def on_weather(self, forecast: Message) -> None:
        """Plan the horizon of the forecast and offer the device's flexibility over it."""
        horizon = horizon_of(forecast)
        plan = planned_import(
            self.site,
            self.actor.clock.slot_hours(horizon),
            slot_values(forecast, "temperature"),
            slot_values(forecast, "irradiance"),
        )
        self.plan = (horizon, plan)
        slots: list[objects.PlanSlot] = [
            {"index": index, "power": round(power, 2)} for index, power in enumerate(plan)
        ]
        operation_plan: objects.OperationPlan = {
            "type": "OperationPlan",
            **envelope("plan", self.actor.id, [self.aggregator, self.dso], [forecast["id"]]),
            "location": self.site.location,
            **series(horizon, slots),
        }
        self.actor.send(operation_plan)
        offered: objects.Flexibility = {
            "type": "Flexibility",
            **envelope("flex", self.actor.id, [self.aggregator]),
            **flexibility(self.site, horizon, plan, self.actor.clock).fields(),
            "location": self.site.location,
            "device": self.site.device,
            "operationPlan": operation_plan["id"],
        }
        self.actor.send(offered)

    def on_activation(self, activation: Message) -> None:
        """Drive the device for the window, give it back afterwards, then verify."""
        product = Product.of(activation)
        self.command(activation, setpoint(product))
        self.actor.at(product.window.end, lambda: self.command(activation, 0.0))
        settle = self.actor.clock.real(timedelta(minutes=15))
        self.actor.at(product.window.end + settle, lambda: self.verify(activation))

    def command(self, activation: Message, kilowatts: float) -> None:
        recipients = [self.site.field] if self.site.field else []
        signal: objects.ControlSignal = {
            "type": "ControlSignal",
            **envelope("control", self.actor.id, recipients),
            "device": activation.get("device", self.site.device),
            "action": "setActivePower",
            "setpoint": round(kilowatts, 3),
            "activation": activation["id"],
        }
        self.actor.send(signal)

    def verify(self, activation: Message) -> None:
        product = Product.of(activation)
        horizon = verification_horizon(product.window, self.actor.clock)
        slots = self.metered(horizon) or verification_slots(
            self.readings(product.window), horizon, self.planned(horizon)
        )
        energy = delivered_energy(product.direction, slots, horizon.step)
        measured: list[objects.VerificationSlot] = [
            {"index": index, "power": round(m, 3), "baseline": round(b, 3)}
            for index, (m, b) in enumerate(slots)
        ]
        verification: objects.VerificationNotification = {
            "type": "VerificationNotification",
            **envelope("verification", self.actor.id, [activation["sender"]], [activation["id"]]),
            **series(horizon, measured),
            "activation": activation["id"],
            "deliveredEnergy": round(energy, 6),
        }
        self.actor.send(verification)
        log.info("%s: delivered %.4f kWh for %s", self.actor.id, energy, activation["id"])

    def readings(self, window: Window) -> list[Reading]:
        """The meter's active power from a modelled half hour before the window to its end."""
        if self.site.meter is None:
            return []
        since = window.start - self.actor.clock.real(timedelta(minutes=30))
        rows = self.actor.hub.select(meter_query(self.site.meter, since, window.end))
        return [(moment(row["time"]), float(row["value"])) for row in rows]

    def metered(self, horizon: Horizon) -> list[tuple[float, float]] | None:
        """Slots from the site's meter's interval energy; None without a meter or its cover."""
        if self.site.energy_meter is None:
            return None
        since = horizon.start - 2 * horizon.step
        until = horizon.end + horizon.step
        imported, exported = (
            [
                (moment(row["time"]), float(row["value"]))
                for row in self.actor.hub.select(meter_query(point, since, until))
            ]
            for point in self.site.energy_meter
        )
        slots = metered_slots(imported, exported, horizon)
        if slots is None:
            log.info(
                "%s: the meter's readings do not cover the window: verified by power", self.actor.id
            )
        return slots

    def planned(self, horizon: Horizon) -> list[float]:
        """The planned import at each slot of `horizon` (0 where no plan covers it)."""
        if self.plan is None:
            return [0.0] * horizon.slots
        plan_horizon, plan = self.plan
        indices = [plan_horizon.index(horizon.slot_start(i)) for i in range(horizon.slots)]
        return [plan[i] if 0 <= i < len(plan) else 0.0 for i in indices]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aggregator", default="ams-1", help="the AMS that sells its flexibility")
    parser.add_argument("--dso", default="dms-1", help="the DMS that receives its plans")
    parser.add_argument("--field", default=MICROGRID.field, help="the field bridge's actor id")


def install(actor: Actor, args: argparse.Namespace) -> None:
    site = dataclasses.replace(MICROGRID, field=args.field or None)
    EnergyManager(actor, site, args.aggregator, args.dso)
