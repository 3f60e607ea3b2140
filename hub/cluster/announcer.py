"""Notifications in a cluster: once per message, not once per node.

The nodes share one durable consumer of the log ("notify"), so JetStream hands each entry to
one of them. That node waits until its own store has applied the entry, announces it on MQTT
if the entry is the one that stored the message (a repeat stores nothing and is not
announced), waits for the broker's PUBACKs and only then acknowledges the entry. A node that
dies before acknowledging leaves the entry to another node after `ACK_WAIT`: every message is
announced at least once, and the notification's `sequence` (the stream's) is the id by which
actors drop a second one.
"""

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

import paho.mqtt.client as mqtt
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from hub.cluster.consumers import IDLE, keep_running, shared_consumer
from hub.cluster.log import STREAM, SUBJECT, is_actor_change, message_of
from hub.model.message import Message
from hub.mqtt.notify import OBSERVERS, notification, send_at_once, topic
from hub.storage.store import Store, Stored

log = logging.getLogger(__name__)

CONSUMER = "notify"
ACK_WAIT = 10.0
"""Seconds an entry stays with a node that took it before JetStream gives it to another."""
_BATCH = 64
_PUBACK_TIMEOUT = 5.0

WaitFor = Callable[[int], Coroutine[Any, Any, None]]


class MqttAnnouncer:
    """A QoS 1 MQTT client that says when the broker has taken a notification."""

    def __init__(self, host: str, port: int, username: str | None, password: str | None) -> None:
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            f"heila-announcer-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        send_at_once(self._client)
        self._address = host, port

    def start(self) -> None:
        self._client.connect_async(*self._address)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def announce(self, message: Message, stored: Stored, payload: frozenset[str]) -> bool:
        """Publish the notifications of `message`; True once the broker took every one, False
        at once while the broker is away (the entry then waits in the log, not in paho)."""
        if not self._client.is_connected():
            return False
        text = json.dumps(notification(message, stored, message.type in payload))
        sent = [
            self._client.publish(topic(actor, message.type), text, qos=1)
            for actor in (*message.recipients, OBSERVERS)
        ]
        for info in sent:
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(_PUBACK_TIMEOUT)
        return all(info.is_published() for info in sent)


class Announcer:
    """Takes entries from the shared consumer and announces the ones that stored a message."""

    def __init__(
        self,
        js: JetStreamContext,
        store: Store,
        applied: WaitFor,
        mqtt_out: MqttAnnouncer,
        payload: frozenset[str],
    ) -> None:
        self._js = js
        self._store = store
        self._applied = applied
        self._mqtt = mqtt_out
        self._payload = payload

    async def run(self) -> None:
        await keep_running(self._serve, lambda: "notification consumer")

    async def _serve(self) -> None:
        consumer = await shared_consumer(self._js, STREAM, SUBJECT, CONSUMER, ACK_WAIT)
        while True:
            try:
                entries = await consumer.fetch(_BATCH, timeout=IDLE)
            except TimeoutError:  # nothing new (nats-py raises the builtin one here)
                continue
            for entry in entries:
                await self._announce(entry)

    async def _announce(self, entry: Msg) -> None:
        sequence = entry.metadata.sequence.stream
        await self._applied(sequence)
        if is_actor_change(entry.headers):  # nothing to tell the actors
            await entry.ack()
            return
        message = message_of(entry.data)
        if self._stored_by(message, sequence):
            stored = Stored(message.iri, sequence, created=True)
            taken = await asyncio.to_thread(self._mqtt.announce, message, stored, self._payload)
            if not taken:
                log.warning("the broker did not take the notification of %d; later", sequence)
                await entry.nak(delay=IDLE)
                return
        await entry.ack()

    def _stored_by(self, message: Message, sequence: int) -> bool:
        """Whether this entry is the one that stored the message (not a later repeat)."""
        first = self._store.messages(after=sequence - 1, limit=1)
        return bool(first) and first[0].sequence == sequence and first[0].iri == message.iri
