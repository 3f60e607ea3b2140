"""The simulated substation as an IEC 60870-5-104 server, and the `heila simulate` command.

One c104 server per station. A stepping thread advances the physical model and reports every
changed value spontaneously with its device time stamp, written as the station's wall clock in
its time zone (the host's unless configured); breaker and set-point commands are
select-before-operate, act on the model, and send the status point back from the command
callback so the client sees the change at once.
"""

import argparse
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import c104

from actors.bridge.iec104.link import Tls
from hub.model.errors import UsageError
from substation.config import (
    LAYOUT,
    FeederConfig,
    StationConfig,
    SubstationConfig,
    add_feeder_arguments,
    load,
    only,
)
from substation.meter import add_feeder_meter_arguments, feeder_meter, metering
from substation.model import Breaker, Feeder, Grid

log = logging.getLogger("heila.substation")

COMMANDS = {"breakerCommand": "breaker", "setpointCommand": "resourceSetpoint"}
"""Command points and the status point each one moves."""
STATUS = {"breaker"}
MEASURED = tuple(name for name in LAYOUT if name not in COMMANDS and name not in STATUS)


@dataclass
class Faults:
    """Misbehaviours a test can switch on, as a real device sometimes shows them."""

    mute_commands: bool = False
    """answer no command at all: the client's command times out and nothing moves"""
    unconfirmed_execution: bool = False
    """execute commands but send no confirmation: only the status point tells"""


@dataclass
class _Signal:
    feeder: Feeder
    name: str


@dataclass
class Substation:
    """Every station of a configuration, served over TCP, answering commands from one model."""

    config: SubstationConfig
    tls: Tls | None = None
    faults: Faults = field(default_factory=Faults)
    _grid: Grid = field(init=False)
    _servers: list[c104.Server] = field(init=False, default_factory=list)
    _signals: dict[tuple[int, int], _Signal] = field(init=False, default_factory=dict)
    _quality: dict[tuple[int, int], c104.Quality] = field(init=False, default_factory=dict)
    _zones: dict[int, ZoneInfo | None] = field(init=False, default_factory=dict)
    """each station's time zone, by common address"""
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _stepper: threading.Thread | None = field(init=False, default=None)
    operations: list[tuple[str, str]] = field(init=False, default_factory=list)
    """(feeder, command point) of every command executed, in order: what really operated"""

    def __post_init__(self) -> None:
        self._zones = {station.common_address: station.zone for station in self.config.stations}
        feeders = {
            feeder.spec.name: Feeder(feeder.spec)
            for station in self.config.stations
            for feeder in station.feeders
        }
        self._grid = Grid(feeders, seed=self.config.seed)
        self._servers = [self._serve(station) for station in self.config.stations]

    def start(self) -> None:
        with self._lock:
            self._report_changes()
        for server in self._servers:
            server.start()
        self._stop.clear()
        self._stepper = threading.Thread(target=self._run, name="substation-step", daemon=True)
        self._stepper.start()

    def stop(self) -> None:
        self._stop.set()
        if self._stepper is not None:
            self._stepper.join()
        for server in self._servers:
            server.stop()

    def restart(self) -> None:
        """The device reboots: connections drop, the servers come back with the same state."""
        self.stop()
        self._servers = [self._serve(station) for station in self.config.stations]
        self.start()

    def feeder(self, name: str) -> Feeder:
        return self._grid.feeders[name]

    @property
    def feeders(self) -> list[str]:
        return list(self._grid.feeders)

    def trip(self, feeder: str) -> None:
        """The protection relay opens a feeder's breaker, and the station reports it."""
        with self._lock:
            self._grid.feeders[feeder].breaker = Breaker.OPEN
            for station in self.config.stations:
                for config in station.feeders:
                    if config.spec.name == feeder:
                        status = self._point(station.common_address, config.address("breaker"))
                        self._send_breaker(status, closed=False, cause=c104.Cot.SPONTANEOUS)

    def set_quality(self, common_address: int, address: int, quality: c104.Quality) -> None:
        """Flag a point's future values (e.g. c104.Quality.Invalid), as a failing sensor would."""
        with self._lock:
            self._quality[common_address, address] = quality

    def report(self, common_address: int, address: int, value: float) -> datetime:
        """Change one measured value now and send it; returns the device time stamp."""
        with self._lock:
            point = self._point(common_address, address)
            return self._send(common_address, point, value)

    def _serve(self, station: StationConfig) -> c104.Server:
        security = self.tls.transport_security() if self.tls else None
        server = c104.Server(
            ip=station.host, port=station.port, tick_rate_ms=50, transport_security=security
        )
        server.on_clock_sync(callable=_on_clock_sync)
        c104_station = server.add_station(common_address=station.common_address)
        assert c104_station is not None
        for feeder in station.feeders:
            self._add_points(c104_station, feeder)
        return server

    def _add_points(self, station: c104.Station, feeder: FeederConfig) -> None:
        model = self._grid.feeders[feeder.spec.name]
        stamp = self._stamp(station.common_address, datetime.now(UTC))  # c104's own is in UTC
        for name in MEASURED:
            point = station.add_point(io_address=feeder.address(name), type=c104.Type.M_ME_TF_1)
            assert point is not None
            point.info = c104.ShortInfo(actual=0.0, quality=c104.Quality(), recorded_at=stamp)
        status = station.add_point(io_address=feeder.address("breaker"), type=c104.Type.M_DP_TB_1)
        assert status is not None
        status.info = c104.DoubleInfo(state=c104.Double.ON, recorded_at=stamp)
        for command, moved in COMMANDS.items():
            kind = c104.Type.C_DC_NA_1 if command == "breakerCommand" else c104.Type.C_SE_NC_1
            point = station.add_point(
                io_address=feeder.address(command),
                type=kind,
                related_io_address=feeder.address(moved),
                command_mode=c104.CommandMode.SELECT_AND_EXECUTE,
            )
            assert point is not None
            point.on_receive(callable=self._on_command)
        for name in (*MEASURED, "breaker"):
            self._signals[station.common_address, feeder.address(name)] = _Signal(model, name)
        for command in COMMANDS:
            self._signals[station.common_address, feeder.address(command)] = _Signal(model, command)

    def _on_command(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        if self.faults.mute_commands:
            return c104.ResponseState.NONE
        if message.is_select_command:
            return c104.ResponseState.SUCCESS
        station = point.station
        assert station is not None
        signal = self._signals[station.common_address, point.io_address]
        with self._lock:
            if signal.name == "breakerCommand":
                closed = point.value == c104.Double.ON
                signal.feeder.breaker = Breaker.CLOSED if closed else Breaker.OPEN
                status = self._point(station.common_address, point.related_io_address or 0)
                self._send_breaker(status, closed, c104.Cot.RETURN_INFO_REMOTE)
            else:
                applied = signal.feeder.set_setpoint(float(point.value))  # type: ignore[arg-type]
                feedback = self._point(station.common_address, point.related_io_address or 0)
                self._send(station.common_address, feedback, applied, c104.Cot.RETURN_INFO_REMOTE)
            self.operations.append((signal.feeder.spec.name, signal.name))
        log.info("feeder %s: %s executed: %s", signal.feeder.spec.name, signal.name, point.value)
        if self.faults.unconfirmed_execution:
            return c104.ResponseState.NONE
        return c104.ResponseState.SUCCESS

    def _point(self, common_address: int, address: int) -> c104.Point:
        for server in self._servers:
            station = server.get_station(common_address=common_address)
            point = station.get_point(io_address=address) if station else None
            if point is not None:
                return point
        raise KeyError(f"no point {address} in station {common_address}")

    def _send(
        self,
        common_address: int,
        point: c104.Point,
        value: float,
        cause: c104.Cot = c104.Cot.SPONTANEOUS,
    ) -> datetime:
        now = datetime.now(UTC)
        quality = self._quality.get((common_address, point.io_address), c104.Quality())
        stamp = self._stamp(common_address, now)
        point.info = c104.ShortInfo(actual=value, quality=quality, recorded_at=stamp)
        point.transmit(cause=cause)
        return now

    def _send_breaker(self, status: c104.Point, closed: bool, cause: c104.Cot) -> None:
        state = c104.Double.ON if closed else c104.Double.OFF
        station = status.station
        assert station is not None
        stamp = self._stamp(station.common_address, datetime.now(UTC))
        status.info = c104.DoubleInfo(state=state, recorded_at=stamp)
        status.transmit(cause=cause)

    def _stamp(self, common_address: int, moment: datetime) -> datetime:
        return wire_time(moment, self._zones[common_address])

    def _run(self) -> None:
        seconds = self.config.step_ms / 1000.0
        while not self._stop.wait(seconds):
            with self._lock:
                self._grid.step(seconds)
                self._report_changes()

    def _report_changes(self) -> None:
        for station in self.config.stations:
            ca = station.common_address
            for feeder in station.feeders:
                values = self._grid.readings(feeder.spec.name)
                for name in MEASURED:
                    point = self._point(ca, feeder.address(name))
                    if self._moved(point, values[name]) or (ca, point.io_address) in self._quality:
                        self._send(ca, point, values[name])

    def _moved(self, point: c104.Point, value: float) -> bool:
        last = float(point.value)  # type: ignore[arg-type]
        return abs(value - last) > self.config.deadband_percent / 100.0 * max(abs(last), 1.0)


def wire_time(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """What to hand c104 so that the time stamp on the wire reads `moment` on the station's
    wall clock in `zone` (None: the host's zone).

    c104 takes a datetime's fields as the host's local time and writes that instant's UTC
    fields: so it gets the host's local time of the instant whose UTC fields the wall clock shows.
    """
    wall = moment.astimezone(zone) if zone else moment.astimezone()
    return datetime.fromtimestamp(wall.replace(tzinfo=UTC).timestamp())


def _on_clock_sync(server: c104.Server, ip: str, date_time: datetime) -> c104.ResponseState:
    log.info("clock synchronised by %s to %s", ip, date_time.isoformat())
    return c104.ResponseState.SUCCESS


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="substation configuration (TOML); default: the shipped one"
    )
    parser.add_argument("--seed", type=int, help="override the configuration's noise seed")
    parser.add_argument("--tls-cert", type=Path, help="server certificate (PEM) to serve TLS")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate that signs the clients")
    add_feeder_arguments(parser)
    add_feeder_meter_arguments(parser)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = only(load(args.config), args.feeder)
    if args.seed is not None:
        config = replace(config, seed=args.seed)
    tls_files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_files) and not all(tls_files):
        raise UsageError("TLS needs --tls-cert, --tls-key and --tls-ca together")
    tls = Tls(*tls_files) if all(tls_files) else None
    try:
        substation = Substation(config, tls=tls)
    except ValueError as error:
        raise UsageError(str(error)) from error
    meter = feeder_meter(args, substation, config.step_ms)
    substation.start()
    for station in config.stations:
        print(
            f"station {station.name} (CA {station.common_address}) on {station.host}:{station.port}"
        )
    try:
        with metering(meter):
            while True:
                time.sleep(3600)
    finally:
        substation.stop()
