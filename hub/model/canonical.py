"""The canonical form of a message's graph: what a signature is made over, and what a sealed
part's plaintext is.

The form is RDF Dataset Canonicalization (RDFC-1.0). A message has no blank nodes (each part is
named by the message's IRI, hub.model.message), so its canonical N-Quads are just its triples in
canonical N-Triples, sorted and without duplicates: no blank-node labelling, one sort. Literals
are first put in their value's canonical form, because that is what a store gives back. The two
triples that keep a message's signature and its key (hub.trust.signature) are left out.
"""

import calendar
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from fractions import Fraction

import pyoxigraph as ox

from hub.model.terms import JWE, XSD_STRING, Triple
from hub.model.vocabulary import HEILA, RDF, XSD

SIGNATURE = ox.NamedNode(HEILA + "signature")
SIGNING_KEY = ox.NamedNode(HEILA + "signingKey")
PROVENANCE = (SIGNATURE, SIGNING_KEY)


def canonical(triples: Iterable[Triple]) -> bytes:
    """RDFC-1.0 canonical N-Quads of a blank-node-free graph, without its signature triples,
    each literal in the canonical form of its datatype's value, as Oxigraph stores it (the
    store keeps 8.0 as 8): what is signed is what any store gives back. The values of the
    message's datatypes are put in that form here; a literal whose form only a store can tell
    (another datatype, a value out of range) goes through one."""
    lines = set()
    unknown = []
    for s, p, o in triples:
        if p in PROVENANCE:
            continue
        if type(o) is ox.Literal and (datatype := o.datatype) not in _KEPT_AS_WRITTEN:
            form = _STORED_FORM.get(datatype)
            text = None if form is None else form(o.value)
            if text is None:
                unknown.append(ox.Quad(s, p, o))
            else:
                lines.add(f'{s!s} {p!s} "{text}"^^{datatype!s} .\n')
        else:
            lines.add(f"{s!s} {p!s} {o!s} .\n")  # !s: str at once, not through __format__
    if unknown:
        values = ox.Store()
        values.extend(unknown)
        lines.update(f"{q.subject!s} {q.predicate!s} {q.object!s} .\n" for q in values)
    return "".join(sorted(lines)).encode()


_KEPT_AS_WRITTEN = frozenset(
    {XSD_STRING, ox.NamedNode(XSD + "anyURI"), ox.NamedNode(RDF + "langString"), JWE}
)
"""Datatypes whose literals a store keeps as written, whatever their text."""

_NUMBER = re.compile(r"([+-]?)([0-9]{0,18})(?:\.([0-9]{0,18}))?")
"""A decimal within what Oxigraph holds exactly: 18 digits on either side of the point."""
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_DOUBLE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_A_NUMBER = {"INF": "INF", "+INF": "INF", "-INF": "-INF", "NaN": "NaN"}
_DURATION = re.compile(
    r"(-?)P(?:([0-9]{1,9})Y)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})D)?"
    r"(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})(?:\.([0-9]{1,9}))?S)?)?"
)
"""A duration within what Oxigraph holds exactly; the sign is that of the whole."""
_DATETIME = re.compile(
    r"(([1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?:\.([0-9]{1,9}))?"
    r"(Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])?"
)


def _decimal(text: str) -> str | None:
    number = _NUMBER.fullmatch(text)
    if number is None or not (number.group(2) or number.group(3)):
        return None
    whole = number.group(2).lstrip("0") or "0"
    fraction = (number.group(3) or "").rstrip("0")
    sign = "-" if number.group(1) == "-" and (whole != "0" or fraction) else ""
    return sign + whole + ("." + fraction if fraction else "")


def _integer(text: str) -> str | None:
    return _decimal(text) if _INTEGER.fullmatch(text) else None


def _boolean(text: str) -> str | None:
    return {"true": "true", "1": "true", "false": "false", "0": "false"}.get(text)


def _datetime(text: str) -> str | None:
    moment = _DATETIME.fullmatch(text)
    if moment is None:
        return None
    whole, year, month, day, fraction, zone = moment.groups("")
    if day > "28" and int(day) > calendar.monthrange(int(year), int(month))[1]:
        return None
    fraction = fraction.rstrip("0")
    zone = "Z" if zone in ("+00:00", "-00:00") else zone
    return f"{whole}.{fraction}{zone}" if fraction else whole + zone


def _double(text: str) -> str | None:
    """The shortest text that reads as the nearest binary64, never with an exponent (1e20 is
    stored as 100000000000000000000), as Rust writes it. Python's repr holds the same shortest
    digits but for a value that has few binary digits after the point (`_ambiguous`)."""
    if _DOUBLE.fullmatch(text) is None:
        return _NOT_A_NUMBER.get(text)
    value = float(text)
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    shortest = repr(value)
    if value.as_integer_ratio()[1] <= _FEW_BINARY_DIGITS and _ambiguous(value, shortest):
        return None
    if "e" in shortest:
        shortest = format(Decimal(shortest), "f")
    return shortest.removesuffix(".0")


_FEW_BINARY_DIGITS = 2**26
"""Past 26 binary digits after the point, a value and the edges of what reads as it have over
18 decimal digits: no text of 17 digits or fewer is halfway between or on an edge."""


def _ambiguous(value: float, shortest: str) -> bool:
    """Whether `shortest` lies halfway between the value and another text of as many digits,
    or on an edge of what reads as the value: there Python's repr takes the even digit or the
    edge, and Rust the digit above; a store tells."""
    if Decimal(shortest) == Decimal(value):  # exactly the value, as integers mostly are
        return False
    magnitude = abs(value)
    exact, written = Fraction(magnitude), abs(Fraction(shortest))
    digits, _, power = shortest.partition("e")
    unit = Fraction(10) ** (int(power or 0) - len(digits.partition(".")[2]))
    below = (exact + Fraction(math.nextafter(magnitude, 0))) / 2
    above = exact + Fraction(math.ulp(magnitude)) / 2
    return 2 * abs(written - exact) == unit or written in (below, above)


def _duration(text: str) -> str | None:
    """Months and seconds, written back as years and months, days, hours, minutes and seconds
    (PT90M is stored as PT1H30M, P0D as PT0S), as Oxigraph writes a duration."""
    parts = _DURATION.fullmatch(text)
    if parts is None or not any(parts.groups()[1:]):
        return None
    sign, fraction = parts.group(1), (parts.group(8) or "").rstrip("0")
    years, months, days, hours, minutes, seconds = (int(n or 0) for n in parts.groups()[1:7])
    years, months = divmod(years * 12 + months, 12)
    days, seconds = divmod(((days * 24 + hours) * 60 + minutes) * 60 + seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if seconds or fraction:
        time += f"{seconds}.{fraction}S" if fraction else f"{seconds}S"
    if not (date or time):
        return "PT0S"
    return f"{sign}P{date}" + (f"T{time}" if time else "")


_STORED_FORM: dict[ox.NamedNode, Callable[[str], str | None]] = {
    ox.NamedNode(XSD + "decimal"): _decimal,
    ox.NamedNode(XSD + "integer"): _integer,
    ox.NamedNode(XSD + "boolean"): _boolean,
    ox.NamedNode(XSD + "dateTime"): _datetime,
    ox.NamedNode(XSD + "double"): _double,
    ox.NamedNode(XSD + "duration"): _duration,
}
"""The text a store gives back for a literal's text, by datatype; None when only a store can
tell (a value out of the ranges above, or no value of its datatype at all)."""
