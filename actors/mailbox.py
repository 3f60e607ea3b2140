"""What a consumer has handled, kept on disk: no message addressed to it is lost or done twice.

A notification is a hint; the hub's log is the truth. The hub numbers every commit, and
`GET /messages?recipient={actor}&after={sequence}` lists what was stored for the actor since a
sequence. A consumer keeps the cursor up to which it has worked through that list, and the ids
of the few messages above it that a notification brought first, in a small state file written
atomically after each message (replaced whole, not synced to disk: a machine that loses power
may bring back a message already handled, which the bridge's ledger of answered orders skips).
It reads the list on every (re)connect and now and then, so a message stored while it, the
broker or the hub was away still arrives; whichever way a message comes first, it is handled
once and skipped when it comes again. A hub whose log does not hold
the last message read at the cursor is another log (a new store): reading starts again from
its beginning. A consumer's first start (no state yet) begins at the log's end: what was sent
before it ever ran, such as orders another bridge carried out, is not acted on again.
"""

import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from heila_client.hub import HubClient, Refused, Unavailable

log = logging.getLogger("heila.mailbox")

Message = dict[str, Any]
Handle = Callable[[Message], None]
"""Handles one message; raises `Unavailable` to have it offered again later."""


class Mailbox:
    def __init__(self, actor: str, state: Path | None) -> None:
        """`state`: the state file; None keeps the state in memory only (then a restart reads
        every message the log holds for the actor)."""
        self.actor = actor
        self.state = state
        saved = json.loads(state.read_text()) if state is not None and state.exists() else {}
        self.begun = "after" in saved
        """the cursor was placed: at the log's end on the first start, then moved on"""
        self.after: int = saved.get("after", 0)
        """every message of the actor's log up to this sequence is handled"""
        self.last: str | None = saved.get("last")
        """id of the message at the cursor, by which the log is recognised"""
        self.early: dict[str, int] = saved.get("early", {})
        """id: sequence of messages above `after` already handled from a notification"""

    def begin(self, hub: HubClient) -> None:
        """On the first start, place the cursor at the end of the actor's log (before the
        consumer subscribes, so that nothing stored after it is skipped)."""
        if self.begun:
            return
        for entry in hub.addressed_to(self.actor, 0, page=1000):
            self.after, self.last = int(entry["sequence"]), str(entry["id"])
        self.begun = True
        self.early = {i: s for i, s in self.early.items() if s > self.after}
        self._save()
        log.info(
            "%s: first start, reading the hub's log from sequence %d on", self.actor, self.after
        )

    def is_new(self, identifier: str, sequence: int) -> bool:
        return sequence > self.after and identifier not in self.early

    def deliver(self, notification: Message, hub: HubClient, handle: Handle) -> None:
        """Handle a notified message unless it was handled already: from the notification's
        payload when the hub sent it along, else read from the hub."""
        identifier, sequence = str(notification["id"]), int(notification["sequence"])
        if not self.is_new(identifier, sequence):
            log.debug("%s: %s seen before: skipped", self.actor, identifier)
            return
        payload = notification.get("payload")
        if _handled(handle, lambda: payload or hub.get(identifier)):
            self.early[identifier] = sequence
            self._save()

    def catch_up(self, hub: HubClient, handle: Handle, wanted: Callable[[Message], bool]) -> int:
        """Handle, in commit order, every `wanted` message stored for the actor since the cursor
        and not handled yet; the number handled. Stops at the first that must wait."""
        if not self.begun:
            self.begin(hub)
            return 0
        if self.after and not self._same_log(hub):
            log.warning(
                "%s: the hub's log does not hold %s at %d: another log, read from its beginning",
                self.actor,
                self.last,
                self.after,
            )
            self.after, self.last, self.early = 0, None, {}
        handled = 0
        for entry in hub.addressed_to(self.actor, self.after):
            identifier = str(entry["id"])
            if identifier not in self.early and wanted(entry):
                if not _handled(handle, partial(hub.get, identifier)):
                    return handled
                handled += 1
            self._passed(identifier, int(entry["sequence"]))
        return handled

    def _same_log(self, hub: HubClient) -> bool:
        at_cursor = next(iter(hub.addressed_to(self.actor, self.after - 1, page=1)), None)
        return at_cursor is not None and at_cursor["id"] == self.last

    def _passed(self, identifier: str, sequence: int) -> None:
        self.after, self.last = sequence, identifier
        self.early = {i: s for i, s in self.early.items() if s > self.after}
        self._save()

    def _save(self) -> None:
        if self.state is None:
            return
        self.state.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state.with_name(f".{self.state.name}.tmp")
        with open(temporary, "w") as file:  # not synced: see the module's docstring
            json.dump({"after": self.after, "last": self.last, "early": self.early}, file)
        temporary.replace(self.state)


def _handled(handle: Handle, read: Callable[[], Message]) -> bool:
    """Run one message's handling; False when the hub was away and the message must come again.

    Any other failure is logged and counts as handled: it would fail again.
    """
    try:
        handle(read())
    except Unavailable as error:
        log.warning("the hub is away, the message waits: %s", error)
        return False
    except Refused as error:
        log.error("the hub said no: %s", error)
    except Exception:  # one failing message must not stop the consumer
        log.exception("a handler failed")
    return True
