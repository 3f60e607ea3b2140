"""The published JSON-LD @context, generated from the shapes.

Every JSON key of a message becomes a term bound to its property. An object's keys live in a
context scoped to its type and a part's keys in one scoped to its property, so the `bid` of an
Offer List and of a Reserve Notification, or a slot's `price` and an offer's, may name
different properties without clashing.
"""

from functools import cache
from typing import Any

from rdflib import XSD

from hub.model import vocabulary as v
from hub.model.shapes import Field, shapes

CONTEXT_URL = v.BASE + "context.jsonld"

PREFIXES = {
    "heila": v.HEILA,
    "smartapi": v.SMARTAPI,
    "gr": v.GR,
    "saref": v.SAREF,
    "s4ener": v.S4ENER,
    "qudt": v.QUDT,
    "unit": v.UNIT,
    "xsd": v.XSD,
    "rdf": v.RDF,
    "message": v.MESSAGE,
    "actor": v.ACTOR,
    "grid": v.GRID,
    "device": v.DEVICE,
    "point": v.POINT,
}


def _term(field: Field) -> dict[str, Any]:
    term: dict[str, Any] = {"@id": field.path}
    if field.kind == "literal" and field.datatype != str(XSD.string):
        term["@type"] = field.datatype
    elif field.kind in ("ref", "enum", "part"):
        term["@type"] = "@id"
    if field.kind == "part":
        term["@context"] = _terms(shapes().parts[field.node or ""].fields)
    return term


def _merge(name: str, known: dict[str, Any], term: dict[str, Any]) -> dict[str, Any]:
    """One term for a key used by several shapes: the same property, the union of part keys."""
    if {k: x for k, x in known.items() if k != "@context"} != {
        k: x for k, x in term.items() if k != "@context"
    }:
        raise ValueError(f"the JSON key {name!r} names two properties")
    if "@context" not in term:
        return term
    scoped = dict(known["@context"])
    for key, inner in term["@context"].items():
        scoped[key] = _merge(key, scoped[key], inner) if key in scoped else inner
    return {**term, "@context": scoped}


def _terms(fields: tuple[Field, ...]) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    for field in fields:
        term = _term(field)
        terms[field.name] = (
            _merge(field.name, terms[field.name], term) if field.name in terms else term
        )
    return terms


@cache
def context() -> dict[str, Any]:
    """Prefixes and envelope keys at the top; each object's keys scoped to its type."""
    catalogue = shapes()
    classes = {
        name: {"@id": v.HEILA + name, "@context": _terms(shape.fields)}
        for name, shape in catalogue.objects.items()
    }
    return {"@version": 1.1, **PREFIXES, **_terms(catalogue.envelope.fields), **classes}


def document() -> dict[str, Any]:
    """The context as served at CONTEXT_URL."""
    return {"@context": context()}
