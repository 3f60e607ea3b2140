"""Growing pauses between tries, for whatever the bridge must reach again: a station, the hub.

The first pause is short so a brief outage costs little; each failure doubles it up to the
longest, so a peer that stays away is not hammered; a success starts again from the first.
"""


class Backoff:
    def __init__(self, first: float, longest: float) -> None:
        if not 0 < first <= longest:
            raise ValueError(f"backoff needs 0 < first <= longest, not {first}, {longest}")
        self.first = first
        self.longest = longest
        self._next = first

    def failed(self) -> float:
        """The pause before the next try, after one more failure."""
        pause = self._next
        self._next = min(pause * 2, self.longest)
        return pause

    def succeeded(self) -> None:
        self._next = self.first
