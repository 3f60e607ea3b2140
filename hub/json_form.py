"""The plain-JSON form of a message, for integrators who do not speak RDF.

Both directions are driven by the shapes: a field's JSON key is its sh:name, its RDF property is
its sh:path, and its kind (literal, enumeration, reference, part) says how a value is written.
Lists of literals and references are sets, as in RDF; parts keep their order by their number.
"""

import re
from decimal import Decimal
from functools import cache
from typing import Any

import pyoxigraph as ox

from hub import vocabulary as v
from hub.shapes import Field, NodeShape, enum_key, local_name, shapes
from hub.terms import RDF_TYPE, Index, Term, Triple, literal_value

JSON = dict[str, Any]
ENVELOPE_KEYS = ("type", "id", "sender", "time", "recipients", "references")
DECIMAL = v.XSD + "decimal"
DOUBLE = v.XSD + "double"
INTEGER = v.XSD + "integer"
BOOLEAN = v.XSD + "boolean"
STRING = v.XSD + "string"


def message_iri(message_id: str) -> str:
    return v.MESSAGE + message_id


def part_iri(owner: ox.NamedNode, field: Field, position: int | None) -> ox.NamedNode:
    """Parts are named after their property, numbered when there are several."""
    base = owner.value.split("#", 1)[0]
    suffix = "" if position is None else f"-{position}"
    return ox.NamedNode(f"{base}#{local_name(field.path)}{suffix}")


# JSON -> RDF


def _lexical(datatype: str, value: Any) -> str:
    """The canonical text of a JSON value in the field's datatype."""
    if datatype == DECIMAL:
        return format(Decimal(str(value)), "f")
    if datatype == DOUBLE:
        return repr(float(value))
    if datatype == BOOLEAN:
        return "true" if value else "false"
    return str(value)


@cache
def _iri(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


@cache
def _choice(choices: tuple[str, ...], word: str) -> ox.NamedNode:
    """The enumeration member a JSON word names (the schema has checked it is one)."""
    return _iri(next(c for c in choices if enum_key(c) == word))


def _term(
    triples: list[Triple], owner: ox.NamedNode, field: Field, value: Any, position: int | None
) -> Term:
    if field.kind == "literal":
        datatype = field.datatype or STRING
        return ox.Literal(_lexical(datatype, value), datatype=_iri(datatype))
    if field.kind == "ref":
        return ox.NamedNode(f"{field.base}{value}")
    if field.kind == "enum":
        return _choice(field.choices, value)
    node = part_iri(owner, field, position)
    _write_fields(triples, node, shapes().parts[field.node or ""], value)
    return node


def _write_fields(
    triples: list[Triple], node: ox.NamedNode, shape: NodeShape, document: JSON
) -> None:
    for field in shape.fields:
        if field.name not in document:
            continue
        value = document[field.name]
        path = _iri(field.path)
        if not field.many:
            triples.append((node, path, _term(triples, node, field, value, None)))
            continue
        for position, item in enumerate(value):
            triples.append((node, path, _term(triples, node, field, item, position)))


def to_triples(document: JSON) -> list[Triple]:
    """The RDF of a message in plain JSON that has passed its JSON Schema."""
    node = ox.NamedNode(message_iri(document["id"]))
    triples: list[Triple] = [(node, RDF_TYPE, ox.NamedNode(v.HEILA + document["type"]))]
    _write_fields(triples, node, shapes().envelope, document)
    _write_fields(triples, node, shapes().objects[document["type"]], document)
    return triples


# RDF -> JSON


def _number_of(node: Term) -> int:
    match = re.search(r"-(\d+)$", node.value)
    return int(match.group(1)) if match else 0


def _python(field: Field, term: Term) -> Any:
    if field.kind == "enum":
        return enum_key(term.value)
    if field.kind == "ref":
        return term.value.removeprefix(field.base) if field.base else term.value
    assert isinstance(term, ox.Literal)
    datatype = term.datatype.value
    if datatype == DECIMAL:
        number = Decimal(term.value)
        return int(number) if "." not in term.value else float(number)
    if datatype == DOUBLE:
        return float(term.value)
    if datatype in (INTEGER, BOOLEAN):
        return literal_value(term)
    return term.value


def _read_fields(index: Index, node: Term, shape: NodeShape) -> JSON:
    document: JSON = {}
    properties = index.get(node, {})
    for field in shape.fields:
        terms = properties.get(_iri(field.path))
        if not terms:
            continue
        if field.kind == "part":
            part_shape = shapes().parts[field.node or ""]
            values = [_read_fields(index, t, part_shape) for t in sorted(terms, key=_number_of)]
        else:
            values = sorted((_python(field, t) for t in terms), key=str)
        document[field.name] = values if field.many else values[0]
    return document


def from_index(index: Index, node: ox.NamedNode, type_name: str) -> JSON:
    """The plain-JSON form of the message `node`, envelope keys first."""
    envelope = {"type": type_name, **_read_fields(index, node, shapes().envelope)}
    body = _read_fields(index, node, shapes().objects[type_name])
    return {**{k: envelope[k] for k in ENVELOPE_KEYS if k in envelope}, **body}
