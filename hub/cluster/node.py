"""A hub node of a cluster: the commit log in NATS JetStream, the graph in its own store.

The node keeps one NATS connection, and the loops that read the log (hub.cluster.replica,
hub.cluster.announcer), in an asyncio loop on a thread of its own, so that the HTTP server,
the MQTT inbox and the query workers see plain blocking calls.

As the intake's committer it:
- catches up before validating: it waits until its store has applied the log up to the
  entry that was last when the message arrived, so the messages a new one refers to are
  known if they were committed anywhere before it (at the cost of one request to the log);
- commits by publishing the entry, and answers once the log acknowledged it and the node
  applied it, so that the writer reads its own write on this node. A writer on another node
  sends the `Heila-Min-Sequence` header (hub.web.read_after) with the sequence it was
  answered.
"""

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client

from hub.cluster import log as commit_log
from hub.cluster.announcer import Announcer, MqttAnnouncer
from hub.cluster.inbox import InboxConsumer, Take
from hub.cluster.remote import Endpoints, RemoteReplica
from hub.cluster.replica import OnActorChange, OnStored, Replica
from hub.config import Credential, Settings
from hub.lifecycle import Background
from hub.model.errors import Conflict, LogUnavailable, NotApplied
from hub.model.message import Message
from hub.storage.store import OxigraphStore, Stored

_START_TIMEOUT = 30.0

T = TypeVar("T")


class ClusterNode(Background):
    """One hub node: applies the log to `store`, announces its share, commits through it."""

    def __init__(
        self,
        settings: Settings,
        store: OxigraphStore,
        stored: OnStored,
        changed: OnActorChange,
    ) -> None:
        """`stored`: told of each message the node's store takes from the log (the live feed);
        `changed`: makes each registry change the log brings (the node's registry)."""
        self._settings = settings
        self._store = store
        self._stored = stored
        self._changed = changed
        self._take_inbox: Take | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cluster", daemon=True)
        self._nats: Client | None = None
        self._replica: Replica | None = None
        self._tasks: list[asyncio.Task[None]] = []
        host, port = settings.mqtt_address
        self._mqtt = MqttAnnouncer(host, port, settings.mqtt_username, settings.mqtt_password)

    @property
    def applied(self) -> int:
        """How far the store has applied the log (as far as it holds, before the log is read)."""
        return self._replica.applied if self._replica is not None else self._store.last_sequence

    @property
    def reached(self) -> bool:
        """Whether the node has reached the commit log and reads it."""
        return self._replica is not None

    def take_inbox(self, take: Take) -> None:
        """Take in the share of the MQTT inbox that NATS hands this node with `take` (before
        `start`)."""
        self._take_inbox = take

    def start(self) -> None:
        """Reach NATS in the background: a node whose NATS is away serves reads from its copy
        and answers writes 503 until it is back, as an absent broker is never fatal either."""
        self._thread.start()
        self._mqtt.start()
        self._call(self._begin(), _START_TIMEOUT)

    def stop(self) -> None:
        self._call(self._close(), _START_TIMEOUT)
        self._mqtt.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_START_TIMEOUT)

    def catch_up(self) -> None:
        self._call(self._catch_up(), 2 * self._settings.cluster_read_wait)

    def commit(self, message: Message) -> Stored:
        return self._call(self._commit(message), 2 * self._settings.cluster_read_wait)

    def change_actor(self, actor: str, credential: Credential | None) -> None:
        """Make a registry change through the log; return once this node has made it."""
        self._call(self._change_actor(actor, credential), 2 * self._settings.cluster_read_wait)

    async def wait_for(self, sequence: int) -> bool:
        """From any event loop: True once the node applied `sequence`, False after the wait."""
        future = asyncio.run_coroutine_threadsafe(self._wait(sequence), self._loop)
        return await asyncio.wrap_future(future)

    async def _begin(self) -> None:
        self._tasks.append(asyncio.create_task(self._open(), name="open"))

    async def _open(self) -> None:
        self._nats = await nats.connect(
            servers=list(self._settings.cluster_nats),
            name=f"heila-node-{secrets.token_hex(4)}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        js = self._nats.jetstream()
        await commit_log.open_log(js, self._settings.cluster_replicas)
        self._replica = Replica(js, self._store, self._stored, self._changed)
        announcer = Announcer(
            js, self._store, self._replica.wait_for, self._mqtt, self._settings.notify_payload
        )
        self._tasks += [
            asyncio.create_task(self._replica.run(), name="replica"),
            asyncio.create_task(announcer.run(), name="announcer"),
        ]
        if self._take_inbox is not None:
            inbox = InboxConsumer(js, self._take_inbox)
            self._tasks.append(asyncio.create_task(inbox.run(), name="inbox"))
        remote = self._remote_endpoints()
        if remote is not None:
            copier = RemoteReplica(remote, self._store, self._replica.wait_for)
            self._tasks.append(asyncio.create_task(copier.run(), name="remote-replica"))

    def _remote_endpoints(self) -> Endpoints | None:
        settings = self._settings
        if not (settings.remote_query and settings.remote_update and settings.remote_graph_store):
            return None
        login = None
        if settings.remote_username is not None and settings.remote_password is not None:
            login = settings.remote_username, settings.remote_password
        return Endpoints(
            settings.remote_query, settings.remote_update, settings.remote_graph_store, login
        )

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nats is not None:
            await self._nats.close()

    async def _catch_up(self) -> None:
        js = self._jetstream()
        last = await commit_log.last_sequence(js, self._settings.cluster_read_wait)
        await self._until_applied(last)

    async def _commit(self, message: Message) -> Stored:
        entry = commit_log.entry_of(message)
        published = await commit_log.publish(
            self._jetstream(), message, entry, self._settings.cluster_read_wait
        )
        await self._until_applied(published.sequence)
        assert self._replica is not None
        outcome = self._replica.outcome(published.sequence)
        if outcome is None:  # a repeat of an entry too old to have its outcome kept
            return Stored(message.iri, published.sequence, created=False)
        if outcome.stored is None or outcome.digest != commit_log.digest(entry):
            raise Conflict(message.iri)
        created = outcome.stored.created and not published.duplicate
        return Stored(message.iri, outcome.stored.sequence, created)

    async def _change_actor(self, actor: str, credential: Credential | None) -> None:
        entry = commit_log.actor_change(actor, credential)
        published = await commit_log.publish_actor_change(
            self._jetstream(), entry, self._settings.cluster_read_wait
        )
        await self._until_applied(published.sequence)

    async def _wait(self, sequence: int) -> bool:
        if self._replica is None:
            return sequence <= self.applied
        try:
            await asyncio.wait_for(
                self._replica.wait_for(sequence), self._settings.cluster_read_wait
            )
        except TimeoutError:
            return False
        return True

    async def _until_applied(self, sequence: int) -> None:
        if not await self._wait(sequence):
            raise NotApplied(sequence, self._settings.cluster_read_wait)

    def _jetstream(self) -> Any:
        if self._replica is None or self._nats is None:
            raise LogUnavailable("this node has not reached the commit log yet")
        return self._nats.jetstream()

    def _call(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise LogUnavailable(f"the cluster did not answer within {timeout:g} s") from None
