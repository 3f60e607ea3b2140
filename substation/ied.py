"""The simulated IED: one station's feeders served over IEC 61850 MMS, and `heila simulate-ied`.

libiec61850's server (through pyiec61850-ng) serves a model built at start from its dynamic
model API, the same model examples/iec61850/heila-ied.icd describes: per feeder n, MMXUn
(phase voltages and currents, total active, reactive and apparent power, power factor,
frequency), XCBRn and CSWIn (the breaker's position; CSWIn.Pos is its control, select-before-
operate with enhanced security on feeder 1, normal security on the others), ZBATn (the
battery's active power and state of charge) and GGIOn.AnOut1 (the battery's active-power
set-point in W, direct control). LLN0 holds two data sets and their report control blocks: the
measurements (unbuffered) and the breaker positions (buffered); the state of charge is in
neither, so a client polls it. The physical model (model.py) is the IEC 104 simulator's: a
stepping thread writes every value that moved beyond the dead band, with its time stamp.
With `--meter` a DLMS/COSEM meter of one feeder reads that model too (meter.py), so it counts
what the IED's controls do.
"""

import argparse
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from actors.bridge.iec61850.native import address, iec, lib
from hub.model.errors import UsageError
from substation.config import (
    FeederConfig,
    StationConfig,
    add_feeder_arguments,
    check_feeders,
    load,
)
from substation.meter import add_feeder_meter_arguments, feeder_meter, metering
from substation.model import Breaker, Feeder, Grid

log = logging.getLogger("heila.substation.ied")

IED_NAME = "HEILA"
LD = "LD0"
DEFAULT_PORT = 10102
"""Not MMS's 102, which needs root: the simulator's default port."""

MEASUREMENTS_RCB = "urcbMeasurements"
STATUS_RCB = "brcbStatus"

MEASURED: dict[str, tuple[str, str, float]] = {
    "voltage1": ("MMXU", "PhV.phsA", 1.0),
    "voltage2": ("MMXU", "PhV.phsB", 1.0),
    "voltage3": ("MMXU", "PhV.phsC", 1.0),
    "current1": ("MMXU", "A.phsA", 1.0),
    "current2": ("MMXU", "A.phsB", 1.0),
    "current3": ("MMXU", "A.phsC", 1.0),
    "activePower": ("MMXU", "TotW", 1000.0),
    "reactivePower": ("MMXU", "TotVAr", 1000.0),
    "apparentPower": ("MMXU", "TotVA", 1000.0),
    "powerFactor": ("MMXU", "TotPF", 1.0),
    "frequency": ("MMXU", "Hz", 1.0),
    "resourcePower": ("ZBAT", "W", 1.0),
    "stateOfCharge": ("ZBAT", "SoC", 1.0),
    "resourceSetpoint": ("GGIO", "AnOut1", 1000.0),
}
"""The model's values: logical node class, data object (FC MX) and the factor from the model's
unit (kW) to the unit the ICD declares for it (W, but kW for the battery's power)."""
POLLED = frozenset({"stateOfCharge"})
"""Values in no data set: a client reads them."""


def control_model(feeder: int) -> int:
    """The breaker's control model: feeder 1 enhanced security, the others normal."""
    return int(iec.CDC_CTL_MODEL_SBO_ENHANCED if feeder == 1 else iec.CDC_CTL_MODEL_SBO_NORMAL)


@dataclass
class _Value:
    """One served value: its attributes and the last value written."""

    key: tuple[str, str]
    """(feeder, signal)"""
    value: Any
    quality: Any
    time: Any
    factor: float = 1.0
    last: float | None = None


@dataclass
class Ied:
    """A station's feeders as one IED, answering controls from the physical model."""

    station: StationConfig
    seed: int = 7
    step_ms: int = 100
    deadband_percent: float = 0.5
    interlocked: bool = False
    """operates are refused, as an interlock refuses them, with that cause"""
    serves: frozenset[str] | None = None
    """only these of the station's feeders (None: all), each under the logical nodes of its place
    in the station (its second feeder is MMXU2 whether the first is served or not): the
    station's SCL file then still describes the IED, as it describes a bay's relay"""
    _grid: Grid = field(init=False)
    _model: Any = field(init=False)
    _server: Any = field(init=False)
    _subscribers: list[Any] = field(init=False, default_factory=list)
    _values: dict[tuple[str, str], _Value] = field(init=False, default_factory=dict)
    _positions: dict[str, list[Any]] = field(init=False, default_factory=dict)
    _quality: dict[tuple[str, str], int] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _stepper: threading.Thread | None = field(init=False, default=None)
    _orders: "queue.SimpleQueue[Callable[[], None] | None]" = field(
        init=False, default_factory=queue.SimpleQueue
    )
    """controls received, carried out by the stepping thread: libiec61850 calls a control
    handler with its data model locked, so the handler only hands the order on"""
    operations: list[tuple[str, str]] = field(init=False, default_factory=list)
    """(feeder, control object) of every control executed, in order"""

    def __post_init__(self) -> None:
        feeders = {f.spec.name: Feeder(f.spec) for _, f in self._bays()}
        self._grid = Grid(feeders, seed=self.seed)
        self._model = self._build_model()
        self._server = iec.IedServer_create(self._model)
        for index, config in self._bays():
            name = config.spec.name
            self._subscribe(f"CSWI{index}.Pos", functools.partial(self._switch, name))
            self._subscribe(f"GGIO{index}.AnOut1", functools.partial(self._set, name))

    @property
    def port(self) -> int:
        return self.station.port

    def start(self) -> None:
        iec.IedServer_start(self._server, self.station.port)
        if not iec.IedServer_isRunning(self._server):
            raise OSError(f"the IED cannot listen on port {self.station.port}")
        with self._lock:
            for name, feeder in self._grid.feeders.items():
                self._write_position(name, feeder.breaker is Breaker.CLOSED)
            self._write_changes(force=True)
        self._stop.clear()
        self._stepper = threading.Thread(target=self._run, name="ied-step", daemon=True)
        self._stepper.start()

    def stop(self) -> None:
        """Stop serving; the server, its model and its control handlers stay for a start.

        `close` frees them."""
        self._stop.set()
        self._orders.put(None)
        if self._stepper is not None:
            self._stepper.join()
        iec.IedServer_stop(self._server)

    def close(self) -> None:
        """Stop for good: free the server and its control subscribers, so that another IED of
        the same model can serve in this process (the bindings register controls by
        reference)."""
        self.stop()
        self._subscribers.clear()
        iec.IedServer_destroy(self._server)

    def restart(self) -> None:
        """The device reboots: associations drop, it serves again with the same state."""
        self.stop()
        self.start()

    def feeder(self, name: str) -> Feeder:
        return self._grid.feeders[name]

    @property
    def feeders(self) -> list[str]:
        return list(self._grid.feeders)

    def trip(self, feeder: str) -> None:
        """The protection opens a feeder's breaker, and the IED reports it."""
        with self._lock:
            self._grid.feeders[feeder].breaker = Breaker.OPEN
            self._write_position(feeder, closed=False)

    def report(self, feeder: str, signal: str, value: float) -> None:
        """Change one measured value now (in the model's unit): the IED reports it."""
        with self._lock:
            self._write(self._values[feeder, signal], value)

    def set_quality(self, feeder: str, signal: str, quality: int) -> None:
        """Flag a value from now on (libiec61850 quality bits), as a failing sensor would."""
        with self._lock:
            self._quality[feeder, signal] = quality
            self._write(self._values[feeder, signal], self._values[feeder, signal].last or 0.0)

    def _bays(self) -> list[tuple[int, FeederConfig]]:
        """The feeders served, each with its logical nodes' instance number."""
        numbered = enumerate(self.station.feeders, start=1)
        return [(n, f) for n, f in numbered if self.serves is None or f.spec.name in self.serves]

    def _build_model(self) -> Any:
        model = iec.IedModel_create(IED_NAME)
        device = iec.LogicalDevice_create(LD, model)
        lln0 = iec.LogicalNode_create("LLN0", device)
        iec.CDC_ENS_create("Mod", iec.toModelNode(lln0), 0)
        measurements = iec.DataSet_create("Measurements", lln0)
        status = iec.DataSet_create("Status", lln0)
        for index, _feeder in self._bays():
            nodes = {
                kind: iec.toModelNode(iec.LogicalNode_create(f"{kind}{index}", device))
                for kind in ("MMXU", "XCBR", "CSWI", "ZBAT", "GGIO")
            }
            for name in ("PhV", "A"):
                iec.CDC_WYE_create(name, nodes["MMXU"], iec.CDC_OPTION_PHASES_ABC)
            for name in ("TotW", "TotVAr", "TotVA", "TotPF", "Hz"):
                iec.CDC_MV_create(name, nodes["MMXU"], 0, False)
            for name in ("W", "SoC"):
                iec.CDC_MV_create(name, nodes["ZBAT"], 0, False)
            iec.CDC_DPS_create("Pos", nodes["XCBR"], 0)
            iec.CDC_DPC_create("Pos", nodes["CSWI"], 0, control_model(index))
            iec.CDC_APC_create("AnOut1", nodes["GGIO"], 0, iec.CDC_CTL_MODEL_DIRECT_NORMAL, False)
            for signal, (kind, data, _factor) in MEASURED.items():
                if signal not in POLLED:
                    member = f"{kind}{index}$MX${data.replace('.', '$')}"
                    iec.DataSetEntry_create(measurements, member, -1, None)
            for kind in ("XCBR", "CSWI"):
                iec.DataSetEntry_create(status, f"{kind}{index}$ST$Pos", -1, None)
        triggers = iec.TRG_OPT_DATA_CHANGED | iec.TRG_OPT_QUALITY_CHANGED
        triggers |= iec.TRG_OPT_INTEGRITY | iec.TRG_OPT_GI
        options = iec.RPT_OPT_SEQ_NUM | iec.RPT_OPT_TIME_STAMP | iec.RPT_OPT_DATA_SET
        options |= iec.RPT_OPT_REASON_FOR_INCLUSION | iec.RPT_OPT_ENTRY_ID
        for name, buffered, data_set in (
            (MEASUREMENTS_RCB, False, "Measurements"),
            (STATUS_RCB, True, "Status"),
        ):
            iec.ReportControlBlock_create(
                name, lln0, data_set, buffered, data_set, 1, triggers, options, 50, 0
            )
        self._index_values(model)
        return model

    def _index_values(self, model: Any) -> None:
        for index, feeder in self._bays():
            for signal, (kind, data, factor) in MEASURED.items():
                base = f"{IED_NAME}{LD}/{kind}{index}.{data}"
                value = f"{base}.mxVal.f" if kind == "GGIO" else f"{base}.mag.f"
                if "." in data:
                    value = f"{base}.cVal.mag.f"
                self._values[feeder.spec.name, signal] = _Value(
                    (feeder.spec.name, signal),
                    _attribute(model, value),
                    _attribute(model, f"{base}.q"),
                    _attribute(model, f"{base}.t"),
                    factor,
                )
            self._positions[feeder.spec.name] = [
                tuple(
                    _attribute(model, f"{IED_NAME}{LD}/{kind}{index}.Pos.{name}")
                    for name in ("stVal", "t")
                )
                for kind in ("XCBR", "CSWI")
            ]

    def _subscribe(self, reference: str, act: Callable[[Any], None]) -> None:
        node = iec.IedModel_getModelNodeByObjectReference(
            self._model, f"{IED_NAME}{LD}/{reference}"
        )
        subscriber = iec.ControlSubscriberForPython()
        handler = _ControlHandler(reference, act, self)
        check = _CheckHandler(reference, self)
        subscriber.setIedServer(self._server)
        subscriber.setControlObject(iec.toDataObject(node))
        subscriber.setControlHandler(handler.__disown__())  # the subscriber frees both
        subscriber.setCheckHandler(check.__disown__())
        if not subscriber.subscribe():
            raise RuntimeError(f"another IED in this process serves controls of {reference}")
        self._subscribers.append(subscriber)

    def _switch(self, feeder: str, value: Any) -> None:
        closed = bool(iec.MmsValue_getBoolean(value))
        self._orders.put(functools.partial(self._move, feeder, closed))

    def _set(self, feeder: str, value: Any) -> None:
        watts = iec.MmsValue_toFloat(_first_leaf(value))
        self._orders.put(functools.partial(self._apply, feeder, watts / 1000.0))

    def _move(self, feeder: str, closed: bool) -> None:
        self._grid.feeders[feeder].breaker = Breaker.CLOSED if closed else Breaker.OPEN
        self._write_position(feeder, closed)
        log.info("feeder %s: breaker %s", feeder, "closed" if closed else "opened")

    def _apply(self, feeder: str, kw: float) -> None:
        applied = self._grid.feeders[feeder].set_setpoint(kw)
        self._write(self._values[feeder, "resourceSetpoint"], applied)
        log.info("feeder %s: set-point %g kW", feeder, applied)

    def _write_position(self, feeder: str, closed: bool) -> None:
        state = iec.DBPOS_ON if closed else iec.DBPOS_OFF
        now = int(time.time() * 1000)
        server = address(self._server)
        for status, stamp in self._positions[feeder]:
            lib.IedServer_updateUTCTimeAttributeValue(server, stamp, now)
            lib.IedServer_updateDbposValue(server, status, state)

    def _write(self, served: _Value, value: float) -> None:
        quality = self._quality.get(served.key, iec.QUALITY_VALIDITY_GOOD)
        server = address(self._server)
        lib.IedServer_updateUTCTimeAttributeValue(server, served.time, int(time.time() * 1000))
        lib.IedServer_updateQuality(server, served.quality, quality)
        lib.IedServer_updateFloatAttributeValue(server, served.value, value * served.factor)
        served.last = value

    def _run(self) -> None:
        """Step the model every step_ms; carry out each control as soon as it arrives."""
        seconds = self.step_ms / 1000.0
        due = time.monotonic() + seconds
        while not self._stop.is_set():
            try:
                order = self._orders.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                order = None
            with self._lock:
                if order is not None:
                    order()
                if time.monotonic() >= due:
                    due = time.monotonic() + seconds
                    self._grid.step(seconds)
                    self._write_changes()

    def _write_changes(self, force: bool = False) -> None:
        for name in self._grid.feeders:
            values = self._grid.readings(name)
            for signal, served in self._feeder_values(name):
                if force or self._moved(served, values[signal]):
                    self._write(served, values[signal])

    def _feeder_values(self, feeder: str) -> Iterator[tuple[str, _Value]]:
        for (name, signal), served in self._values.items():
            if name == feeder and signal != "resourceSetpoint":
                yield signal, served

    def _moved(self, served: _Value, value: float) -> bool:
        last = served.last
        band = self.deadband_percent / 100.0 * max(abs(last or 0.0), 1.0)
        return last is None or abs(value - last) > band


def _attribute(model: Any, reference: str) -> int:
    """A data attribute of the model, as the C pointer the server's updates take."""
    node = iec.IedModel_getModelNodeByObjectReference(model, reference)
    if node is None:
        raise KeyError(f"the IED model has no {reference}")
    return address(iec.toDataAttribute(node))


def _first_leaf(value: Any) -> Any:
    """An analogue value's number: a structure (AnalogueValue) holds it as its first element."""
    while iec.MmsValue_getType(value) == iec.MMS_STRUCTURE:
        value = iec.MmsValue_getElement(value, 0)
    return value


class _CheckHandler(iec.CheckHandlerForPython):  # type: ignore[misc]
    """Called by libiec61850 on a select or operate, before it answers: refuses while the IED
    is interlocked, with that cause."""

    def __init__(self, reference: str, ied: Ied) -> None:
        iec.CheckHandlerForPython.__init__(self)
        self.reference = reference
        self.ied = ied

    def trigger(self) -> None:
        if not self.ied.interlocked:
            self._libiec61850_check_handler_result = iec.CONTROL_ACCEPTED
            return
        cause = iec.ADD_CAUSE_BLOCKED_BY_INTERLOCKING
        iec.ControlAction_setAddCause(self._libiec61850_control_action, cause)
        self._libiec61850_check_handler_result = iec.CONTROL_TEMPORARILY_UNAVAILABLE
        log.info("control %s refused: interlocked", self.reference)


class _ControlHandler(iec.ControlHandlerForPython):  # type: ignore[misc]
    """Called by libiec61850 to execute an operate: hands it to the model, answers OK."""

    def __init__(self, reference: str, act: Callable[[Any], None], ied: Ied) -> None:
        iec.ControlHandlerForPython.__init__(self)
        self.reference = reference
        self.act = act
        self.ied = ied

    def trigger(self) -> None:
        try:
            self.act(self._libiec61850_mms_value)
            self.ied.operations.append((self.reference, "operate"))
            self._libiec61850_control_handler_result = iec.CONTROL_RESULT_OK
        except Exception:  # an exception must not cross into libiec61850's thread
            log.exception("control %s failed", self.reference)
            self._libiec61850_control_handler_result = iec.CONTROL_RESULT_FAILED


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="substation configuration (TOML); default: the shipped one"
    )
    parser.add_argument(
        "--station", default="substation-1", help="the station whose feeders the IED serves"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="MMS port to listen on")
    add_feeder_arguments(parser)
    add_feeder_meter_arguments(parser)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load(args.config)
    stations = {station.name: station for station in config.stations}
    if args.station not in stations:
        raise UsageError(f"--station {args.station}: the configuration has {sorted(stations)}")
    station = replace(stations[args.station], port=args.port)
    check_feeders([station], args.feeder or [])
    serves = None if args.feeder is None else frozenset(args.feeder)
    ied = Ied(station, config.seed, config.step_ms, config.deadband_percent, serves=serves)
    meter = feeder_meter(args, ied, config.step_ms)
    try:
        ied.start()
    except OSError as error:
        raise UsageError(str(error)) from error
    print(f"IED {IED_NAME} ({station.name}) on {station.host}:{args.port}", flush=True)
    try:
        with metering(meter):
            while True:
                time.sleep(3600)
    finally:
        ied.close()
