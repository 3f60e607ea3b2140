"""Modelled time of day: a day can pass in seconds in a demo, yet every message carries real times.

Actors model loads, sunshine and prices by the hour of day. `Clock` says which hour of the
modelled day a real moment is: with speed 1 it is the wall clock (UTC), with speed 1800 a
15-minute slot lasts half a second. Messages always carry the real moments, so a product's
window is when the device really acts and energies follow from real durations.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from heila_client.parts import Horizon

DAY_HOURS = 24.0


@dataclass(frozen=True)
class Clock:
    origin: datetime
    """a real moment that is a modelled midnight"""
    speed: float = 1.0
    """modelled seconds per real second"""

    def hour(self, moment: datetime) -> float:
        """The modelled hour of day (0 to 24) at a real moment."""
        return ((moment - self.origin).total_seconds() * self.speed / 3600.0) % DAY_HOURS

    def real(self, model: timedelta) -> timedelta:
        """How long a modelled span lasts in real time."""
        return model / self.speed

    def next(self, hour: float, after: datetime) -> datetime:
        """The first real moment at or after `after` whose modelled hour is `hour`."""
        ahead = (hour - self.hour(after)) % DAY_HOURS
        return after + self.real(timedelta(hours=ahead))

    def slot_hours(self, horizon: Horizon) -> list[float]:
        """The modelled hour of day at the middle of each slot of a horizon."""
        return [self.hour(horizon.slot_start(i) + horizon.step / 2) for i in range(horizon.slots)]

    @classmethod
    def wall(cls) -> "Clock":
        """Real time: the modelled day is the UTC day."""
        return cls(datetime(2000, 1, 1, tzinfo=UTC), 1.0)
