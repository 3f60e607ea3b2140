"""The plain-JSON form of a message, for integrators who do not speak RDF.

Both directions are driven by the shapes: a field's JSON key is its sh:name, its RDF property is
its sh:path, and its kind (literal, enumeration, reference, part) says how a value is written.
Lists of literals and references are sets, as in RDF; parts keep their order by their number.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import pyoxigraph as ox

from heila_client.vocabulary import message_iri, part_iri
from hub.model import vocabulary as v
from hub.model.shapes import Field, Kind, NodeShape, enum_key, local_name, shapes
from hub.model.terms import RDF_TYPE, SEALED, Index, Term, Triple, is_sealed, literal_value

JSON = dict[str, Any]
ENVELOPE_KEYS = ("type", "id", "sender", "time", "recipients", "references")
DECIMAL = v.XSD + "decimal"
DOUBLE = v.XSD + "double"
INTEGER = v.XSD + "integer"
BOOLEAN = v.XSD + "boolean"
STRING = v.XSD + "string"


# JSON -> RDF


def _decimal(value: Any) -> str:
    return format(Decimal(str(value)), "f")


def write_double(value: Any) -> str:
    try:
        return repr(float(value))
    except OverflowError:  # an integer past a double's range: refused by name, as 1e400 is
        return "inf"


def _boolean(value: Any) -> str:
    return "true" if value else "false"


# the canonical text of a JSON value in a field's datatype; str for the others
_LEXICAL: dict[str, Callable[[Any], str]] = {
    DECIMAL: _decimal,
    DOUBLE: write_double,
    BOOLEAN: _boolean,
}


@cache
def _iri(iri: str) -> ox.NamedNode:
    return ox.NamedNode(iri)


@dataclass(frozen=True, slots=True)
class Writer:
    """A field with all that writing its values needs, worked out once, not once per value."""

    name: str
    path: ox.NamedNode
    many: bool
    kind: Kind
    datatype: ox.NamedNode
    lexical: Callable[[Any], str]
    members: dict[str, ox.NamedNode]  # JSON word -> enumeration member
    base: str | None  # of a reference
    local: str  # a part's IRI is the message's, then #local, numbered when there are several
    node: str  # a part's shape


def _writer(field: Field) -> Writer:
    members: dict[str, ox.NamedNode] = {}
    for choice in field.choices:  # the first member a word names, as a search would find
        members.setdefault(enum_key(choice), _iri(choice))
    datatype = field.datatype or STRING
    return Writer(
        name=field.name,
        path=_iri(field.path),
        many=field.many,
        kind=field.kind,
        datatype=_iri(datatype),
        lexical=_LEXICAL.get(datatype, str),
        members=members,
        base=field.base,
        local=local_name(field.path),
        node=field.node or "",
    )


@cache
def writers(shape_iri: str) -> tuple[Writer, ...]:
    """The writers of a shape's fields, found by IRI since a shape is slow to hash."""
    catalogue = shapes()
    every = [catalogue.envelope, *catalogue.objects.values(), *catalogue.parts.values()]
    shape = next(s for s in every if s.iri == shape_iri)
    return tuple(_writer(f) for f in shape.fields)


def _term(
    triples: list[Triple], message_id: str, writer: Writer, value: Any, position: int | None
) -> Term:
    if writer.kind == "literal":
        return ox.Literal(writer.lexical(value), datatype=writer.datatype)
    if writer.kind == "ref":
        return ox.NamedNode(f"{writer.base}{value}")
    if writer.kind == "enum":
        return writer.members[value]  # the schema has checked it is one
    node = ox.NamedNode(part_iri(message_id, writer.local, position))
    _write_fields(triples, message_id, node, writers(writer.node), value)
    return node


def _write_fields(
    triples: list[Triple],
    message_id: str,
    node: ox.NamedNode,
    writers: tuple[Writer, ...],
    document: JSON,
) -> None:
    for writer in writers:
        if writer.name not in document:
            continue
        value = document[writer.name]
        if not writer.many:
            triples.append((node, writer.path, _term(triples, message_id, writer, value, None)))
            continue
        for position, item in enumerate(value):
            triples.append((node, writer.path, _term(triples, message_id, writer, item, position)))


def to_triples(document: JSON) -> list[Triple]:
    """The RDF of a message in plain JSON that has passed its JSON Schema."""
    node = ox.NamedNode(message_iri(document["id"]))
    triples: list[Triple] = [(node, RDF_TYPE, ox.NamedNode(v.HEILA + document["type"]))]
    identifier = document["id"]
    _write_fields(triples, identifier, node, writers(shapes().envelope.iri), document)
    _write_fields(
        triples, identifier, node, writers(shapes().objects[document["type"]].iri), document
    )
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
            values = [_read_part(index, t, part_shape) for t in sorted(terms, key=_number_of)]
        else:
            values = sorted((_python(field, t) for t in terms), key=str)
        document[field.name] = values if field.many else values[0]
    return document


def _read_part(index: Index, node: Term, shape: NodeShape) -> JSON:
    """A part's fields, or `{"sealed": JWE}` for a part sealed for the recipients."""
    properties = index.get(node, {})
    if is_sealed(properties):
        return {"sealed": properties[SEALED][0].value}
    return _read_fields(index, node, shape)


def from_index(index: Index, node: ox.NamedNode, type_name: str) -> JSON:
    """The plain-JSON form of the message `node`, envelope keys first."""
    envelope = {"type": type_name, **_read_fields(index, node, shapes().envelope)}
    body = _read_fields(index, node, shapes().objects[type_name])
    return {**{k: envelope[k] for k in ENVELOPE_KEYS if k in envelope}, **body}
