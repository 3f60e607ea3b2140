"""Which of a load profile's captures are new: each capture is delivered once, none is lost.

A profile is read by range from its last delivered capture, inclusive: a range that started a
second later skipped captures less than a second apart, and a meter's clock may stamp several
captures alike. So the read gives some captures again, and the mark (the last capture's time and
how many captures with that time were delivered) says which: those before it, and as many at
its time as were delivered, are dropped. Captures come in the order the meter took them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Mark:
    """Where the delivered captures of a profile end."""

    time: datetime
    """the last delivered capture's time"""
    count: int
    """how many delivered captures carry that time"""


def undelivered(stamps: Sequence[datetime], mark: Mark | None) -> tuple[list[int], Mark | None]:
    """The indices of the captures (by their times, in order) not yet delivered, and the mark
    once they are."""
    fresh = [index for index, at in enumerate(stamps) if _new(at, index, stamps, mark)]
    for index in fresh:
        at = stamps[index]
        mark = Mark(at, mark.count + 1 if mark and mark.time == at else 1)
    return fresh, mark


def _new(at: datetime, index: int, stamps: Sequence[datetime], mark: Mark | None) -> bool:
    """Whether a capture is past the mark: later than it, or at its time but past as many
    captures with that time as were delivered."""
    if mark is None or at > mark.time:
        return True
    return at == mark.time and stamps[:index].count(at) >= mark.count
