"""Replay protection: a message is taken in only near the moment it says it was made.

A message's `time` (smartapi:generatedAt) must lie within `[trust] window_seconds` of the
moment the hub receives it, before or after. A message captured on the way and sent again
later is refused once the window has passed; within the window, sending it again is harmless,
because the store takes a message once by id (a known id with other content is a 409 on every
door). Without a window (the default) any time is taken: history written by an administrator
(`heila demo --days`, `heila load`) carries past times, and so does a field bridge that sends
what it buffered while the hub was away.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.model.errors import HubError, Violation
from hub.model.message import Message
from hub.model.vocabulary import MESSAGE


class OutsideWindow(HubError):
    """A message whose time lies too far from the moment it was received."""

    def __init__(self, iri: str, text: str) -> None:
        self.iri = iri
        super().__init__(text)

    def violation(self) -> Violation:
        name = self.iri.removeprefix(MESSAGE)
        return Violation(name, self.iri, "time", "time", "window", None, str(self))


@dataclass(frozen=True)
class TimeWindow:
    """How far a message's time may lie from its receipt; 0 seconds: no limit."""

    seconds: float = 0.0

    def check(self, message: Message, received: datetime) -> None:
        """Raise OutsideWindow unless the message was made within the window of `received`."""
        if not self.seconds:
            return
        made = message.time if message.time.tzinfo else message.time.replace(tzinfo=UTC)
        off = made - received
        if abs(off) > timedelta(seconds=self.seconds):
            side = "ahead of" if off > timedelta(0) else "behind"
            raise OutsideWindow(
                message.iri,
                f"the message's time {made.isoformat()} is {abs(off.total_seconds()):.0f} s "
                f"{side} the hub's clock; it takes messages made within {self.seconds:g} s",
            )


ANY_TIME = TimeWindow()
"""No window: the default, and what history written by an administrator is taken in with."""
