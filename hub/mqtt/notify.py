"""The hub's side of MQTT: one connection that tells actors of each committed message.

After a commit the hub publishes, at QoS 1, one notification per recipient on
`heila/v1/{recipient}/{type}` and one for observers on `heila/v1/all/{type}` (docs/mqtt.md).
The connection lives in paho's network thread and comes back by itself with growing delays;
while the broker is away, notifications wait in paho's queue and go out once it is back, so a
stored message is never refused for want of a broker.

The session is persistent (clean session off, and with MQTT 5 a session expiry): the broker
keeps the hub's subscriptions, and the inbox messages that came meanwhile, while the hub is
away or restarting. Received messages are acknowledged by whoever handles them, once handled
(`acknowledge`), so that nothing is acknowledged that a crash could still lose.
"""

import json
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.model.message import Message
from hub.storage.store import Stored

log = logging.getLogger(__name__)

PREFIX = "heila/v1"
OBSERVERS = "all"
MAX_QUEUED = 100_000
"""Notifications kept while the broker is away; further ones are dropped with a warning (actors
catch up on them by GET /messages?after=)."""

SESSION_EXPIRY = 7 * 24 * 3600
"""seconds an MQTT 5 broker keeps the hub's session after it went away"""

Handler = Callable[[mqtt.MQTTMessage], None]


def topic(actor: str, kind: str) -> str:
    """Where `actor` hears of `kind`: an information object's type, or `outcome`."""
    return f"{PREFIX}/{actor}/{kind}"


def send_at_once(client: mqtt.Client) -> None:
    """Switch off Nagle's algorithm on the client's socket (paho leaves it on): without this a
    PUBACK and a notification in a row wait for the peer's delayed ACK, some 40 ms each."""

    def on_socket_open(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client.on_socket_open = on_socket_open


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 text, UTC written as Z: the same text in every list and notification."""
    return moment.isoformat().replace("+00:00", "Z")


def notification(message: Message, stored: Stored, payload: bool) -> dict[str, Any]:
    """What subscribers hear of a stored message; with `payload`, the message itself."""
    body: dict[str, Any] = {
        "iri": stored.iri,
        "id": message.id,
        "type": message.type,
        "sender": message.sender,
        "time": rfc3339(message.time),
        "sequence": stored.sequence,
    }
    if payload:
        body["payload"] = message.to_json()
    return body


class Notifier:
    """One MQTT client for the whole hub: notifications out, and subscriptions for the inbox."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        payload: frozenset[str] = frozenset(),
        tls: bool = False,
    ) -> None:
        """`payload`: the types whose notifications carry the message; `tls`: the broker
        speaks TLS, its certificate checked against the system's CAs (or SSL_CERT_FILE)."""
        self.host = host
        self.port = port
        self.payload = payload
        self._topic_filters: list[str] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id,
            protocol=protocol,
            clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else False,
            manual_ack=True,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set()
        self._client.max_queued_messages_set(MAX_QUEUED)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        send_at_once(self._client)

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def start(self) -> None:
        """Connect in the background; an absent broker is retried, never fatal."""
        if self._client.protocol == MQTTProtocolVersion.MQTTv5:
            expiry = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            expiry.SessionExpiryInterval = SESSION_EXPIRY
            self._client.connect_async(self.host, self.port, clean_start=False, properties=expiry)
        else:
            self._client.connect_async(self.host, self.port)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Call `handler` from the network thread for each message on `topic_filter`.

        Subscribe before `start`: on connecting, the broker resends a session's unacknowledged
        messages at once, and one that finds no handler is never acknowledged."""
        self._topic_filters.append(topic_filter)
        self._client.message_callback_add(topic_filter, lambda _c, _u, m: handler(m))
        if self.connected:
            self._client.subscribe(topic_filter, qos=1)

    def acknowledge(self, received: mqtt.MQTTMessage) -> None:
        """Tell the broker that `received` (from a subscription) is handled and may be forgotten."""
        self._client.ack(received.mid, received.qos)

    def publish(self, topic_name: str, body: dict[str, Any]) -> None:
        self._send(topic_name, json.dumps(body))

    def notify(self, message: Message, stored: Stored) -> None:
        """Tell every recipient, and the observers, that `message` is stored."""
        body = json.dumps(notification(message, stored, message.type in self.payload))
        for actor in (*message.recipients, OBSERVERS):
            self._send(topic(actor, message.type), body)

    def _send(self, topic_name: str, body: str) -> None:
        info = self._client.publish(topic_name, body, qos=1)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            log.warning("MQTT queue full (%d); dropped a message on %s", MAX_QUEUED, topic_name)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%d refused the hub: %s", self.host, self.port, reason)
            return
        log.info("connected to MQTT broker %s:%d", self.host, self.port)
        for topic_filter in self._topic_filters:
            client.subscribe(topic_filter, qos=1)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Any,
    ) -> None:
        if reason.is_failure:
            log.warning("lost MQTT broker %s:%d (%s); reconnecting", self.host, self.port, reason)
