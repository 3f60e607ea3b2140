"""The IEC 60870-5-104 link: a c104 client to every station of the point map.

On every (re)connect the link runs a general interrogation of each station and synchronises its
clock, from a thread of its own once the connection is open (c104's own Init.ALL missed the
interrogation in about one connect of eight here). A dropped link is reopened with growing
pauses (reconnect.py), so each station endpoint has a c104 client of its own. Callbacks run on
lib60870's receive thread, so they only find the point of a (common address, IOA), enqueue a
`Sample` and wake whoever waits for a status point. Addresses the point map does not name are
counted and logged once, never reported. c104 drops a value silently when the station sends it
with another type than the point map gives its address, and with it the rest of that message:
when an interrogation stays incomplete, the link reads the raw messages (asdu.py) for them, names
each such point once with both types, takes it in with the type sent (so the rest of its
messages flows) without reporting it, and stops waiting for it. c104 also misses confirmations
that come back fast (docs/c104.md): the link reads every station's answers to its commands from
the raw messages, wakes c104's wait once the answer it waits for is in (waker.py), and counts a
command the station confirmed as confirmed. Over TLS, c104 speaks plain TCP to a
`Tunnel` per station endpoint, which carries it on over TLS (tunnel.py says why).
"""

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import c104

from actors.bridge.field import Changes
from actors.bridge.iec104 import asdu
from actors.bridge.iec104.reconnect import Reconnects
from actors.bridge.iec104.tunnel import Tunnel
from actors.bridge.iec104.waker import Waker
from actors.bridge.monitoring import DOUBLE_POINT, DeviceClock, Sample
from actors.bridge.pointmap import BREAKER_COMMAND, Command, Point, PointMap, Station
from heila_client import objects

log = logging.getLogger("heila.bridge.link")

INTERROGATION_TIMEOUT = 2.0
"""Seconds for every mapped point to answer a general interrogation before it is repeated."""

QUALITY_BITS: tuple[tuple[int, objects.Quality], ...] = (
    (128, "invalid"),
    (64, "notTopical"),
    (1, "overflow"),
    (16, "blocked"),
    (32, "substituted"),
)
"""IEC 60870-5-104 quality bits (IV, NT, OV, BL, SB) and the reading's flag for each."""


@cache
def quality_flags(bits: int) -> tuple[objects.Quality, ...]:
    return tuple(name for bit, name in QUALITY_BITS if bits & bit)


def number(value: object) -> float:
    """A c104 value as a Sample carries it: a double point as its DOUBLE_POINT state."""
    name = getattr(value, "name", None)
    return DOUBLE_POINT[name] if name is not None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Tls:
    """Certificate files (PEM) for either end of a TLS 104 link (the bridge's or a station's):
    its own certificate and key, and the authority the other end's certificate must chain to."""

    certificate: Path
    key: Path
    ca: Path

    def transport_security(self) -> c104.TransportSecurity:
        """A station's end, as c104 serves it (c104's client cannot use it: see tunnel.py)."""
        security = c104.TransportSecurity(validate=True, only_known=False)
        security.set_certificate(cert=str(self.certificate), key=str(self.key))
        security.set_ca_certificate(cert=str(self.ca))
        return security

    def client_context(self) -> ssl.SSLContext:
        """The bridge's end: the station must chain to the CA and name the host it is reached by."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=self.ca)
        context.load_cert_chain(certfile=self.certificate, keyfile=self.key)
        return context


class Link:
    def __init__(
        self,
        point_map: PointMap,
        samples: "queue.SimpleQueue[Sample]",
        changes: Changes,
        *,
        endpoints: dict[str, tuple[str, int]] | None = None,
        tls: Tls | None = None,
        command_timeout_ms: int = 2000,
        reconnect: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """`endpoints` overrides a station's host and port from the point map, by station id;
        `reconnect` is the first and the longest pause before reopening a lost link."""
        self.point_map = point_map
        self._points = {
            (p.station.common_address, int(p.address)): p for p in point_map.points.values()
        }
        """the IEC 104 lookup: (common address, IOA) -> point"""
        self._samples = samples
        self._changes = changes
        self._clock = DeviceClock()
        self._unknown: set[tuple[int, int]] = set()
        self.outside_map = 0
        """values at addresses the point map does not name (logged once per address)"""
        self._command_timeout_ms = command_timeout_ms
        self._clients: dict[str, c104.Client] = {}
        """one client per station endpoint (host:port), so each link can be paused alone"""
        self._context = tls.client_context() if tls else None
        self._tunnels: dict[tuple[str, int], Tunnel] = {}
        self._stations_at: dict[tuple[str, int], tuple[str, int]] = {}
        """the station endpoint behind each address c104 connects to (a tunnel's, over TLS)"""
        self._opened: queue.SimpleQueue[c104.Connection | None] = queue.SimpleQueue()
        self._seen: set[tuple[int, int]] = set()
        self._lost_at: dict[int, float] = {}
        """when each unreachable station's link was lost (monotonic), by common address"""
        self._mistyped: dict[tuple[int, int], str] = {}
        """mapped points the station sends with another type: the type it sends"""
        self._retyped: set[tuple[int, int]] = set()
        """mistyped points that c104 now takes in with the type sent"""
        self._reading_raw: set[tuple[str, int]] = set()
        """connections (ip, port) whose raw messages are read for mistyped points"""
        self._sending: set[tuple[int, int]] = set()
        """(common address, IOA) of each command point whose command c104 is sending"""
        self._answers: dict[tuple[int, int], asdu.Answer | None] = {}
        """the station's last answer to each command point's command, since it was last sent"""
        self._answered = threading.Condition()
        self._waker = Waker()
        self._stations: dict[int, c104.Station] = {}
        for station in point_map.stations:
            host, port = (endpoints or {}).get(station.id, (station.host, station.port))
            self._stations[station.common_address] = self._add_station(station, host, port)
        for point in point_map.points.values():
            self._add_point(point)
        for command in point_map.commands.values():
            self._add_command(command)
        self._reconnects = Reconnects(self._clients, reconnect)

    def start(self) -> None:
        for tunnel in self._tunnels.values():
            tunnel.start()
        self._initialiser = threading.Thread(target=self._initialise, name="iec104-init")
        self._initialiser.start()
        self._reconnects.start()
        self._waker.start()
        for client in self._clients.values():
            client.start()

    def stop(self) -> None:
        self._opened.put(None)
        self._initialiser.join()
        self._reconnects.stop()
        for client in self._clients.values():
            client.stop()
        self._waker.stop()
        for tunnel in self._tunnels.values():
            tunnel.stop()

    @property
    def connected(self) -> bool:
        """Every station's connection is open, data transfer started (not muted).

        Through a tunnel the TCP connection opens before the station is reached; until the
        station answers STARTDT the connection stays muted.
        """
        return all(c.is_connected and not c.is_muted for c in self._connections())

    @property
    def tunnels(self) -> list[Tunnel]:
        """The TLS tunnels c104 connects through, one per station endpoint (none without TLS)."""
        return list(self._tunnels.values())

    def reached(self, station: Station) -> bool:
        """The station's link is open and data transfer started (not muted)."""
        connection = self._stations[station.common_address].connection
        return connection is not None and connection.is_connected and not connection.is_muted

    def away_for(self, station: Station) -> float:
        """Seconds since the station's link was lost; 0 while it is up or was never up."""
        lost = self._lost_at.get(station.common_address)
        return 0.0 if lost is None else time.monotonic() - lost

    def known(self, point: Point) -> bool:
        """A value of the point has been received since its link last opened."""
        return (point.station.common_address, point.address) in self._seen

    def status(self, point: Point) -> float:
        """The point's last received value (a double point as its DOUBLE_POINT state)."""
        return number(self._c104_point(point.station, int(point.address)).value)

    def operate(self, command: Command, value: float | str) -> bool:
        """Send a command with select-before-operate; True if the device confirmed it.

        `value` is "close" or "open" for a breaker, kW for a set-point (before the point's scale).
        The device's confirmation is read off the wire when c104 misses it; c104 also misses the
        select's, and then sends no execute: decide from the status point.
        """
        key = (command.station.common_address, int(command.address))
        point = self._c104_point(command.station, key[1])
        if command.type == BREAKER_COMMAND:
            point.value = c104.Double.ON if value == "close" else c104.Double.OFF
        else:
            point.value = float(value) / command.scale
        self._answers[key] = None
        self._sending.add(key)
        try:
            confirmed = point.transmit(cause=c104.Cot.ACTIVATION)
        finally:
            self._sending.discard(key)
        return confirmed or self._station_confirmed(key)

    def _station_confirmed(self, key: tuple[int, int]) -> bool:
        """Whether the station confirmed the execute, when c104 says it did not.

        c104 can also give up on a wait that was woken with the execute still unanswered: an
        answered select waits for the execute's answer up to the command timeout.
        """

        def executing() -> bool:
            answer = self._answers.get(key)
            return answer is not None and answer.select and _positive(answer)

        with self._answered:
            self._answered.wait_for(lambda: not executing(), self._command_timeout_ms / 1000)
        answer = self._answers.get(key)
        return answer is not None and not answer.select and _positive(answer)

    def _connections(self) -> list[c104.Connection]:
        return [c for client in self._clients.values() for c in client.connections]

    def _add_station(self, station: Station, host: str, port: int) -> c104.Station:
        endpoint = f"{host}:{port}"
        if self._context is not None:
            tunnel = self._tunnels.get((host, port))
            if tunnel is None:
                tunnel = self._tunnels[host, port] = Tunnel((host, port), self._context)
                self._stations_at["127.0.0.1", tunnel.port] = (host, port)
            host, port = "127.0.0.1", tunnel.port
        client = self._clients.get(endpoint)
        if client is None:
            client = self._clients[endpoint] = self._new_client()
        connection = client.get_connection(ip=host, port=port)
        if connection is None:
            connection = client.add_connection(ip=host, port=port, init=c104.Init.NONE)
            assert connection is not None, f"bad endpoint {host}:{port}"
            connection.on_state_change(callable=self._on_state_change)
            connection.on_receive_raw(callable=self._on_raw)
        added = connection.add_station(common_address=station.common_address)
        assert added is not None
        return added

    def _new_client(self) -> c104.Client:
        client = c104.Client(tick_rate_ms=50, command_timeout_ms=self._command_timeout_ms)
        client.on_new_point(callable=self._on_unknown_point)
        client.on_new_station(callable=self._on_unknown_station)
        return client

    def _add_point(self, point: Point) -> None:
        kind = getattr(c104.Type, point.type)
        added = self._stations[point.station.common_address].add_point(
            io_address=int(point.address), type=kind
        )
        assert added is not None
        added.on_receive(callable=self._on_value)

    def _add_command(self, command: Command) -> None:
        self._stations[command.station.common_address].add_point(
            io_address=int(command.address),
            type=getattr(c104.Type, command.type),
            command_mode=c104.CommandMode.SELECT_AND_EXECUTE,
        )

    def _c104_point(self, station: Station, address: int) -> c104.Point:
        point = self._stations[station.common_address].get_point(io_address=address)
        assert point is not None
        return point

    def _station_at(self, connection: c104.Connection) -> str:
        """The station's host:port for a c104 connection, also when it goes through a tunnel."""
        host, port = self._stations_at.get(
            (connection.ip, connection.port), (connection.ip, connection.port)
        )
        return f"{host}:{port}"

    def _on_state_change(self, connection: c104.Connection, state: c104.ConnectionState) -> None:
        log.info("IEC 104 link to %s: %s", self._station_at(connection), state.name)
        addresses = {station.common_address for station in connection.stations}
        if state == c104.ConnectionState.OPEN:
            for address in addresses:
                self._lost_at.pop(address, None)
            self._opened.put(connection)
        elif state == c104.ConnectionState.CLOSED_AWAIT_RECONNECT:
            now = time.monotonic()
            for address in addresses:
                self._lost_at.setdefault(address, now)
            self._seen = {key for key in self._seen if key[0] not in addresses}
            self._reconnects.lost(self._station_at(connection))

    def _initialise(self) -> None:
        """General interrogation, then clock synchronisation, of each station of an opened link.

        Every INTERROGATION_TIMEOUT without news, open links whose stations have not reported
        every mapped point are initialised again: a lost open event or answer heals itself.
        A link still muted then is started again (STARTDT): in some runs c104 2.2.1 left a link
        muted for good although the station runs it, and the station's confirmation of a new
        STARTDT unmutes it.
        """
        while True:
            try:
                opened = self._opened.get(timeout=INTERROGATION_TIMEOUT)
            except queue.Empty:
                for connection in self._connections():
                    if not connection.is_connected:
                        continue
                    if connection.is_muted:
                        station = self._station_at(connection)
                        log.warning("IEC 104 link to %s still muted: started again", station)
                        connection.unmute()
                    elif not self._complete(connection):
                        self._initialise_link(connection)
                continue
            if opened is None:
                return
            self._initialise_link(opened)

    def _complete(self, connection: c104.Connection) -> bool:
        addresses = {station.common_address for station in connection.stations}
        return all(self._expected(address) <= self._seen for address in addresses)

    def _expected(self, common_address: int) -> set[tuple[int, int]]:
        """The station's mapped points that a general interrogation must bring."""
        return {
            key for key in self._points if key[0] == common_address and key not in self._mistyped
        }

    def _initialise_link(self, connection: c104.Connection) -> None:
        """Initialise the link's stations; once all have answered, its reconnect pause resets."""
        self._initialise_stations(connection)
        if self._complete(connection):
            self._reconnects.settled(self._station_at(connection))

    def _initialise_stations(self, connection: c104.Connection) -> None:
        for station in connection.stations:
            ca = station.common_address
            for _attempt in range(3):
                if not connection.is_connected or self._interrogated(connection, ca):
                    break
                self._reading_raw.add((connection.ip, connection.port))
                self._retype(ca)
                missing = sorted(self._points[key].id for key in self._expected(ca) - self._seen)
                log.warning(
                    "station %d: interrogation unconfirmed or incomplete (%d mapped points "
                    "missing: %s): again",
                    ca,
                    len(missing),
                    ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else ""),
                )
            if not connection.clock_sync(common_address=ca):
                log.warning("station %d did not confirm the clock synchronisation", ca)

    def _interrogated(self, connection: c104.Connection, common_address: int) -> bool:
        """Interrogate; True once every mapped point of the station has reported a value.

        The confirmation itself is not awaited as proof: c104 misses some, the values tell.
        """
        connection.interrogation(common_address=common_address)
        return self._changes.wait_for(
            lambda: self._expected(common_address) <= self._seen, INTERROGATION_TIMEOUT
        )

    def _retype(self, common_address: int) -> None:
        """Let c104 take in the station's mistyped points with the type sent, unreported: else
        it drops every message that holds one, mapped values included."""
        station = self._stations[common_address]
        for key, sent in list(self._mistyped.items()):
            if key[0] == common_address and key not in self._retyped:
                self._retyped.add(key)
                station.remove_point(io_address=key[1])
                station.add_point(io_address=key[1], type=getattr(c104.Type, sent))

    def _on_raw(self, connection: c104.Connection, data: bytes) -> None:
        """Note the station's answers to commands; look for mistyped points once asked to."""
        answer = asdu.answer(data)
        if answer is not None:
            self._heard(connection, answer)
        elif (connection.ip, connection.port) in self._reading_raw:
            self._find_mistyped(data)

    def _heard(self, connection: c104.Connection, answer: asdu.Answer) -> None:
        """Keep the answer; wake c104's wait when it may have missed an answer that ends a
        step: the select's confirmation, the execute's termination, a refusal."""
        key = (answer.common_address, answer.address)
        with self._answered:
            self._answers[key] = answer
            self._answered.notify_all()
        final = asdu.ACTIVATION_CON if answer.select else asdu.ACTIVATION_TERMINATION
        if key in self._sending and (answer.negative or answer.cause == final):
            self._waker.wake(
                connection,
                answer.common_address,
                lambda: key in self._sending and self._answers.get(key) is answer,
            )

    def _find_mistyped(self, data: bytes) -> None:
        for common_address, address, sent in asdu.objects(data):
            point = self._points.get((common_address, address))
            if point is None or point.type == sent or (common_address, address) in self._mistyped:
                continue
            self._mistyped[common_address, address] = sent
            log.error(
                "station %d sends %s for point %s (address %d), which the point map types %s: "
                "its values are dropped until the map's iec:type says %s",
                common_address,
                sent,
                point.id,
                address,
                point.type,
                sent,
            )
            self._changes.received()

    def _on_value(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        key = (message.common_address, point.io_address)
        mapped = self._points.get(key)
        if mapped is None:
            self._outside(key)
            return c104.ResponseState.NONE
        quality = point.quality
        recorded = point.recorded_at
        self._seen.add(key)
        self._samples.put(
            Sample(
                mapped,
                number(point.value),
                quality_flags(quality.value) if isinstance(quality, c104.Quality) else (),
                None if recorded is None else self._clock.utc(recorded, mapped.station.zone),
                time.time_ns(),
            )
        )
        self._changes.received()
        return c104.ResponseState.NONE

    def _outside(self, key: tuple[int, int]) -> None:
        self.outside_map += 1
        if key not in self._unknown:
            self._unknown.add(key)
            log.warning(
                "station %d sent address %d, which the point map does not name: ignored", *key
            )

    def _on_unknown_point(
        self, client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type
    ) -> None:
        """Take the point in, else c104 drops the rest of its message, mapped values included.

        Its values are counted and logged as outside the map.
        """
        added = station.add_point(io_address=io_address, type=point_type)
        if added is not None:
            added.on_receive(callable=self._on_value)
        self._outside((station.common_address, io_address))

    def _on_unknown_station(
        self, client: c104.Client, connection: c104.Connection, common_address: int
    ) -> None:
        log.warning(
            "%s sent common address %d, which the point map does not name",
            self._station_at(connection),
            common_address,
        )


def _positive(answer: asdu.Answer) -> bool:
    """A confirmation or termination without the negative flag."""
    causes = (asdu.ACTIVATION_CON, asdu.ACTIVATION_TERMINATION)
    return not answer.negative and answer.cause in causes
