"""The bridge's DLMS/COSEM client: meters read periodically, their values as Samples.

One thread per meter keeps an association open and, every read interval, reads each mapped
register (its scaler and unit once per association, its value every time) and, every profile
interval, each load profile by range from the last capture it has delivered on (captures.py
drops what was delivered before). A register's value becomes a Sample in the point's unit,
stamped with the time the bridge received it (a register carries no time); a profile's captured
values become Samples of the mapped points, stamped with the capture's clock (COSEM date-times
carry their offset from UTC, so no zone is guessed).

Failures are told, never swallowed: a meter that cannot be reached or refuses the association
is logged with the reason and tried again after a growing pause; a lost association (a meter
restart, an inactivity time-out) is logged and re-opened; a point the meter does not have, or
whose unit cannot be given in the point's unit, is logged once by name and not read again.
Meters take no commands: an order for a meter's device fails with the reason.
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gurux_dlms.enums import ErrorCode, Unit

from actors.bridge.backoff import Backoff
from actors.bridge.dlms.association import (
    CLOCK,
    PROFILE_STATUS,
    AccessError,
    Association,
    DlmsError,
    Endpoint,
    ScalerUnit,
    moment,
)
from actors.bridge.dlms.captures import Mark, undelivered
from actors.bridge.field import Changes
from actors.bridge.monitoring import QUALITY_FLAGS, Sample
from actors.bridge.pointmap import Command, Point, PointMap, Station
from heila_client import objects

log = logging.getLogger("heila.bridge.dlms")

CONVERSIONS: dict[tuple[int, str], Decimal] = {
    (Unit.ACTIVE_POWER, "KiloW"): Decimal("0.001"),
    (Unit.REACTIVE_POWER, "KiloV-A_Reactive"): Decimal("0.001"),
    (Unit.APPARENT_POWER, "KiloV-A"): Decimal("0.001"),
    (Unit.ACTIVE_ENERGY, "KiloW-HR"): Decimal("0.001"),
    (Unit.VOLTAGE, "V"): Decimal(1),
    (Unit.CURRENT, "A"): Decimal(1),
    (Unit.FREQUENCY, "HZ"): Decimal(1),
    (Unit.PERCENTAGE, "PERCENT"): Decimal(1),
    (Unit.NO_UNIT, "UNITLESS"): Decimal(1),
    (Unit.NONE, "UNITLESS"): Decimal(1),
}
"""From a register's DLMS unit to a point's QUDT unit: the factor, for each pair that fits."""

STATUS_FLAGS: tuple[tuple[int, objects.Quality], ...] = (
    (0x01, "invalid"),
    (0x04, "invalid"),
    (0x02, "notTopical"),
    (0x80, "notTopical"),
)
"""Profile status bits and the reading's quality flag each gives: critical error and data not
valid make the interval's values invalid; a clock that was invalid or a power-down in the
interval make them not topical (their time or their count cannot be trusted)."""

PROFILE_LOOKBACK = timedelta(days=1)
"""How far back the first read of a load profile goes after the bridge starts."""


class UnitMismatch(DlmsError):
    """The meter gives a register in a unit that the point's unit cannot take."""


def in_unit(raw: Any, scaler_unit: ScalerUnit, unit: str | None) -> float:
    """A register's raw value in the point's unit: scaler applied, then the unit converted."""
    factor = CONVERSIONS.get((scaler_unit.unit, unit or ""))
    if factor is None:
        raise UnitMismatch(f"the meter gives it in {scaler_unit.unit_name}, not {unit}")
    return float(scaler_unit.apply(raw) * factor)


def quality_flags(status: int) -> tuple[objects.Quality, ...]:
    """A capture's profile status as a reading's quality flags, each once, in QUALITY_FLAGS
    order."""
    flagged = {flag for bit, flag in STATUS_FLAGS if status & bit}
    return tuple(flag for flag in QUALITY_FLAGS if flag in flagged)


def obis_of(point: Point) -> tuple[str, int]:
    obis, _, attribute = str(point.address).partition(":")
    return obis, int(attribute or 2)


class MeterReader:
    """One meter: its association, its points, its load profiles, read on its own thread."""

    def __init__(
        self,
        station: Station,
        points: list[Point],
        endpoint: Endpoint,
        samples: "queue.SimpleQueue[Sample]",
        changes: Changes,
        timeout: float,
        backoff: tuple[float, float],
    ) -> None:
        self.station = station
        self.endpoint = endpoint
        self._points = points
        self._by_column = {obis_of(point): point for point in points}
        self._samples = samples
        self._changes = changes
        self._timeout = timeout
        self._backoff = Backoff(*backoff)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dlms-{station.id}", daemon=True)
        self._association: Association | None = None
        self._scalers: dict[str, ScalerUnit] = {}
        self._skipped: set[str] = set()
        """point ids not read again, each logged once"""
        self._values: dict[str, float] = {}
        self._round: list[Sample] = []
        self._delivered: dict[str, Mark | None] = {}
        """each load profile's mark: where the captures delivered end"""
        self._profiles_due = 0.0
        self._lost_at: float | None = None
        self.reads = 0
        """complete read rounds since the start"""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._association is not None:
            self._association.close()

    @property
    def reached(self) -> bool:
        return self._association is not None and self._association.is_open

    def away_for(self) -> float:
        return 0.0 if self._lost_at is None else time.monotonic() - self._lost_at

    def known(self, point: Point) -> bool:
        return point.id in self._values

    def status(self, point: Point) -> float:
        return self._values[point.id]

    def _run(self) -> None:
        pause = 0.0
        while not self._stop.wait(pause):
            association = self._associated()
            if association is None:
                pause = self._backoff.failed()
                log.info("meter %s: next try in %.2f s", self.station.id, pause)
                continue
            try:
                self._read(association)
            except DlmsError as error:
                self._lose(f"association lost ({error}); associating again")
                pause = 0.0
                continue
            except (TypeError, ValueError, IndexError) as error:  # an answer of the wrong shape
                self._lose(f"unreadable answer ({error!r}); associating again")
                pause = self._backoff.failed()
                continue
            self.reads += 1
            pause = self.station.poll_interval

    def _associated(self) -> Association | None:
        if self._association is not None and self._association.is_open:
            return self._association
        association = Association(self.endpoint, timeout=self._timeout)
        try:
            association.open()
        except DlmsError as error:
            self._lose(f"cannot associate with {self._where}: {error}")
            return None
        self._association = association
        self._scalers.clear()
        self._values.clear()
        away = self.away_for()
        self._lost_at = None
        self._backoff.succeeded()
        if away:
            log.info("meter %s: associated again after %.1f s", self.station.id, away)
        else:
            log.info("meter %s: associated at %s", self.station.id, self._where)
        return association

    def _lose(self, reason: str) -> None:
        log.warning("meter %s: %s", self.station.id, reason)
        if self._association is not None:
            self._association.close()
            self._association = None
        if self._lost_at is None:
            self._lost_at = time.monotonic()

    @property
    def _where(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def _read(self, association: Association) -> None:
        """One round: every point, and the profiles when due. The round's values go to the
        monitoring loop together (also when the association breaks half-way), so they travel
        in one Measurement."""
        try:
            for point in self._points:
                if point.id not in self._skipped:
                    self._read_point(association, point)
            if time.monotonic() >= self._profiles_due:
                for obis in self.station.profiles:
                    self._read_profile(association, obis)
                self._profiles_due = time.monotonic() + self.station.profile_interval
        finally:
            self._flush()

    def _read_point(self, association: Association, point: Point) -> None:
        obis, attribute = obis_of(point)
        try:
            if obis not in self._scalers:
                self._scalers[obis] = association.scaler_unit(obis)
            raw = association.value(obis, attribute)
            value = in_unit(raw, self._scalers[obis], point.unit)
        except (AccessError, UnitMismatch) as error:
            self._skip(point, error)
            return
        self._put(point, value, None)

    def _read_profile(self, association: Association, obis: str) -> None:
        now = datetime.now(UTC)
        mark = self._delivered.get(obis)
        since = mark.time if mark else now - PROFILE_LOOKBACK
        try:
            columns, rows = association.profile(obis, since, now)
        except AccessError as error:
            log.warning("meter %s: load profile %s not read: %s", self.station.id, obis, error)
            return
        clock = next((i for i, (name, _) in enumerate(columns) if name == CLOCK), None)
        if clock is None:
            log.warning("meter %s: load profile %s captures no clock", self.station.id, obis)
            return
        status_column = (PROFILE_STATUS, 2)
        status = columns.index(status_column) if status_column in columns else None
        mapped = [(i, self._by_column.get(column)) for i, column in enumerate(columns)]
        stamps = [moment(row[clock]).astimezone(UTC) for row in rows]
        fresh, self._delivered[obis] = undelivered(stamps, mark)
        for row, captured in ((rows[i], stamps[i]) for i in fresh):
            quality = quality_flags(int(row[status] or 0)) if status is not None else ()
            for index, point in mapped:
                if point is not None and point.id not in self._skipped and row[index] is not None:
                    scaler_unit = self._scalers.get(obis_of(point)[0])
                    if scaler_unit is not None:
                        value = in_unit(row[index], scaler_unit, point.unit)
                        self._put(point, value, captured, quality)

    def _put(
        self,
        point: Point,
        value: float,
        measured: datetime | None,
        quality: tuple[objects.Quality, ...] = (),
    ) -> None:
        self._round.append(Sample(point, value, quality, measured, time.time_ns()))
        if measured is None:
            self._values[point.id] = value

    def _flush(self) -> None:
        for sample in self._round:
            self._samples.put(sample)
        if self._round:
            self._changes.received()
        self._round.clear()

    def _skip(self, point: Point, error: DlmsError) -> None:
        self._skipped.add(point.id)
        hint = ""
        if isinstance(error, AccessError) and error.code == ErrorCode.UNDEFINED_OBJECT:
            hint = ": the meter has no such object, correct the point map's OBIS code"
        log.warning(
            "meter %s: point %s (%s) not read: %s%s",
            self.station.id,
            point.id,
            point.address,
            error,
            hint,
        )


class Meters:
    """The bridge's client for every DLMS/COSEM meter of the point map."""

    def __init__(
        self,
        point_map: PointMap,
        samples: "queue.SimpleQueue[Sample]",
        changes: Changes,
        endpoints: Mapping[str, tuple[str, int]] | None = None,
        timeout: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.readers = {
            station.id: MeterReader(
                station,
                [p for p in point_map.points.values() if p.station.id == station.id],
                endpoint(station, (endpoints or {}).get(station.id)),
                samples,
                changes,
                timeout,
                backoff,
            )
            for station in point_map.stations
        }

    def start(self) -> None:
        for reader in self.readers.values():
            reader.start()

    def stop(self) -> None:
        for reader in self.readers.values():
            reader.stop()

    @property
    def connected(self) -> bool:
        return all(reader.reached for reader in self.readers.values())

    def reached(self, station: Station) -> bool:
        return self.readers[station.id].reached

    def away_for(self, station: Station) -> float:
        return self.readers[station.id].away_for()

    def known(self, point: Point) -> bool:
        return self.readers[point.station.id].known(point)

    def status(self, point: Point) -> float:
        return self.readers[point.station.id].status(point)

    def operate(self, command: Command, value: float | str) -> bool:
        log.warning("meter %s takes no commands: %s not sent", command.station.id, command.id)
        return False


def endpoint(station: Station, elsewhere: tuple[str, int] | None = None) -> Endpoint:
    """How to reach and associate with a meter; its password from the environment variable
    the point map names (a missing variable is refused before the bridge starts)."""
    host, port = elsewhere or (station.host, station.port)
    variable = station.password_variable
    return Endpoint(
        host,
        port,
        client_address=station.client_address,
        server_address=station.server_address,
        password=os.environ.get(variable, "") if variable else "",
    )


def missing_passwords(point_map: PointMap) -> list[str]:
    """The password variables the point map names that the environment does not hold."""
    return sorted(
        f"{station.id} needs {station.password_variable}"
        for station in point_map.stations
        if station.protocol == "dlms"
        and station.password_variable
        and not os.environ.get(station.password_variable)
    )
