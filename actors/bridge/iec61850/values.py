"""What an MMS value says, as a Sample carries it: a number, the reading's quality flags, UTC time.

Reports and reads deliver a functionally constrained data object (such as MMXU1.PhV.phsA, FC MX)
as one structure; a point's value, quality (q) and time stamp (t) are found in it by their
paths, read from the device's own type description (`Paths`). Quality is mapped as IEC
61850-80-1 maps it to IEC 104's: invalid to invalid, oldData to notTopical, overflow,
operatorBlocked to blocked, source substituted to substituted.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from actors.bridge.iec61850.native import iec, lib, text
from actors.bridge.monitoring import float32_text
from heila_client import objects

QUALITY: tuple[tuple[objects.Quality, Callable[[int], bool]], ...] = (
    ("invalid", lambda q: q & 0b11 == iec.QUALITY_VALIDITY_INVALID),
    ("notTopical", lambda q: bool(q & iec.QUALITY_DETAIL_OLD_DATA)),
    ("overflow", lambda q: bool(q & iec.QUALITY_DETAIL_OVERFLOW)),
    ("blocked", lambda q: bool(q & iec.QUALITY_OPERATOR_BLOCKED)),
    ("substituted", lambda q: bool(q & iec.QUALITY_SOURCE_SUBSTITUTED)),
)


@cache
def quality_flags(quality: int) -> tuple[objects.Quality, ...]:
    """The reading's flags for an IEC 61850 quality (libiec61850's bits)."""
    return tuple(name for name, holds in QUALITY if holds(quality))


@dataclass(frozen=True)
class Paths:
    """Where a point's value, quality and time stamp sit in a delivered structure ("$"-joined
    component names; "" is the structure itself, None: not in it)."""

    value: str
    quality: str | None
    time: str | None


def number(value: int) -> float | None:
    """An MMS value as the reading's number: FLOAT32 as the decimal the device meant, a Dbpos
    as the double-point state (0 intermediate, 1 off, 2 on, 3 bad), a BOOLEAN as 1 or 0."""
    kind = lib.MmsValue_getType(value)
    if kind == iec.MMS_FLOAT:
        return float(float32_text(lib.MmsValue_toFloat(value)))
    if kind == iec.MMS_BIT_STRING and lib.MmsValue_getBitStringSize(value) == 2:
        return float(lib.MmsValue_getBitStringAsIntegerBigEndian(value))
    if kind == iec.MMS_BOOLEAN:
        return 1.0 if lib.MmsValue_getBoolean(value) else 0.0
    if kind == iec.MMS_INTEGER:
        return float(lib.MmsValue_toInt64(value))
    if kind == iec.MMS_UNSIGNED:
        return float(lib.MmsValue_toUint32(value))
    return None


def child(spec: int, value: int, path: str | None) -> int | None:
    if path is None:
        return None
    return (
        value if path == "" else lib.MmsVariableSpecification_getChildValue(spec, value, text(path))
    )


def read(
    spec: int, value: int, paths: Paths
) -> tuple[float | None, tuple[objects.Quality, ...], datetime | None]:
    """The number, quality flags and UTC device time of one point in a delivered value."""
    leaf = child(spec, value, paths.value)
    quality = child(spec, value, paths.quality)
    stamp = child(spec, value, paths.time)
    flags = quality_flags(lib.Quality_fromMmsValue(quality)) if quality is not None else ()
    milliseconds = lib.MmsValue_getUtcTimeInMs(stamp) if stamp is not None else 0
    measured = datetime.fromtimestamp(milliseconds / 1000, UTC) if milliseconds else None
    return (None if leaf is None else number(leaf)), flags, measured


def relative(inner: str, outer: str) -> str | None:
    """`inner`'s path below `outer` ("$"-joined), "" when equal, None when not below it."""
    if inner == outer:
        return ""
    if inner.startswith(outer + "."):
        return inner[len(outer) + 1 :].replace(".", "$")
    return None
