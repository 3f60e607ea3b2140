"""Monitoring direction: values received from the stations become Measurement messages.

A protocol client's callback only enqueues a `Sample` that names its point (each client finds
the point for the addresses its protocol speaks, so nothing here knows a protocol address);
this module turns samples into readings (the lean model: point, value, device time, quality
flags only when not good; the point's unit, quantity, device and location are the point map's)
and groups them into one Measurement per feeder, which carries when its earliest sample was
received. A value is stored as the device meant it: IEC 104 short floats are float32, so a
device's 231.636 arrives as 231.63600158691406; it is read as the shortest decimal that is the
same float32, and the point's scale is applied in decimal (1168 times 0.1 is 116.8, not
116.80000000000001). A device time stamp is read in its station's time zone and stored in UTC.
Batches are whatever has queued up while the previous one was being delivered: one value travels
alone at once, a burst travels together, so light traffic gets no added latency and heavy
traffic gets large batches.
"""

import itertools
import queue
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from actors.bridge.pointmap import Point, PointMap
from heila_client import objects

QUALITY_FLAGS: tuple[objects.Quality, ...] = (
    "invalid",
    "notTopical",
    "overflow",
    "blocked",
    "substituted",
)
"""A reading's quality flags, in the order a reading lists them; every protocol maps its own
quality to these."""

DOUBLE_POINT = {"INTERMEDIATE": 0.0, "OFF": 1.0, "ON": 2.0, "INDETERMINATE": 3.0}
"""A breaker's double-point state as the reading's value (IEC DPI: 1 open, 2 closed)."""

SHORT_FLOATS = frozenset({"M_ME_NC_1", "M_ME_TF_1"})
"""The measured-value types sent as IEEE 754 float32."""

MAX_BATCH = 20_000
"""Samples taken from the queue at once, so a backlog drains in bounded steps."""
MAX_READINGS = 1_000
"""Readings per message at most: about 230 kB, well under the hub's body limit."""


class Sample(NamedTuple):
    """A value as a protocol client received it: its point known, nothing else converted, so the
    client's callback stays short."""

    point: Point
    value: float
    """the transmitted number (a breaker position as its DOUBLE_POINT state)"""
    quality: tuple[objects.Quality, ...]
    """QUALITY_FLAGS that hold; empty when good"""
    measured: datetime | None
    """the device's time stamp in UTC, None for values without one"""
    received_ns: int
    """time.time_ns() when the callback ran"""


def device_time(stamp: datetime, zone: ZoneInfo | None) -> datetime:
    """A CP56Time2a time stamp as c104 hands it back, in UTC.

    c104 reads the stamp's fields as UTC and gives that instant back naive, in the bridge host's
    local time. Undoing that gives the fields the station sent, which are the station's wall
    clock in its zone (`zone`; None: the bridge host's own zone).
    """
    fields = stamp.astimezone(UTC).replace(tzinfo=None)
    return (fields.replace(tzinfo=zone) if zone else fields).astimezone(UTC)


class DeviceClock:
    """`device_time` for a stream of stamps: worked out once an hour per zone, as zone offsets
    change only on the hour."""

    def __init__(self) -> None:
        self._hours: dict[ZoneInfo | None, tuple[datetime, datetime, timedelta]] = {}

    def utc(self, stamp: datetime, zone: ZoneInfo | None) -> datetime:
        known = self._hours.get(zone)
        if known is None or not known[0] <= stamp < known[1]:
            hour = stamp.replace(minute=0, second=0, microsecond=0)
            shift = device_time(hour, zone) - hour.replace(tzinfo=UTC)
            known = self._hours[zone] = (hour, hour + timedelta(hours=1), shift)
        return stamp.replace(tzinfo=UTC) + known[2]


def _instant(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


_FLOAT32 = struct.Struct("<f")


def float32_text(value: float) -> str:
    """The shortest decimal that reads back as the same float32 as `value`.

    Six significant digits always tell float32s apart when a shorter decimal does (`g` drops
    the trailing zeros), nine always do.
    """
    (single,) = _FLOAT32.unpack(_FLOAT32.pack(value))
    for digits in (6, 7, 8):
        text = f"{single:.{digits}g}"
        if _FLOAT32.unpack(_FLOAT32.pack(float(text)))[0] == single:
            return text
    return f"{single:.9g}"


def scaled(value: float, scale: float, kind: str) -> float:
    """A transmitted value of IEC type `kind` in its unit: a short float's float32 noise
    dropped, the scale applied in decimal."""
    text = float32_text(value) if kind in SHORT_FLOATS else repr(value)
    return float(text) if scale == 1.0 else float(Decimal(text) * Decimal(repr(scale)))


class Converter:
    """Samples to readings and Measurement messages, by the point map."""

    def __init__(self, point_map: PointMap, actor: str) -> None:
        self.point_map = point_map
        self.actor = actor
        self._ids = itertools.count(1)
        self._prefix = f"{actor}-measurement-{time.time_ns():x}"

    def reading(self, sample: Sample) -> tuple[str | None, objects.Reading] | None:
        """The reading for a sample and the feeder it belongs to; None when it is not reported."""
        point = sample.point
        if point.quantity is None:
            return None
        reading: objects.Reading = {
            "point": point.id,
            "value": scaled(sample.value, point.scale, point.type),
            "time": (sample.measured or _instant(sample.received_ns)).isoformat(),
        }
        if sample.quality:
            reading["quality"] = list(sample.quality)
        return point.location, reading

    def messages(self, samples: list[Sample]) -> list[objects.Measurement]:
        """One Measurement per feeder for a batch of samples (more when it has many readings),
        received when the earliest of its samples was."""
        by_location: dict[str | None, list[tuple[int, objects.Reading]]] = {}
        for sample in samples:
            converted = self.reading(sample)
            if converted is not None:
                by_location.setdefault(converted[0], []).append((sample.received_ns, converted[1]))
        now = datetime.now(UTC).isoformat()
        return [
            self._message(location, received[start : start + MAX_READINGS], now)
            for location, received in by_location.items()
            for start in range(0, len(received), MAX_READINGS)
        ]

    def _message(
        self, location: str | None, received: list[tuple[int, objects.Reading]], now: str
    ) -> objects.Measurement:
        message: objects.Measurement = {
            "type": "Measurement",
            "id": f"{self._prefix}-{next(self._ids)}",
            "sender": self.actor,
            "time": now,
            "receivedAt": _instant(min(ns for ns, _reading in received)).isoformat(),
            "readings": [reading for _ns, reading in received],
        }
        if location is not None:
            message["location"] = location
        return message


def batches(samples: "queue.SimpleQueue[Sample]", wait: float) -> Iterator[list[Sample]]:
    """Everything queued so far, at most MAX_BATCH; an empty list after `wait` seconds of quiet."""
    while True:
        try:
            batch = [samples.get(timeout=wait)]
        except queue.Empty:
            yield []
            continue
        while len(batch) < MAX_BATCH:
            try:
                batch.append(samples.get_nowait())
            except queue.Empty:
                break
        yield batch


def pump(
    samples: "queue.SimpleQueue[Sample]",
    converter: Converter,
    deliver: Callable[[list[objects.Measurement]], None],
    running: Callable[[], bool],
    wait: float = 0.2,
) -> None:
    """The monitoring loop: batch, convert, deliver; `deliver([])` on quiet gives retries a turn."""
    for batch in batches(samples, wait):
        if not running():
            return
        deliver(converter.messages(batch) if batch else [])
