"""Values the hub derives from each message at write time, so that queries compute with them.

SPARQL has no way from an `xsd:duration` to a number, so window lengths, slot times and
energies would need regular expressions over lexical forms. The store writes these instead, in
the same transaction as the message, into the read-only graph <https://w3id.org/heila/hub/derived>:
- a message with `heila:start` and `heila:end`: `heila:windowHours` (xsd:decimal);
- with a `heila:power` as well: `heila:energy`, the power held over the window, in kWh;
- with a `heila:timeStep`: `heila:timeStepHours`, and on each slot (by its `heila:index`)
  `heila:slotStart` and `heila:slotEnd` (xsd:dateTime, in the zone of the message's start),
  and where the slot has a `heila:power`, its `heila:energy` in kWh.
They are facts about the message's own nodes (the slots are its blank nodes), so a query joins
them in the default graph without naming the derived graph.
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pyoxigraph as ox

from hub.model.message import Message
from hub.model.terms import Term
from hub.model.vocabulary import BASE, HEILA, XSD

DERIVED_GRAPH = BASE + "hub/derived"

_GRAPH = ox.NamedNode(DERIVED_GRAPH)
_START, _END, _POWER = (ox.NamedNode(HEILA + name) for name in ("start", "end", "power"))
_TIME_STEP, _SLOT, _INDEX = (ox.NamedNode(HEILA + name) for name in ("timeStep", "slot", "index"))
WINDOW_HOURS = ox.NamedNode(HEILA + "windowHours")
ENERGY = ox.NamedNode(HEILA + "energy")
TIME_STEP_HOURS = ox.NamedNode(HEILA + "timeStepHours")
SLOT_START = ox.NamedNode(HEILA + "slotStart")
SLOT_END = ox.NamedNode(HEILA + "slotEnd")
_DECIMAL = ox.NamedNode(XSD + "decimal")
_DATETIME = ox.NamedNode(XSD + "dateTime")
_HOUR = Decimal(3600)
_PLACES = Decimal("1E-9")

_DAY_TIME = re.compile(
    r"P(?:(?P<d>[0-9]+)D)?(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?(?:(?P<s>[0-9.]+)S)?)?"
)


def seconds_of(duration: str) -> Decimal:
    """The length of a day-time duration (PnDTnHnMnS) in seconds; ValueError for years or
    months, whose length depends on where they start."""
    found = _DAY_TIME.fullmatch(duration)
    if found is None or duration in ("P", "PT"):
        raise ValueError(f"{duration!r} is not a day-time duration")
    days, hours, minutes, seconds = (Decimal(found.group(g) or 0) for g in "dhms")
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _decimal(value: Decimal) -> ox.Literal:
    text = format(value.quantize(_PLACES).normalize(), "f")
    return ox.Literal(text, datatype=_DECIMAL)


def _instant(moment: datetime) -> ox.Literal:
    return ox.Literal(moment.isoformat().replace("+00:00", "Z"), datatype=_DATETIME)


def _one(values: dict[ox.NamedNode, list[Term]], key: ox.NamedNode) -> str | None:
    found = values.get(key)
    return found[0].value if found and isinstance(found[0], ox.Literal) else None


def quads_of(message: Message) -> list[ox.Quad]:
    """The derived facts of one accepted message, in the derived graph."""
    node = ox.NamedNode(message.iri)
    own = message.body_index.get(node, {})  # readings have nothing to derive
    start, end, power = _one(own, _START), _one(own, _END), _one(own, _POWER)
    facts: list[tuple[ox.NamedNode | ox.BlankNode, ox.NamedNode, ox.Literal]] = []
    if start is not None and end is not None:
        hours = Decimal((_time(end) - _time(start)).total_seconds()) / _HOUR
        facts.append((node, WINDOW_HOURS, _decimal(hours)))
        if power is not None:
            facts.append((node, ENERGY, _decimal(Decimal(power) * hours)))
    step = _one(own, _TIME_STEP)
    if step is not None:
        step_seconds = seconds_of(step)
        facts.append((node, TIME_STEP_HOURS, _decimal(step_seconds / _HOUR)))
        for slot in own.get(_SLOT, []):
            if isinstance(slot, ox.BlankNode | ox.NamedNode):
                facts += _slot_facts(slot, message.body_index.get(slot, {}), start, step_seconds)
    return [ox.Quad(s, p, o, _GRAPH) for s, p, o in facts]


def _slot_facts(
    slot: ox.BlankNode | ox.NamedNode,
    values: dict[ox.NamedNode, list[Term]],
    start: str | None,
    step_seconds: Decimal,
) -> list[tuple[ox.NamedNode | ox.BlankNode, ox.NamedNode, ox.Literal]]:
    index, power = _one(values, _INDEX), _one(values, _POWER)
    step = timedelta(seconds=float(step_seconds))
    facts: list[tuple[ox.NamedNode | ox.BlankNode, ox.NamedNode, ox.Literal]] = []
    if start is not None and index is not None:
        begins = _time(start) + int(index) * step
        facts.append((slot, SLOT_START, _instant(begins)))
        facts.append((slot, SLOT_END, _instant(begins + step)))
    if power is not None:
        facts.append((slot, ENERGY, _decimal(Decimal(power) * step_seconds / _HOUR)))
    return facts


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
