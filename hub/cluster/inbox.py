"""The MQTT inbox on a cluster: each inbox message taken in by one hub node, not by all.

NATS's MQTT listener has no shared subscriptions, and a node subscribed to the inboxes over
MQTT would take in every message once per node: the log keeps it once, but the actor would hear
`stored` from one node and `duplicate` from the others. NATS keeps each QoS 1 message published
over MQTT in its stream `$MQTT_msgs`, the topic as subject under `$MQTT.msgs.`; the nodes share
one durable consumer of the inbox subjects there, so JetStream hands each message to one node.
It takes the message in as one process does (hub.mqtt.inbox), publishes the outcome, and only then
acknowledges: a node that dies first leaves the message to another after `ACK_WAIT`.

One message is out at a time, cluster-wide: the inbox takes messages in the order NATS took
them, as one process does, so an actor's message may refer to the one it sent just before.
"""

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext

from hub.cluster.consumers import IDLE, keep_running, shared_consumer
from hub.mqtt.inbox import guessed_type, split_signature
from hub.mqtt.notify import PREFIX

STREAM = "$MQTT_msgs"
SUBJECT = "$MQTT.msgs." + PREFIX.replace("/", ".") + ".inbox.*"
CONSUMER = "inbox"
ACK_WAIT = 10.0
"""Seconds an inbox message stays with the node that took it before it goes to another."""

Take = Callable[[str, bytes, str, str | None], None]
"""Takes in a message from an actor's inbox (actor, body, media type, signature) and says the
outcome."""


class InboxConsumer:
    """Takes the inbox messages JetStream hands this node, one at a time."""

    def __init__(self, js: JetStreamContext, take: Take) -> None:
        self._js = js
        self._take = take

    async def run(self) -> None:
        """Until cancelled; the stream appears with NATS's first MQTT client, so the first
        tries may fail."""
        await keep_running(self._serve, lambda: "inbox consumer")

    async def _serve(self) -> None:
        consumer = await shared_consumer(self._js, STREAM, SUBJECT, CONSUMER, ACK_WAIT, 1)
        while True:
            try:
                entries = await consumer.fetch(1, timeout=IDLE)
            except TimeoutError:  # nothing new (nats-py raises the builtin one here)
                continue
            for entry in entries:
                actor = entry.subject.rsplit(".", 1)[-1]
                body, signature = split_signature(entry.data)
                await asyncio.to_thread(self._take, actor, body, guessed_type(body), signature)
                await entry.ack()
