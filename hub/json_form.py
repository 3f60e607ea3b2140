"""The plain-JSON form of a message, for integrators who do not speak RDF.

Both directions are driven by the shapes: a field's JSON key is its sh:name, its RDF property is
its sh:path, and its kind (literal, enumeration, reference, part) says how a value is written.
Lists of literals and references are sets, as in RDF; parts keep their order by their number.
"""

import re
from decimal import Decimal
from typing import Any

from rdflib import RDF, XSD, Literal, Node, URIRef

from hub import vocabulary as v
from hub.shapes import Field, NodeShape, enum_key, local_name, shapes
from hub.terms import Index, Triple

JSON = dict[str, Any]
ENVELOPE_KEYS = ("type", "id", "sender", "time", "recipients", "references")


def message_iri(message_id: str) -> str:
    return v.MESSAGE + message_id


def part_iri(owner: str, field: Field, position: int | None) -> URIRef:
    """Parts are named after their property, numbered when there are several."""
    base = owner.split("#", 1)[0]
    suffix = "" if position is None else f"-{position}"
    return URIRef(f"{base}#{local_name(field.path)}{suffix}")


# JSON -> RDF


def _literal(field: Field, value: Any) -> Literal:
    datatype = URIRef(field.datatype or XSD.string)
    if datatype == XSD.decimal:
        return Literal(format(Decimal(str(value)), "f"), datatype=datatype)
    if datatype == XSD.double:
        return Literal(repr(float(value)), datatype=datatype)
    if datatype in (XSD.integer, XSD.boolean):
        return Literal(value, datatype=datatype)
    if datatype == XSD.string:
        return Literal(str(value))
    return Literal(str(value), datatype=datatype)


def _term(
    triples: list[Triple], owner: str, field: Field, value: Any, position: int | None
) -> Node:
    if field.kind == "literal":
        return _literal(field, value)
    if field.kind == "ref":
        return URIRef(f"{field.base}{value}")
    if field.kind == "enum":
        return URIRef(next(c for c in field.choices if enum_key(c) == value))
    node = part_iri(owner, field, position)
    _write_fields(triples, node, shapes().parts[field.node or ""], value)
    return node


def _write_fields(triples: list[Triple], node: URIRef, shape: NodeShape, document: JSON) -> None:
    for field in shape.fields:
        if field.name not in document:
            continue
        value = document[field.name]
        path = URIRef(field.path)
        if not field.many:
            triples.append((node, path, _term(triples, node, field, value, None)))
            continue
        for position, item in enumerate(value):
            triples.append((node, path, _term(triples, node, field, item, position)))


def to_triples(document: JSON) -> list[Triple]:
    """The RDF of a message in plain JSON that has passed its JSON Schema."""
    node = URIRef(message_iri(document["id"]))
    triples: list[Triple] = [(node, RDF.type, URIRef(v.HEILA + document["type"]))]
    _write_fields(triples, node, shapes().envelope, document)
    _write_fields(triples, node, shapes().objects[document["type"]], document)
    return triples


# RDF -> JSON


def _number_of(node: Node) -> int:
    match = re.search(r"-(\d+)$", str(node))
    return int(match.group(1)) if match else 0


def _python(field: Field, term: Node) -> Any:
    if field.kind == "enum":
        return enum_key(str(term))
    if field.kind == "ref":
        text = str(term)
        return text.removeprefix(field.base) if field.base else text
    assert isinstance(term, Literal)
    datatype = term.datatype
    if datatype == XSD.decimal:
        number = Decimal(str(term))
        return int(number) if "." not in str(term) else float(number)
    if datatype == XSD.double:
        return float(str(term))
    if datatype in (XSD.integer, XSD.boolean):
        return term.toPython()
    return str(term)


def _read_fields(index: Index, node: Node, shape: NodeShape) -> JSON:
    document: JSON = {}
    properties = index.get(node, {})
    for field in shape.fields:
        terms = properties.get(URIRef(field.path))
        if not terms:
            continue
        if field.kind == "part":
            part_shape = shapes().parts[field.node or ""]
            values = [_read_fields(index, t, part_shape) for t in sorted(terms, key=_number_of)]
        else:
            values = sorted((_python(field, t) for t in terms), key=str)
        document[field.name] = values if field.many else values[0]
    return document


def from_index(index: Index, node: URIRef, type_name: str) -> JSON:
    """The plain-JSON form of the message `node`, envelope keys first."""
    envelope = {"type": type_name, **_read_fields(index, node, shapes().envelope)}
    body = _read_fields(index, node, shapes().objects[type_name])
    return {**{k: envelope[k] for k in ENVELOPE_KEYS if k in envelope}, **body}
