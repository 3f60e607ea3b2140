"""A hub node's copy of the graph: the commit log applied, entry by entry, to its own store.

The node reads the log from the entry after the last its store holds (so a new node, or one
restarted, catches up by replay) through an ephemeral pull consumer of its own, and checks that
entries come without gaps: after a gap, a lost consumer or a NATS node going away, it starts a
new consumer from where it stopped. Every entry is applied with its stream sequence as the
message's sequence, so every node numbers and pages messages alike. An entry whose id the store
knows is no change (a repeat after the de-duplication window); with other content it is
refused by every node alike, and the writer waiting for it hears 409.

`applied` is how far the node has gone; readers and writers wait on it (`wait_for`). Each
message an entry stores is handed to `stored` (the node's live feed), so a viewer of any node
sees every commit, wherever it was posted. A registry change is handed to `changed` (the
node's registry), so an actor added, rotated or revoked through one node is so on every node.
"""

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from hub.cluster.consumers import IDLE, keep_running
from hub.cluster.log import (
    STREAM,
    SUBJECT,
    actor_change_of,
    digest,
    is_actor_change,
    message_of,
)
from hub.config import Credential
from hub.model.errors import Conflict, HubError
from hub.model.message import Message
from hub.storage.store import OxigraphStore, Stored

log = logging.getLogger(__name__)

BATCH = 256
OUTCOMES_KEPT = 65_536
"""Outcomes of the latest entries, kept for the writers waiting on them."""
_INACTIVE = 30.0


@dataclass(frozen=True)
class Outcome:
    """What applying one entry did: the stored message, or None when refused, and the digest
    of the entry, so that a writer whose entry was a duplicate can tell whether it was its own."""

    stored: Stored | None
    digest: bytes


OnStored = Callable[[Message, Stored], None]
OnActorChange = Callable[[str, Credential | None], None]


class Replica:
    """Applies the log to `store`, in order, for as long as `run` runs."""

    def __init__(
        self,
        js: JetStreamContext,
        store: OxigraphStore,
        stored: OnStored,
        changed: OnActorChange,
    ) -> None:
        """`stored`: told of each message stored; `changed`: makes each registry change."""
        self._js = js
        self._store = store
        self._stored = stored
        self._changed = changed
        self.applied = store.last_sequence
        self._outcomes: OrderedDict[int, Outcome] = OrderedDict()
        self._progress = asyncio.Condition()

    async def wait_for(self, sequence: int) -> None:
        """Return once the store holds everything up to `sequence`."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.applied >= sequence)

    def outcome(self, sequence: int) -> Outcome | None:
        return self._outcomes.get(sequence)

    async def run(self) -> None:
        await keep_running(self._follow, lambda: f"applying the commit log from {self.applied + 1}")

    async def _follow(self) -> None:
        """Read the log through one consumer until it is lost or skips an entry."""
        consumer = await self._js.pull_subscribe(
            SUBJECT,
            stream=STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self.applied + 1,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=_INACTIVE,
                mem_storage=True,
            ),
        )
        try:
            while True:
                try:
                    entries = await consumer.fetch(BATCH, timeout=IDLE)
                except TimeoutError:  # nothing new (nats-py raises the builtin one here)
                    await consumer.consumer_info()  # raises when the consumer is gone
                    continue
                if not await self._apply(entries):
                    return
        finally:
            await consumer.unsubscribe()

    async def _apply(self, entries: list[Msg]) -> bool:
        """Apply entries in order; False at a gap, so that reading starts again after it."""
        for entry in entries:
            sequence = entry.metadata.sequence.stream
            if sequence <= self.applied:
                continue
            if sequence != self.applied + 1:
                return False
            stored = None
            if is_actor_change(entry.headers):
                self._change_actor(entry.data, sequence)
            else:
                stored = self._put(entry.data, sequence)
            self._record(sequence, Outcome(stored, digest(entry.data)))
            self.applied = sequence
        async with self._progress:
            self._progress.notify_all()
        return True

    def _put(self, data: bytes, sequence: int) -> Stored | None:
        try:
            message = message_of(data)
            stored = self._store.put(message, sequence)
        except Conflict:
            return None
        except (HubError, SyntaxError, ValueError) as error:  # not written by a hub node
            log.error("log entry %d is no message, skipped: %s", sequence, error)
            return None
        if stored.created:
            self._stored(message, stored)
        return stored

    def _change_actor(self, data: bytes, sequence: int) -> None:
        try:
            actor, credential = actor_change_of(data)
        except (KeyError, TypeError, ValueError) as error:  # not written by a hub node
            log.error("log entry %d is no registry change, skipped: %s", sequence, error)
            return
        self._changed(actor, credential)

    def _record(self, sequence: int, outcome: Outcome) -> None:
        self._outcomes[sequence] = outcome
        while len(self._outcomes) > OUTCOMES_KEPT:
            self._outcomes.popitem(last=False)
