"""The simulated smart meter: a DLMS/COSEM server over TCP, and the `heila simulate-meter` command.

One logical device behind the IEC 62056-47 wrapper on TCP, as a meter with a network module
offers it: a clock, energy registers (import and export, with scaler and unit), instantaneous
power, voltage and current registers, and a load profile that captures the clock and both
energy registers every capture period, on the period's boundaries as real meters do. The
energy registers count continuously, as a meter's do: a read or a capture shows the count at
its own moment, not at the model's last step, so interval energy holds however fast the clock
runs or however late the step thread wakes. Clients associate with low-level security (a
password). The values come from one feeder of
substation/model.py: the meter integrates the feeder's net import into its energy registers.

Gurux's Python server (gurux-dlms) parses and encodes the protocol; a few of its hooks are
missing or broken in 1.0.203, so `_Cosem` supplies them and `LoadProfile` does its own range
selection. A meter serves one association at a time: another client waits in the backlog.
"""

import argparse
import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gurux_dlms import GXDateTime, GXDLMSClient, GXDLMSServer, GXServerReply
from gurux_dlms.enums import (
    AccessMode,
    Authentication,
    DataType,
    InterfaceType,
    MethodAccessMode,
    SourceDiagnostic,
    Unit,
)
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSCaptureObject,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSObject,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)

from actors.bridge.dlms.association import CLOCK, PROFILE_STATUS
from actors.bridge.dlms.wrapper import read_frame
from hub.model.errors import UsageError
from substation.model import Feeder, FeederSpec, Grid

log = logging.getLogger("heila.meter")

LOAD_PROFILE = "1.0.99.1.0.255"
INACTIVITY = 120
"""seconds a connected client may stay silent before the meter drops it, as meters do, so that
an idle client cannot keep the one association a meter serves"""
METER_PASSWORD = "HEILA_METER_PASSWORD"
"""The environment variable that holds the meter's low-level security password."""


@dataclass(frozen=True)
class RegisterSpec:
    """A register of the meter: which model value it shows, in which unit and scaler."""

    obis: str
    source: str
    """a key of Feeder.readings(), or "energyImport" / "energyExport" (Wh)"""
    unit: Unit
    scaler: int
    """the register holds round(value / 10**scaler): 2301 with scaler -1 is 230.1 V"""
    factor: float = 1.0
    """from the model's unit to the register's: 1000 for the model's kW to W"""


REGISTERS = (
    RegisterSpec("1.0.1.8.0.255", "energyImport", Unit.ACTIVE_ENERGY, -1),
    RegisterSpec("1.0.2.8.0.255", "energyExport", Unit.ACTIVE_ENERGY, -1),
    RegisterSpec("1.0.1.7.0.255", "powerImport", Unit.ACTIVE_POWER, 0, 1000.0),
    RegisterSpec("1.0.2.7.0.255", "powerExport", Unit.ACTIVE_POWER, 0, 1000.0),
    RegisterSpec("1.0.16.7.0.255", "activePower", Unit.ACTIVE_POWER, 0, 1000.0),
    RegisterSpec("1.0.32.7.0.255", "voltage1", Unit.VOLTAGE, -1),
    RegisterSpec("1.0.52.7.0.255", "voltage2", Unit.VOLTAGE, -1),
    RegisterSpec("1.0.72.7.0.255", "voltage3", Unit.VOLTAGE, -1),
    RegisterSpec("1.0.31.7.0.255", "current1", Unit.CURRENT, -2),
    RegisterSpec("1.0.51.7.0.255", "current2", Unit.CURRENT, -2),
    RegisterSpec("1.0.71.7.0.255", "current3", Unit.CURRENT, -2),
    RegisterSpec("1.0.14.7.0.255", "frequency", Unit.FREQUENCY, -2),
)
"""The registers in OBIS order of the IEC 62056-61 electricity codes. Energy counts in 0.1 Wh,
finer than most meters, so that the short quarter hours of a fast-running demo still count."""
PROFILED = ("1.0.1.8.0.255", "1.0.2.8.0.255")
"""The registers the load profile captures, after the clock and before its status."""


@dataclass(frozen=True)
class MeterConfig:
    host: str = "127.0.0.1"
    port: int = 4059
    """4059 is the port IANA gives DLMS/COSEM over TCP"""
    server_address: int = 1
    """the logical device's address (1: the management logical device)"""
    password: str = ""
    """low-level security password; empty: no authentication"""
    capture_period: float = 900.0
    """seconds between load profile captures"""
    profile_entries: int = 960
    """captures kept: ten days of quarter hours"""
    step_ms: int = 200
    zone: ZoneInfo | None = None
    """the zone of the meter's clock; None: UTC"""
    seed: int = 1


class LoadProfile(GXDLMSProfileGeneric):  # type: ignore[misc]
    """A profile generic that answers reads by range (selector 1) itself: gurux 1.0.203's
    own range selection compares datetimes with integers and fails."""

    buffer: list[list[Any]]

    def getValue(self, settings: Any, e: Any) -> Any:
        if e.index != 2 or e.selector != 1 or not e.parameters:
            return super().getValue(settings, e)
        start, end = (_datetime(e.parameters[i]) for i in (1, 2))
        kept = self.buffer
        self.buffer = [row for row in kept if start <= row[0].value <= end]
        e.selector = 0
        try:
            return super().getValue(settings, e)
        finally:
            self.buffer = kept


def _datetime(value: Any) -> datetime:
    if isinstance(value, GXDateTime):
        return value.value  # type: ignore[no-any-return]
    return GXDLMSClient.changeType(bytearray(value), DataType.DATETIME).value  # type: ignore[no-any-return]


class TickingClock(GXDLMSClock):  # type: ignore[misc]
    """The meter's clock object: its time is read from `now` whenever a client asks."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        super().__init__(CLOCK)
        self._now = now

    def getValue(self, settings: Any, e: Any) -> Any:
        if e.index == 2:
            self.time = GXDateTime(self._now())
        return super().getValue(settings, e)


class _Cosem(GXDLMSServer):  # type: ignore[misc]
    """Gurux's server with the meter's access rules and the hooks gurux leaves abstract."""

    def __init__(self, objects: list[GXDLMSObject], config: MeterConfig) -> None:
        super().__init__(True, InterfaceType.WRAPPER)
        self.config = config
        association = GXDLMSAssociationLogicalName()
        if config.password:
            association.authenticationMechanismName.mechanismId = Authentication.LOW
            association.secret = config.password.encode()
        for item in (association, *objects):
            self.items.append(item)
            association.objectList.append(item)  # gurux's own default appends a list: refused
        self.initialize()

    def isTarget(self, serverAddress: int, clientAddress: int) -> bool:
        return serverAddress == self.config.server_address  # type: ignore[no-any-return]

    def onValidateAuthentication(self, authentication: int, password: Any) -> int:
        expected = self.config.password.encode()
        if not expected:
            return SourceDiagnostic.NONE  # type: ignore[no-any-return]
        if authentication == Authentication.LOW and bytes(password or b"") == expected:
            return SourceDiagnostic.NONE  # type: ignore[no-any-return]
        log.warning("association refused: wrong or missing password")
        return SourceDiagnostic.AUTHENTICATION_FAILURE  # type: ignore[no-any-return]

    def onGetAttributeAccess(self, arg: Any) -> int:
        return AccessMode.READ  # type: ignore[no-any-return]

    def onGetMethodAccess(self, arg: Any) -> int:
        return MethodAccessMode.NO_ACCESS  # type: ignore[no-any-return]

    def onFindObject(self, objectType: Any, sn: Any, ln: Any) -> None:
        return None

    def onConnected(self, connectionInfo: Any) -> None:
        log.info("client associated")

    def notifyConnected(self, connectionInfo: Any) -> None:
        self.onConnected(connectionInfo)

    def onInvalidConnection(self, connectionInfo: Any) -> None:
        log.warning("association refused")

    def onDisconnected(self, connectionInfo: Any) -> None:
        log.info("client released the association")

    def getTransaction(self) -> Any:
        return self.transaction

    def setTransaction(self, transaction: Any) -> None:
        self.transaction = transaction

    def notifyRead(self) -> None:
        """Called by gurux without the read's arguments: values are kept current instead."""

    def onPreGet(self, args: Any) -> None:
        pass

    def onPostGet(self, args: Any) -> None:
        pass

    def onPreRead(self, args: Any) -> None:
        pass

    def onPostRead(self, args: Any = None) -> None:
        pass

    def onPreWrite(self, args: Any) -> None:
        pass

    def onPostWrite(self, args: Any) -> None:
        pass

    def onPreAction(self, args: Any) -> None:
        pass

    def onPostAction(self, args: Any) -> None:
        pass


class _Reply(GXServerReply):  # type: ignore[misc]
    """The reply holder with the accessors gurux's server calls and 1.0.203 lacks."""

    def setReply(self, value: Any) -> None:
        self.reply = value

    def getConnectionInfo(self) -> Any:
        return self.connectionInfo

    def getCount(self) -> int:
        return int(self.count)

    def setCount(self, value: int) -> None:
        self.count = value


class Meter:
    """A metered feeder served as a DLMS/COSEM logical device over TCP.

    With `steps_model` the meter advances the feeder's physics itself (a meter on its own);
    without, something else does (the substation simulator that also operates the feeder) and
    the meter only reads it.
    """

    def __init__(
        self,
        config: MeterConfig,
        feeder: Feeder,
        lock: "threading.Lock | None" = None,
        steps_model: bool = True,
    ) -> None:
        self.config = config
        self.feeder = feeder
        self.energy_wh = {"energyImport": 0.0, "energyExport": 0.0}
        self._net_kw = 0.0
        self._counted_at = self._stepped_at = time.time()
        self._steps_model = steps_model
        self._noise = random.Random(config.seed)
        self._lock = lock or threading.Lock()
        self._protocol = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.clock = TickingClock(self.now)
        self.registers = {spec.obis: _register(spec) for spec in REGISTERS}
        self.profile = LoadProfile(LOAD_PROFILE)
        self.profile.capturePeriod = int(config.capture_period)
        self.profile.profileEntries = config.profile_entries
        self.profile.captureObjects.append((self.clock, GXDLMSCaptureObject(2, 0)))
        for obis in PROFILED:
            self.profile.captureObjects.append((self.registers[obis], GXDLMSCaptureObject(2, 0)))
        self.status = GXDLMSData(PROFILE_STATUS)
        self.status.value = 0
        self.status.setDataType(2, DataType.UINT8)
        self.profile.captureObjects.append((self.status, GXDLMSCaptureObject(2, 0)))
        self._server = self._cosem()
        self._next_capture = self._boundary_after(time.time())
        self.port = config.port

    def now(self) -> datetime:
        """The meter's clock: wall time in its zone, to the second as meters keep it."""
        moment = datetime.now(UTC).replace(microsecond=0)
        return moment.astimezone(self.config.zone or UTC)

    def start(self) -> None:
        self._update(time.time())
        self._stop.clear()
        listener = socket.create_server((self.config.host, self.port), reuse_port=False)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        for name, target in (("serve", self._serve), ("step", self._run)):
            thread = threading.Thread(target=target, name=f"meter-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._drop_client()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def restart(self) -> None:
        """The meter reboots: the connection drops, the association is gone, the registers and
        the profile keep their values (they live in non-volatile memory)."""
        self.stop()
        with self._protocol:
            self._server = self._cosem()
        self.start()

    def report(self, obis: str, value: float) -> None:
        """Set one register now to a value in the model's unit (kW, kWh as Wh, V, ...), as a
        bench does; the model's next step sets it again."""
        spec = next(spec for spec in REGISTERS if spec.obis == obis)
        with self._protocol:
            self.registers[obis].value = register_value(value, spec)

    def flag_captures(self, bits: int) -> None:
        """Set the profile status of the captures to come, as a meter whose measurement fails
        (bit 2: data not valid) or whose clock is lost (bit 1) marks them; 0 when good again."""
        with self._protocol:
            self.status.value = bits

    def forget_association(self) -> None:
        """The meter drops the association but keeps the TCP connection, as a meter does after
        its inactivity time-out: the client's next request is refused."""
        with self._protocol:
            self._server.reset()

    def capture(self, at: datetime | None = None) -> None:
        """Append a load profile entry now (or stamped `at`), as at a period's boundary."""
        with self._protocol:
            self._append(at or self.now())

    def _append(self, at: datetime) -> None:
        row = [GXDateTime(at), *(self.registers[obis].value for obis in PROFILED)]
        self.profile.buffer.append([*row, self.status.value])
        del self.profile.buffer[: -self.config.profile_entries]

    def _cosem(self) -> _Cosem:
        objects = [self.clock, *self.registers.values(), self.status, self.profile]
        return _Cosem(objects, self.config)

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                connection, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            log.info("connection from %s:%d", *peer[:2])
            connection.settimeout(0.5)
            self._client = connection
            self._talk(connection)
            self._drop_client()

    def _talk(self, connection: socket.socket) -> None:
        heard = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = read_frame(connection)
            except TimeoutError:
                if time.monotonic() - heard > INACTIVITY:
                    log.info("client silent for %d s: connection dropped", INACTIVITY)
                    return
                continue
            except OSError:  # ConnectionError too: the client went
                with self._protocol:
                    self._server.reset()
                return
            heard = time.monotonic()
            answer = self.answer(frame)
            if answer:
                connection.sendall(answer)

    def answer(self, frame: bytes) -> bytes:
        """The meter's answer to one wrapper frame (empty when it sends none), with the energy
        registers counted up to the moment of asking."""
        request = _Reply(frame)
        with self._protocol:
            self._count(time.time())
            self._server.handleRequest(request)
        return bytes(request.reply or b"")

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.config.step_ms / 1000.0):
            now = time.time()
            while now >= self._next_capture:
                with self._protocol:
                    self._count(self._next_capture)
                    self._append(self._zoned(self._next_capture))
                self._next_capture += self.config.capture_period
            self._update(now)

    def _update(self, now: float) -> None:
        """Count the energy up to `now` at the power held since the last step, then step the
        model (by the time that really passed) and show its new values."""
        with self._protocol:
            self._count(now)
        seconds, self._stepped_at = now - self._stepped_at, now
        with self._lock:
            if self._steps_model and seconds > 0:
                self.feeder.step(seconds, self._noise)
            values = self.feeder.readings(self._noise)
        net_kw = values["activePower"]
        values["powerImport"] = max(net_kw, 0.0)
        values["powerExport"] = max(-net_kw, 0.0)
        with self._protocol:
            self._net_kw = net_kw
            for spec in REGISTERS:
                if spec.source not in self.energy_wh:
                    self.registers[spec.obis].value = register_value(values[spec.source], spec)

    def _count(self, until: float) -> None:
        """Set the energy registers to their count at `until` (epoch seconds), at the net power
        held since the model's last step: also back to a capture boundary that a read has
        already passed, as the power was the same on both sides of it. Called with the
        protocol lock held."""
        seconds = until - self._counted_at
        self._counted_at = until
        self.energy_wh["energyImport"] += max(self._net_kw, 0.0) * seconds / 3.6
        self.energy_wh["energyExport"] += max(-self._net_kw, 0.0) * seconds / 3.6
        for spec in REGISTERS:
            if spec.source in self.energy_wh:
                self.registers[spec.obis].value = register_value(self.energy_wh[spec.source], spec)

    def _zoned(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, self.config.zone or UTC)

    def _boundary_after(self, epoch: float) -> float:
        period = self.config.capture_period
        return math.floor(epoch / period) * period + period


def register_value(value: float, spec: RegisterSpec) -> int:
    """What the register holds for a model value: in its unit, divided by 10**scaler."""
    scaled = Decimal(repr(value * spec.factor)).scaleb(-spec.scaler)
    return int(scaled.to_integral_value())


def _register(spec: RegisterSpec) -> GXDLMSRegister:
    register = GXDLMSRegister(spec.obis)
    register.scaler = 10.0**spec.scaler  # gurux keeps the multiplier, sends its exponent
    register.unit = spec.unit
    register.value = 0
    register.setDataType(2, DataType.INT64 if spec.source.startswith("energy") else DataType.INT32)
    return register


class Metered(Protocol):
    """A simulator that steps and operates feeders: `heila simulate` and `heila simulate-ied`."""

    @property
    def feeders(self) -> list[str]: ...

    def feeder(self, name: str) -> Feeder: ...


def add_feeder_meter_arguments(parser: argparse.ArgumentParser) -> None:
    """A simulator's options to serve a meter of one of its feeders beside it."""
    parser.add_argument(
        "--meter",
        metavar="FEEDER=PORT",
        help="also serve a DLMS/COSEM meter of that feeder on that port (substation.meter), "
        "its password from HEILA_METER_PASSWORD",
    )
    parser.add_argument(
        "--meter-capture-period",
        type=float,
        default=MeterConfig.capture_period,
        help="seconds between the meter's load profile captures",
    )


def feeder_meter(args: argparse.Namespace, simulator: Metered, step_ms: int) -> Meter | None:
    """The meter `--meter` asks for, of one of the simulator's feeders (None without it): it
    reads the feeder the simulator steps and operates, as often as it steps it, so what the
    meter counts answers the simulator's commands without a step's delay."""
    if not args.meter:
        return None
    feeder, _, port = str(args.meter).partition("=")
    if feeder not in simulator.feeders or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--meter {args.meter!r}: expected FEEDER=PORT for a configured feeder")
    if args.meter_capture_period < 0.1:
        raise UsageError("--meter-capture-period must be at least 0.1 seconds")
    config = MeterConfig(
        port=int(port),
        password=os.environ.get(METER_PASSWORD, ""),
        capture_period=args.meter_capture_period,
        step_ms=step_ms,
    )
    return Meter(config, simulator.feeder(feeder), steps_model=False)


@contextlib.contextmanager
def metering(meter: Meter | None) -> Iterator[None]:
    """Serve `meter` (if any) while the block runs; a port it cannot take is a usage error."""
    if meter is None:
        yield
        return
    try:
        meter.start()
    except OSError as error:
        raise UsageError(f"--meter: cannot listen on port {meter.port}: {error}") from None
    print(f"meter of {meter.feeder.spec.name} on {meter.config.host}:{meter.port}", flush=True)
    try:
        yield
    finally:
        meter.stop()


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=MeterConfig.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=MeterConfig.port, help="TCP port (0: free)")
    parser.add_argument(
        "--server-address", type=int, default=MeterConfig.server_address, help="logical device"
    )
    parser.add_argument(
        "--password-env",
        default=METER_PASSWORD,
        help="environment variable holding the low-level security password (unset: none)",
    )
    parser.add_argument(
        "--capture-period",
        type=float,
        default=MeterConfig.capture_period,
        help="seconds between load profile captures",
    )
    parser.add_argument("--zone", help="time zone of the meter's clock (IANA name); default UTC")
    parser.add_argument("--feeder", default="feeder-1", help="the feeder it meters")
    parser.add_argument("--load-kw", type=float, default=FeederSpec.load_kw)
    parser.add_argument("--seed", type=int, default=MeterConfig.seed)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port")
    if args.capture_period < 0.1:
        raise UsageError("--capture-period must be at least 0.1 seconds")
    try:
        zone = ZoneInfo(args.zone) if args.zone else None
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--zone {args.zone}: no such time zone") from None
    config = MeterConfig(
        host=args.host,
        port=args.port,
        server_address=args.server_address,
        password=os.environ.get(args.password_env, ""),
        capture_period=args.capture_period,
        zone=zone,
        seed=args.seed,
    )
    grid = Grid({args.feeder: Feeder(FeederSpec(args.feeder, load_kw=args.load_kw))}, args.seed)
    meter = Meter(config, grid.feeders[args.feeder])
    try:
        meter.start()
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
    print(
        f"meter of {args.feeder} on {args.host}:{meter.port}, "
        f"logical device {config.server_address}"
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        meter.stop()
