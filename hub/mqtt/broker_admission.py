"""What the embedded broker checks of a client before amqtt sees it, and the bounds it holds
each connection to afterwards.

amqtt 0.12.1 bounds nothing per client: it reads a packet of whatever length a client
announces, buffers without end what it writes to a client that never reads, and queues
every QoS 1 message for an absent persistent session. It also acts on a CONNECT's client id
(taking over or deleting the session of that id) before it asks whether the login is good,
and an MQTT 5 CONNECT gets no answer at all. `HubBroker` therefore reads the CONNECT itself:
it answers an MQTT 5 client with "unsupported protocol version", refuses a bad login or a
client id that is another login's (hub.mqtt.broker_access), and only then hands the connection to
amqtt, through a reader that refuses packets over `max_message_bytes` and a writer that
drops a client once more than `max_queued_bytes` wait for it.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from amqtt.adapters import BufferReader, StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.errors import MQTTError, NoDataError
from amqtt.mqtt.connect import ConnectPacket
from amqtt.session import Session

from hub.config import Settings
from hub.mqtt.broker_access import HUB, Access, ClientIds, login_refusal

log = logging.getLogger(__name__)

_CONNECT = 0x10
_CONNECT_TIMEOUT = 10.0
"""seconds a client has to send its CONNECT once connected"""
_MQTT_311 = 4
_MQTT_5 = 5
_UNSUPPORTED_VERSION_V5 = bytes([0x20, 3, 0, 0x84, 0])
"""an MQTT 5 CONNACK: no session present, reason 0x84, no properties"""
_UNACCEPTABLE_VERSION = bytes([0x20, 2, 0, 1])
_IDENTIFIER_REJECTED = bytes([0x20, 2, 0, 2])
_NOT_AUTHORIZED = bytes([0x20, 2, 0, 5])


@dataclass(frozen=True)
class ClientLimits:
    """What one client may cost the hub (docs/configuration.md, [mqtt])."""

    max_message_bytes: int
    """the largest packet a client may send"""
    max_queued_messages: int
    """messages kept for a persistent session while its client is away"""
    max_queued_bytes: int
    """bytes kept for a client: waiting to be written to it, or for its session while away"""
    connections_per_second: int
    """connections one address may open, on average and in a burst"""


def client_limits(settings: Settings) -> ClientLimits:
    return ClientLimits(
        settings.mqtt_max_message_bytes,
        settings.mqtt_max_queued_messages,
        settings.mqtt_max_queued_bytes,
        settings.mqtt_connections_per_second,
    )


class TooLarge(Exception):
    """A client announced a packet longer than the hub takes."""


class ConnectionRate:
    """A bucket of `per_second` connections for each address, refilled at that rate (the
    embedded broker listens on loopback: the addresses are few)."""

    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._buckets: dict[str, tuple[float, float]] = {}
        """address -> (connections left, when counted)"""

    def admits(self, address: str) -> bool:
        now = time.monotonic()
        left, then = self._buckets.get(address, (self._per_second, now))
        left = min(self._per_second, left + (now - then) * self._per_second)
        admitted = left >= 1
        self._buckets[address] = (left - admitted, now)
        return admitted


async def read_first_packet(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The client's first packet, as sent, if it is a CONNECT of at most `limit` bytes."""
    head = await reader.readexactly(1)
    if head[0] != _CONNECT:
        raise MQTTError(f"the first packet is of type {head[0] >> 4}, not CONNECT")
    length, shift, size = 0, 0, b""
    while not size or size[-1] & 0x80:
        if len(size) == 4:
            raise MQTTError("malformed remaining length")
        size += await reader.readexactly(1)
        length += (size[-1] & 0x7F) << shift
        shift += 7
    if length > limit:
        raise TooLarge(f"a CONNECT of {length} bytes")
    return head + size + await reader.readexactly(length)


def protocol_level(connect: bytes) -> int | None:
    """The protocol level a CONNECT asks for (3 is MQTT 3.1, 4 is 3.1.1, 5 is 5), if it names
    the protocol at all."""
    start = 1
    while connect[start] & 0x80:  # the remaining length goes on
        start += 1
    body = connect[start + 1 :]
    for name in (b"\x00\x04MQTT", b"\x00\x06MQIsdp"):  # MQIsdp: MQTT 3.1
        if body.startswith(name) and len(body) > len(name):
            return body[len(name)]
    return None


class LimitedReader(StreamReaderAdapter):  # type: ignore[misc]  # amqtt ships no type hints
    """The client's stream for amqtt, the CONNECT the broker read first put back in front;
    a packet longer than `limit` ends the connection before it is read."""

    def __init__(self, reader: asyncio.StreamReader, first: bytes, limit: int) -> None:
        super().__init__(reader)
        self._first = first
        self._limit = limit

    async def read(self, n: int = -1) -> bytes:
        if n > self._limit:
            raise TooLarge(f"a packet of more than {n} bytes; the limit is {self._limit}")
        if not self._first:
            data: bytes = await super().read(n)
            return data
        cut = len(self._first) if n < 0 else n
        taken, self._first = self._first[:cut], self._first[cut:]
        missing = -1 if n < 0 else n - len(taken)
        return taken + (await super().read(missing) if missing else b"")


class LimitedWriter(StreamWriterAdapter):  # type: ignore[misc]
    """Writes to the client; once more than `limit` bytes wait for a client that does not
    read, drops it (its persistent session keeps what comes next, within its own bounds)."""

    def __init__(self, writer: asyncio.StreamWriter, limit: int, address: str) -> None:
        super().__init__(writer)
        self._transport = writer.transport
        self._limit = limit
        self._address = address

    def write(self, data: bytes) -> None:
        super().write(data)
        if (
            self._transport.get_write_buffer_size() > self._limit
            and not self._transport.is_closing()
        ):
            log.warning(
                "MQTT client at %s reads too slowly: over %d bytes wait for it; disconnected",
                self._address,
                self._limit,
            )
            self._transport.abort()


class HubBroker(Broker):  # type: ignore[misc]
    """amqtt with the checks and bounds above; `access` says who may log in, now."""

    def __init__(self, config: dict[str, Any], access: Access, limits: ClientLimits) -> None:
        super().__init__(config)
        self._access = access
        self._client_ids = ClientIds(access.hashes())
        self._limits = limits
        self._rate = ConnectionRate(limits.connections_per_second)
        self._full: set[str] = set()
        """client ids whose session dropped a message since it last had room"""

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        address = str(writer.get_extra_info("peername", ("?",))[0])
        if not self._rate.admits(address):
            log.debug("MQTT connection from %s refused: over its connection rate", address)
            writer.transport.abort()
            return
        limit = self._limits.max_message_bytes
        try:
            connect = await asyncio.wait_for(read_first_packet(reader, limit), _CONNECT_TIMEOUT)
            refusal, login = await self._admission(connect, address)
        except (OSError, EOFError, TimeoutError, MQTTError, TooLarge) as error:
            reason = str(error) or type(error).__name__
            log.warning("MQTT connection from %s dropped before its login: %s", address, reason)
            writer.transport.abort()
            return
        if refusal is not None:
            writer.write(refusal)
            writer.close()
            return
        bytes_queued = self._limits.max_queued_bytes
        await self._client_connected(
            listener_name,
            LimitedReader(reader, connect, limit),
            # the hub's own client carries every inbox message, and reads at once
            StreamWriterAdapter(writer)
            if login == HUB
            else LimitedWriter(writer, bytes_queued, address),
        )

    async def _admission(self, connect: bytes, address: str) -> tuple[bytes | None, str | None]:
        """The CONNACK that refuses `connect` (None to let amqtt take it), and its login."""
        level = protocol_level(connect)
        if level == _MQTT_5:
            log.info("MQTT 5 client at %s told that the embedded broker speaks 3.1.1", address)
            return _UNSUPPORTED_VERSION_V5, None
        if level is None:
            return None, None  # amqtt answers a malformed packet itself
        if level != _MQTT_311:
            log.info("MQTT client at %s asked for protocol level %d, not 3.1.1", address, level)
            return _UNACCEPTABLE_VERSION, None
        try:
            packet = await ConnectPacket.from_stream(BufferReader(connect))
        except (MQTTError, NoDataError, UnicodeDecodeError):
            return None, None
        login, client_id = packet.username, packet.client_id
        will = packet.will_topic if packet.will_flag else None
        hashes = self._access.hashes()
        self._client_ids.know(hashes)
        refusal = login_refusal(hashes, login, packet.password, will)
        if refusal is not None:
            log.warning("MQTT login of client %s refused: %s", client_id, refusal)
            return _NOT_AUTHORIZED, login
        taken = (
            None if packet.payload.client_id_is_random else self._client_ids.claim(client_id, login)
        )
        if taken is not None:
            log.warning("MQTT client at %s refused: %s", address, taken)
            return _IDENTIFIER_REJECTED, login
        return None, login

    def queue_lengths(self) -> dict[str, int]:
        """Per client id, the messages its session holds for it: kept while it is away, and
        sent but not yet acknowledged. Read from another thread, from a copy of the sessions."""
        sessions = list(self._sessions.values())
        return {
            session.client_id: session.retained_messages_count + session.inflight_out_count
            for session, _handler in sessions
        }

    async def _retain_broadcast_message(
        self, broadcast: dict[str, Any], qos: int, target_session: Session
    ) -> None:
        """Keep a message for an absent session only within its client's bounds."""
        waiting = list(target_session.retained_messages._queue)  # asyncio.Queue's own deque
        size = sum(len(message.data) for message in waiting) + len(broadcast["data"])
        client_id = target_session.client_id
        if (
            len(waiting) < self._limits.max_queued_messages
            and size <= self._limits.max_queued_bytes
        ):
            self._full.discard(client_id)
            await super()._retain_broadcast_message(broadcast, qos, target_session)
        elif client_id not in self._full:
            self._full.add(client_id)
            log.warning(
                "MQTT session %s is full (%d messages, %d bytes): dropping what comes for it",
                client_id,
                len(waiting),
                size,
            )
