"""The shared parts of a message in plain JSON: envelope, window, product, price and series.

One place spells these fields (docs/messages.md), so every program that writes messages, the
platform's own actors included, speaks the same shape and no program spells a field twice.
Times go out as RFC 3339 with their zone and spans as `xsd:duration`, as the shapes require.
"""

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from heila_client import objects

Message = dict[str, Any]
"""A message as read back from the hub, in plain JSON: read loosely, as the hub's shapes have
held it to its type already. What a program builds is one of `objects`' typed values."""

_DURATION = re.compile(
    r"P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def now() -> datetime:
    """The current moment in UTC, the zone every message may carry."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def duration(span: timedelta) -> str:
    """A positive span as an xsd:duration in seconds, e.g. PT900S or PT0.5S."""
    return f"PT{Decimal(repr(span.total_seconds())).normalize():f}S"


def span(text: str) -> timedelta:
    """An xsd:dayTimeDuration (PnDTnHnMnS) as a timedelta."""
    found = _DURATION.fullmatch(text)
    if found is None or text in ("P", "PT"):
        raise ValueError(f"not a day-time duration: {text!r}")
    parts = {name: float(value) for name, value in found.groupdict().items() if value}
    return timedelta(**parts)


def new_id(kind: str) -> str:
    """A fresh message id, e.g. offer-3f2a9c1b0d4e."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def envelope(
    prefix: str, sender: str, recipients: Sequence[str], references: Sequence[str] = ()
) -> objects.EnvelopeOnly:
    """The fields every message carries, with a fresh id (`prefix`-...) and the time of now.
    An object extends it: `offer: objects.Offer = {"type": "Offer", **envelope(...), ...}`."""
    return {
        "id": new_id(prefix),
        "sender": sender,
        "time": rfc3339(now()),
        "recipients": list(recipients),
        "references": list(references),
    }


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def covers(self, other: "Window") -> bool:
        return self.start <= other.start and self.end >= other.end

    def fields(self) -> objects.WindowOnly:
        return {"start": rfc3339(self.start), "end": rfc3339(self.end)}

    @classmethod
    def of(cls, message: Message) -> "Window":
        return cls(moment(message["start"]), moment(message["end"]))


@dataclass(frozen=True)
class Product:
    """What is traded: a direction (up feeds the grid, down draws from it), kW and a window."""

    direction: objects.FlexibilityType
    power: float
    window: Window

    def fields(self) -> objects.ProductOnly:
        return {
            "flexibilityType": self.direction,
            "power": round(self.power, 3),
            **self.window.fields(),
        }

    @classmethod
    def of(cls, message: Message) -> "Product":
        return cls(message["flexibilityType"], float(message["power"]), Window.of(message))


@dataclass(frozen=True)
class Price:
    amount: float
    currency: str = "EUR"
    per: objects.PriceUnit = "MWH"

    @property
    def per_mwh(self) -> float:
        return self.amount * 1000.0 if self.per == "KWH" else self.amount

    def fields(self) -> objects.Price:
        return {"amount": round(self.amount, 2), "currency": self.currency, "per": self.per}

    @classmethod
    def of(cls, part: Mapping[str, Any]) -> "Price":
        return cls(float(part["amount"]), part["currency"], part["per"])


@dataclass(frozen=True)
class Horizon:
    """Equal time slots from a start: the grid of a forecast, a plan or a verification."""

    start: datetime
    step: timedelta
    slots: int

    @property
    def end(self) -> datetime:
        return self.start + self.step * self.slots

    def slot_start(self, index: int) -> datetime:
        return self.start + self.step * index

    def index(self, moment: datetime) -> int:
        """The slot that holds `moment` (may lie outside 0..slots-1)."""
        return math.floor((moment - self.start) / self.step)


def series(horizon: Horizon, slots: Sequence[objects.Slot]) -> objects.SeriesOnly[objects.Slot]:
    """The window, time step and slots of a forecast, plan or verification; each slot carries
    its index, from 0 in order."""
    return {
        **Window(horizon.start, horizon.end).fields(),
        "timeStep": duration(horizon.step),
        "slots": list(slots),
    }


def horizon_of(message: Message) -> Horizon:
    """The slot grid of a message with a series."""
    return Horizon(moment(message["start"]), span(message["timeStep"]), len(message["slots"]))


def slot_values(message: Message, field: str) -> list[float]:
    """One field of every slot, in index order."""
    ordered = sorted(message["slots"], key=lambda slot: int(slot["index"]))
    return [float(slot[field]) for slot in ordered]
