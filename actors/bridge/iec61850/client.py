"""The IEC 61850 MMS client: one association per IED of the point map, each kept by a thread.

On every (re)association the thread reads the device's type description of each mapped point
(a reference the device does not have is logged by name and never reported), enables the
point map's report control blocks (buffered or unbuffered, with the integrity period asked
and a general interrogation), and reads every other point every poll interval. Report values
arrive on libiec61850's thread, which only enqueues a `Sample` per point and wakes whoever
waits. Controls use the device's control model (direct or select-before-operate, normal or
enhanced security); a select or operate the device refuses, or one lost with the association,
fails the order with the reason, logged. A lost association is logged, and reopened with
growing pauses.
"""

import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.bridge.backoff import Backoff
from actors.bridge.field import Changes, Refused
from actors.bridge.iec61850.native import REPORT_HANDLER, call, fc, iec, lib, name_of, text
from actors.bridge.iec61850.values import Paths, read, relative
from actors.bridge.monitoring import Sample
from actors.bridge.pointmap import Command, Point, PointMap, Station

log = logging.getLogger("heila.bridge.iec61850")

CONTROL_MODELS = {
    0: "status-only",
    1: "direct-with-normal-security",
    2: "sbo-with-normal-security",
    3: "direct-with-enhanced-security",
    4: "sbo-with-enhanced-security",
}
"""libiec61850's control model numbers by the names of IEC 61850-7-2 (ctlModel)."""
WATCH = 0.2
"""Seconds between looks at an association's state."""
LINK_ERRORS = frozenset(
    {iec.IED_ERROR_NOT_CONNECTED, iec.IED_ERROR_CONNECTION_LOST, iec.IED_ERROR_TIMEOUT}
)
"""Errors that say the association, not the object asked for, is at fault."""


class _Lost(Exception):
    """The association failed while it was being set up."""


@dataclass
class _Member:
    """A structure the device delivers (a data set member or a polled data object) and the
    mapped points found in it."""

    reference: str
    fc: str
    spec: int
    points: list[tuple[Point, Paths]] = field(default_factory=list)


class _Reports:
    """The report handler of one report control block (runs on libiec61850's thread)."""

    def __init__(self, members: list[_Member | None], deliver: Callable[[_Member, int], None]):
        self.members = members
        self.deliver = deliver
        self.callback = REPORT_HANDLER(self._report)
        """kept here: libiec61850 calls it for as long as the association lives"""

    def _report(self, parameter: int | None, report: int) -> None:
        values = lib.ClientReport_getDataSetValues(report)
        if values is None:
            return
        for index, member in enumerate(self.members):
            if member is None:
                continue
            reason = lib.ClientReport_getReasonForInclusion(report, index)
            if reason != iec.IEC61850_REASON_NOT_INCLUDED:
                self.deliver(member, lib.MmsValue_getElement(values, index))


class Association:
    """One IED: its MMS association, reports, polls and control objects."""

    def __init__(
        self,
        station: Station,
        points: list[Point],
        commands: list[Command],
        endpoint: tuple[str, int],
        samples: "queue.SimpleQueue[Sample]",
        changes: Changes,
        timeout: float,
        reconnect: tuple[float, float],
    ) -> None:
        self.station = station
        self.endpoint = endpoint
        self._points = points
        self._commands = commands
        self._samples = samples
        self._changes = changes
        self._timeout_ms = int(timeout * 1000)
        self._backoff = Backoff(*reconnect)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"iec61850-{station.id}")
        self._lock = threading.Lock()
        """one blocking call at a time on the connection: polls, control, closing"""
        self._connection: int | None = None
        self._specs: list[int] = []
        """the devices' type descriptions read, freed with the association"""
        self._handlers: list[_Reports] = []
        self._polled: list[_Member] = []
        self._controls: dict[str, int | str] = {}
        """control object clients by command id, or why there is none"""
        self._unknown: set[str] = set()
        self.reached = False
        self.lost_at: float | None = None
        self.values: dict[str, float] = {}
        """each point's last value since the association opened, by point id"""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        """Open, serve until lost or stopped, close; pause before the next try."""
        while not self._stop.is_set():
            if self._open():
                self._backoff.succeeded()
                self._serve()
                self._close()
            self._stop.wait(self._backoff.failed())

    def _open(self) -> bool:
        host, port = self.endpoint
        connection = lib.IedConnection_create()
        lib.IedConnection_setConnectTimeout(connection, self._timeout_ms)
        lib.IedConnection_setRequestTimeout(connection, self._timeout_ms)
        _, error = call("IedConnection_connect", connection, text(host), port)
        if error != iec.IED_ERROR_OK:
            lib.IedConnection_destroy(connection)
            if self.lost_at is None:
                self.lost_at = time.monotonic()
                log.warning(
                    "IEC 61850 association with %s (%s:%d) cannot be opened: %s",
                    self.station.id,
                    host,
                    port,
                    name_of("IED_ERROR_", error),
                )
            return False
        self._connection = connection
        try:
            members = self._members()
            reported = self._enable_reports(members)
        except _Lost as error:
            log.warning(
                "IEC 61850 association with %s (%s:%d) failed while set up: %s",
                self.station.id,
                host,
                port,
                error,
            )
            self._close()
            return False
        self._polled = [m for m in members.values() if id(m) not in reported]
        self._controls = {command.id: self._control(command) for command in self._commands}
        self.reached, self.lost_at = True, None
        log.info("IEC 61850 association with %s (%s:%d) open", self.station.id, host, port)
        self._poll()
        return True

    def _serve(self) -> None:
        interval = self.station.poll_interval
        due = time.monotonic() + interval
        while not self._stop.wait(WATCH):
            if lib.IedConnection_getState(self._connection) != iec.IED_STATE_CONNECTED:
                log.warning(
                    "IEC 61850 association with %s (%s:%d) lost", self.station.id, *self.endpoint
                )
                return
            if time.monotonic() >= due and self._polled:
                due = time.monotonic() + interval
                self._poll()

    def _close(self) -> None:
        self.reached = False
        self.lost_at = self.lost_at or time.monotonic()
        self.values = {}
        with self._lock:
            lib.IedConnection_close(self._connection)
            for control in self._controls.values():
                if not isinstance(control, str):
                    lib.ControlObjectClient_destroy(control)
            lib.IedConnection_destroy(self._connection)
            self._connection = None
        self._controls = {}
        for spec in self._specs:
            lib.MmsVariableSpecification_destroy(spec)
        self._specs = []
        self._handlers = []

    def _check(self, error: int, doing: str) -> bool:
        """True when a request succeeded; raises _Lost when the association failed."""
        if error in LINK_ERRORS:
            raise _Lost(f"{doing}: {name_of('IED_ERROR_', error)}")
        return bool(error == iec.IED_ERROR_OK)

    def _members(self) -> dict[tuple[str, str], _Member]:
        """Every mapped point's data object (the one holding its q and t) with its type."""
        members: dict[tuple[str, str], _Member] = {}
        for point in self._points:
            found = self._locate(str(point.address), point.type)
            if found is None:
                self._name_unknown(point.id, f"{point.address} [{point.type}]")
                continue
            reference, spec, paths = found
            member = members.get((reference, point.type))
            if member is None:
                member = members[reference, point.type] = _Member(reference, point.type, spec)
            member.points.append((point, paths))
        return members

    def _locate(self, reference: str, fc: str) -> tuple[str, int, Paths] | None:
        """The deepest data object above `reference` that holds a quality, its type, and the
        point's paths in it; None when the device has no such reference."""
        device, _, names = reference.partition("/")
        parts = names.split(".")
        if len(parts) < 2:
            return None
        top = f"{device}/{parts[0]}.{parts[1]}"
        spec = self._spec(top, fc)
        if spec is None:
            return None
        chain = [(top, spec)]
        for depth, name in enumerate(parts[2:], start=3):
            node = _child_spec(chain[-1][1], name)
            if node is None:
                return None
            chain.append((f"{device}/{'.'.join(parts[:depth])}", node))
        holders = [(ref, node) for ref, node in chain if _has(node, "q")]
        holder, holder_spec = holders[-1] if holders else chain[-1]
        paths = Paths(
            value=relative(reference, holder) or "",
            quality="q" if holders else None,
            time="t" if holders and _has(holder_spec, "t") else None,
        )
        return holder, holder_spec, paths

    def _spec(self, reference: str, constraint: str) -> int | None:
        spec, error = call(
            "IedConnection_getVariableSpecification",
            self._connection,
            text(reference),
            fc(constraint),
        )
        if not self._check(error, f"reading the type of {reference}") or spec is None:
            return None
        self._specs.append(spec)
        return int(spec)

    def _enable_reports(self, members: dict[tuple[str, str], _Member]) -> set[int]:
        """Enable the station's report control blocks; the ids of the members they carry."""
        reported: set[int] = set()
        for reference in self.station.reports:
            found = self._data_set(reference)
            if found is None:
                continue
            rcb, entries = found
            carried = [self._report_member(e, fc, members, reported) for e, fc in entries]
            handler = _Reports(carried, self._deliver)
            self._handlers.append(handler)
            report_id = lib.ClientReportControlBlock_getRptId(rcb)
            lib.IedConnection_installReportHandler(
                self._connection, text(reference), report_id, handler.callback, None
            )
            self._switch_on(reference, rcb)
            lib.ClientReportControlBlock_destroy(rcb)
        return reported

    def _report_member(
        self,
        entry: str,
        fc: str,
        members: dict[tuple[str, str], _Member],
        reported: set[int],
    ) -> _Member | None:
        """The data set member `entry` as a structure with the points it carries."""
        spec = self._spec(entry, fc)
        if spec is None:
            return None
        carried = _Member(entry, fc, spec)
        for member in members.values():
            if member.fc != fc:
                continue
            offset = relative(member.reference, entry)
            for point, paths in member.points:
                if offset is not None:  # the member holds the point's whole data object
                    carried.points.append((point, _below(offset, paths)))
                    reported.add(id(member))
                elif relative(str(point.address), entry) is not None:  # a single attribute
                    value = relative(str(point.address), entry) or ""
                    carried.points.append((point, Paths(value, None, None)))
                    reported.add(id(member))
        return carried if carried.points else None

    def _data_set(self, reference: str) -> tuple[int, list[tuple[str, str]]] | None:
        """A report control block and the members of its data set: (reference, FC)."""
        rcb = lib.ClientReportControlBlock_create(text(reference))
        _, error = call("IedConnection_getRCBValues", self._connection, text(reference), rcb)
        if not self._check(error, f"reading {reference}"):
            lib.ClientReportControlBlock_destroy(rcb)
            self._name_unknown(self.station.id, f"report control block {reference}")
            return None
        data_set = lib.ClientReportControlBlock_getDataSetReference(rcb).decode()
        data_set = data_set.replace("$", ".")
        listing, error = call(
            "IedConnection_getDataSetDirectory", self._connection, text(data_set), None
        )
        if not self._check(error, f"reading data set {data_set}"):
            lib.ClientReportControlBlock_destroy(rcb)
            self._name_unknown(self.station.id, f"data set {data_set} of {reference}")
            return None
        entries = []
        element = lib.LinkedList_getNext(listing)
        while element is not None:
            entry = ctypes.cast(lib.LinkedList_getData(element), ctypes.c_char_p).value or b""
            name, _, constraint = entry.decode().rstrip("]").partition("[")
            entries.append((name, constraint))
            element = lib.LinkedList_getNext(element)
        lib.LinkedList_destroy(listing)
        return rcb, entries

    def _switch_on(self, reference: str, rcb: int) -> None:
        """Enable the report control block, with the integrity period asked, and interrogate."""
        parts = iec.RCB_ELEMENT_RPT_ENA
        if self.station.integrity_period > 0:
            triggers = lib.ClientReportControlBlock_getTrgOps(rcb) | iec.TRG_OPT_INTEGRITY
            lib.ClientReportControlBlock_setTrgOps(rcb, triggers | iec.TRG_OPT_GI)
            lib.ClientReportControlBlock_setIntgPd(rcb, int(self.station.integrity_period * 1000))
            parts |= iec.RCB_ELEMENT_TRG_OPS | iec.RCB_ELEMENT_INTG_PD
        lib.ClientReportControlBlock_setRptEna(rcb, True)
        _, error = call("IedConnection_setRCBValues", self._connection, rcb, parts, True)
        if not self._check(error, f"enabling {reference}"):
            log.error(
                "%s: report control block %s cannot be enabled: %s",
                self.station.id,
                reference,
                name_of("IED_ERROR_", error),
            )
            return
        call("IedConnection_triggerGIReport", self._connection, text(reference))

    def _poll(self) -> None:
        for member in self._polled:
            with self._lock:
                if self._connection is None:
                    return
                value, error = call(
                    "IedConnection_readObject",
                    self._connection,
                    text(member.reference),
                    fc(member.fc),
                )
            if error == iec.IED_ERROR_OK and value is not None:
                if lib.MmsValue_getType(value) != iec.MMS_DATA_ACCESS_ERROR:
                    self._deliver(member, value)
                lib.MmsValue_delete(value)

    def _deliver(self, member: _Member, value: int) -> None:
        """Enqueue a sample per point of a delivered structure (on libiec61850's thread too)."""
        received = time.time_ns()
        for point, paths in member.points:
            number, quality, measured = read(member.spec, value, paths)
            if number is None:
                continue
            self.values[point.id] = number
            self._samples.put(Sample(point, number, quality, measured, received))
        self._changes.received()

    def _name_unknown(self, owner: str, what: str) -> None:
        if what not in self._unknown:
            self._unknown.add(what)
            log.error("%s: the IED %s has no %s: not reported", owner, self.station.id, what)

    def _control(self, command: Command) -> int | str:
        control = lib.ControlObjectClient_create(text(str(command.address)), self._connection)
        if control is None:
            reason = f"the IED {self.station.id} has no control object {command.address}"
            log.error("%s: %s", command.id, reason)
            return reason
        return int(control)

    def operate(self, command: Command, value: float | str) -> bool:
        control = self._controls.get(command.id)
        if not self.reached or control is None:
            raise Refused(f"no IEC 61850 association with {self.station.id}")
        if isinstance(control, str):
            raise Refused(control)
        model = CONTROL_MODELS.get(lib.ControlObjectClient_getControlModel(control), "unknown")
        if command.control_model is not None and model != command.control_model:
            reason = (
                f"control object {command.address} is {model}, "
                f"the point map says {command.control_model}"
            )
            raise Refused(reason)
        if command.breaker:
            ctl_val = lib.MmsValue_newBoolean(value == "close")
        else:
            ctl_val = lib.MmsValue_newFloat(float(value) / command.scale)
        try:
            with self._lock:
                if model.startswith("sbo-") and not self._select(control, model, ctl_val):
                    raise Refused(self._why(control, command, "select"))
                if not lib.ControlObjectClient_operate(control, ctl_val, 0):
                    raise Refused(self._why(control, command, "operate"))
        finally:
            lib.MmsValue_delete(ctl_val)
        return True

    @staticmethod
    def _select(control: int, model: str, ctl_val: int) -> bool:
        """Select before operate: with the value under enhanced security, without under normal."""
        if model == "sbo-with-enhanced-security":
            return bool(lib.ControlObjectClient_selectWithValue(control, ctl_val))
        return bool(lib.ControlObjectClient_select(control))

    def _why(self, control: int, command: Command, step: str) -> str:
        error = lib.ControlObjectClient_getLastError(control)
        if error in (iec.IED_ERROR_CONNECTION_LOST, iec.IED_ERROR_NOT_CONNECTED):
            reason = f"the association with {self.station.id} was lost during the {step}"
        elif error == iec.IED_ERROR_TIMEOUT:
            reason = f"the IED {self.station.id} did not answer the {step}"
        else:
            reason = f"the IED {self.station.id} refused the {step} of {command.address}"
            if error != iec.IED_ERROR_OK:  # normal security's select says nothing more
                cause = lib.ControlObjectClient_getLastApplError(control).addCause
                reason += f": {name_of('IED_ERROR_', error)}"
                reason += f", cause {name_of('ADD_CAUSE_', cause)}"
        log.error("%s: %s", command.id, reason)
        return reason


def _has(spec: int, name: str) -> bool:
    return _child_spec(spec, name) is not None


def _child_spec(spec: int, name: str) -> int | None:
    if lib.MmsVariableSpecification_getType(spec) != iec.MMS_STRUCTURE:
        return None
    child = lib.MmsVariableSpecification_getChildSpecificationByName(spec, text(name), None)
    return None if child is None else int(child)


def _below(offset: str, paths: Paths) -> Paths:
    """A point's paths within a structure that holds its data object at `offset`."""

    def join(path: str | None) -> str | None:
        if path is None or not offset:
            return path
        return offset if path == "" else f"{offset}${path}"

    return Paths(join(paths.value) or "", join(paths.quality), join(paths.time))


class Ieds:
    """The bridge's client for the IEC 61850 IEDs of the point map (field.Client)."""

    def __init__(
        self,
        point_map: PointMap,
        samples: "queue.SimpleQueue[Sample]",
        changes: Changes,
        *,
        endpoints: dict[str, tuple[str, int]] | None = None,
        timeout: float = 1.0,
        reconnect: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.associations = {
            station.id: Association(
                station,
                [p for p in point_map.points.values() if p.station == station],
                [c for c in point_map.commands.values() if c.station == station],
                (endpoints or {}).get(station.id, (station.host, station.port)),
                samples,
                changes,
                timeout,
                reconnect,
            )
            for station in point_map.stations
        }

    def start(self) -> None:
        for association in self.associations.values():
            association.start()

    def stop(self) -> None:
        for association in self.associations.values():
            association.stop()

    @property
    def connected(self) -> bool:
        return all(a.reached for a in self.associations.values())

    def reached(self, station: Station) -> bool:
        return self.associations[station.id].reached

    def away_for(self, station: Station) -> float:
        lost = self.associations[station.id].lost_at
        return 0.0 if lost is None else time.monotonic() - lost

    def known(self, point: Point) -> bool:
        return point.id in self.associations[point.station.id].values

    def status(self, point: Point) -> float:
        return self.associations[point.station.id].values[point.id]

    def operate(self, command: Command, value: float | str) -> bool:
        return self.associations[command.station.id].operate(command, value)
