"""The canonical form of a message's graph: what a signature is made over, and what a sealed
part's plaintext is.

The form is RDF Dataset Canonicalization (RDFC-1.0). A message has no blank nodes (each part is
named by the message's IRI, hub.model.message), so its canonical N-Quads are just its triples in
canonical N-Triples, sorted and without duplicates: no blank-node labelling, one sort. Literals
are first put in their value's canonical form, because that is what a store gives back. The two
triples that keep a message's signature and its key (hub.trust.signature) are left out.
"""

import calendar
import re
from collections.abc import Callable, Iterable

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
    message's usual datatypes are put in that form here; any other literal goes through a
    store, which alone knows what it makes of it."""
    lines = set()
    others = []
    for s, p, o in triples:
        if p in PROVENANCE:
            continue
        if isinstance(o, ox.Literal) and o.datatype not in _KEPT_AS_WRITTEN:
            stored = _stored(o)
            if stored is None:
                others.append(ox.Quad(s, p, o))
            else:
                lines.add(f"{s} {p} {stored} .\n")
        else:
            lines.add(f"{s} {p} {o} .\n")
    if others:
        values = ox.Store()
        values.extend(others)
        lines.update(f"{q.subject} {q.predicate} {q.object} .\n" for q in values)
    return "".join(sorted(lines)).encode()


_KEPT_AS_WRITTEN = frozenset(
    {XSD_STRING, ox.NamedNode(XSD + "anyURI"), ox.NamedNode(RDF + "langString"), JWE}
)
"""Datatypes whose literals a store keeps as written, whatever their text."""

_NUMBER = re.compile(r"([+-]?)([0-9]{0,18})(?:\.([0-9]{0,18}))?")
"""A decimal within what Oxigraph holds exactly: 18 digits on either side of the point."""
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
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


_STORED_FORM: dict[ox.NamedNode, Callable[[str], str | None]] = {
    ox.NamedNode(XSD + "decimal"): _decimal,
    ox.NamedNode(XSD + "integer"): _integer,
    ox.NamedNode(XSD + "boolean"): _boolean,
    ox.NamedNode(XSD + "dateTime"): _datetime,
}
"""The text a store gives back for a literal's text, by datatype; None when only a store can
tell (a value out of the ranges above, or no value of its datatype at all)."""


def _stored(literal: ox.Literal) -> str | None:
    """The literal in N-Triples as a store gives it back, when that is known without one."""
    datatype = literal.datatype
    form = _STORED_FORM.get(datatype)
    text = None if form is None else form(literal.value)
    return None if text is None else f'"{text}"^^{datatype}'
