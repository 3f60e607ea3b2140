"""A message: one information object with its envelope, in every form the hub speaks.

The RDF graph is the message; the plain JSON, JSON-LD, Turtle and N-Quads are views of it.
`accept` is the single entry of every write path (HTTP, SPARQL Update, MQTT inbox, files).
"""

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache, cached_property
from typing import Any

import pyoxigraph as ox
from rdflib import Graph

from heila_client.vocabulary import message_iri, part_iri
from hub.model import jsonld, readings
from hub.model import vocabulary as v
from hub.model.context import CONTEXT_URL, context
from hub.model.errors import Invalid, ParseError, Violation
from hub.model.json_form import JSON, from_index, to_triples
from hub.model.readings import Readings
from hub.model.schema import check
from hub.model.shapes import Field, local_name, shapes
from hub.model.terms import (
    RDF_TYPE,
    IllTyped,
    Index,
    Term,
    Triple,
    index,
    indexed,
    literal_value,
    quads,
    to_rdflib_graph,
    triples_of,
)
from hub.model.validation import validate

SMARTAPI_ID = ox.NamedNode(v.SMARTAPI + "id")
GENERATED_BY = ox.NamedNode(v.SMARTAPI + "generatedBy")
GENERATED_AT = ox.NamedNode(v.SMARTAPI + "generatedAt")
RECIPIENT = ox.NamedNode(v.HEILA + "recipient")

JSON_TYPES = ("application/json",)
JSONLD_TYPES = ("application/ld+json",)
OXIGRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
MEDIA_TYPES = (*JSON_TYPES, *JSONLD_TYPES, *OXIGRAPH_FORMATS)

# rdflib logs a traceback for every ill-typed literal; the shapes report those as violations.
logging.getLogger("rdflib.term").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Message:
    """A message and its envelope; `triples` are the message, everything else reads them.

    A Measurement read in columns keeps its readings as one N-Quads chunk (`readings`) and
    only the rest as Python terms (`body`): its triples are made of the chunk when asked for.
    """

    iri: str
    id: str
    type: str
    sender: str
    recipients: tuple[str, ...]
    time: datetime
    references: tuple[str, ...]
    body: tuple[Triple, ...]
    body_index: Index = field(compare=False, repr=False)  # of `body`, made once as it is read
    readings: Readings | None = None

    @cached_property
    def triples(self) -> tuple[Triple, ...]:
        if self.readings is None:
            return self.body
        return (*self.body, *self.readings.triples())

    @cached_property
    def index(self) -> Index:
        return self.body_index if self.readings is None else index(self.triples)

    def kept_with(self, triples: Iterable[Triple]) -> "Message":
        """The message with triples the hub keeps about it (a verified signature), which its
        envelope does not read: added to its body and to its index, neither read again."""
        kept = tuple(triples)
        return replace(self, body=(*self.body, *kept), body_index=indexed(self.body_index, kept))

    def nquads(self) -> bytes:
        """The message in its own named graph as N-Quads, the readings' chunk as it is."""
        if self.readings is None:
            return ox.serialize(self.quads(), format=ox.RdfFormat.N_QUADS) or b""
        body = ox.serialize(quads(self.body, ox.NamedNode(self.iri)), format=ox.RdfFormat.N_QUADS)
        return (body or b"") + self.readings.nquads

    @cached_property
    def graph(self) -> Graph:
        """The triples as an rdflib graph, built only for those who need one (JSON-LD, pyshacl)."""
        return to_rdflib_graph(self.triples)

    @cached_property
    def _quads(self) -> list[ox.Quad]:
        return quads(self.triples, ox.NamedNode(self.iri))

    def quads(self) -> list[ox.Quad]:
        """The message in its own named graph, as the store holds it."""
        return self._quads

    def to_json(self) -> JSON:
        return from_index(self.index, ox.NamedNode(self.iri), self.type)

    def serialize(self, media_type: str) -> bytes:
        if media_type in JSON_TYPES:
            return json.dumps(self.to_json(), ensure_ascii=False).encode()
        if media_type in JSONLD_TYPES:
            text = self.graph.serialize(format="json-ld", context=context(), auto_compact=True)
            return json.dumps({**json.loads(text), "@context": CONTEXT_URL}, indent=1).encode()
        if media_type == "application/n-quads":
            return ox.serialize(self.quads(), format=ox.RdfFormat.N_QUADS) or b""
        triples = [ox.Triple(*triple) for triple in self.triples]
        return ox.serialize(triples, format=OXIGRAPH_FORMATS[media_type]) or b""


def _structure_violation(focus: str, field: str, rule: str, text: str) -> Invalid:
    name = focus.removeprefix(v.MESSAGE)
    return Invalid([Violation(name, focus, field, field, rule, None, text)])


def _message_node(data: Index) -> tuple[ox.NamedNode, str]:
    """The one subject typed as an information object, and its type's local name."""
    found = {
        (s, o.value.removeprefix(v.HEILA))
        for s, properties in data.items()
        if isinstance(s, ox.NamedNode)
        for o in properties.get(RDF_TYPE, [])
        if o.value.removeprefix(v.HEILA) in v.INFORMATION_OBJECTS
    }
    if len(found) != 1:
        what = "no information object" if not found else "more than one information object"
        raise _structure_violation("", "type", "type", f"a message holds exactly one; found {what}")
    return next(iter(found))


def _check_scope(data: Index, node: ox.NamedNode) -> None:
    """A message speaks of itself and its parts only: nothing it says can touch other messages."""
    for subject in data:  # each once, in the order the triples name them
        if subject.value.split("#", 1)[0] != node.value:
            raise _out_of_scope(data, node, subject)


def _out_of_scope(data: Index, node: ox.NamedNode, subject: Term) -> Invalid:
    """Say which field holds the stray node, and for a blank node the IRI its part must have."""
    holder = next(
        (
            property
            for properties in data.values()
            for property, objects in properties.items()
            if subject in objects
        ),
        None,
    )
    field = "id" if holder is None else _field_name(holder)
    if isinstance(subject, ox.BlankNode) and holder is not None:
        text = (
            f"a part of a message is named by the message's IRI and its field: "
            f"write <{_part_iri(node, holder)}> for the {field}, not a blank node"
        )
    else:
        text = (
            f"a message may only describe itself and its parts (<{node.value}#...>), not {subject}"
        )
    return _structure_violation(node.value, field, "scope", text)


def _part_iri(node: ox.NamedNode, holder: ox.NamedNode) -> str:
    """The IRI of the (first) part a property holds, as docs/messages.md names parts."""
    field = _fields().get(holder.value)
    position = 0 if field is None or field.many else None
    return part_iri(node.value.removeprefix(v.MESSAGE), local_name(holder.value), position)


@cache
def _fields() -> dict[str, Field]:
    catalogue = shapes()
    every = [catalogue.envelope, *catalogue.objects.values(), *catalogue.parts.values()]
    return {field.path: field for shape in every for field in shape.fields}


def _field_name(property: ox.NamedNode) -> str:
    """The JSON key of a property, as the shapes name it."""
    known = _fields().get(property.value)
    return known.name if known else local_name(property.value)


def _actor(term: Term | None) -> str:
    return "" if term is None else term.value.removeprefix(v.ACTOR)


def _time(term: Term | None) -> datetime:
    try:
        when = literal_value(term) if isinstance(term, ox.Literal) else None
    except IllTyped:
        when = None
    return when if isinstance(when, datetime) else datetime.min


def from_triples(triples: list[Triple]) -> Message:
    """Read the envelope of the message that `triples` hold."""
    unique = tuple(dict.fromkeys(triples))
    data = index(unique)
    node, type_name = _message_node(data)
    _check_scope(data, node)
    properties = data[node]
    identifier = next((i.value for i in properties.get(SMARTAPI_ID, [])), "")
    if message_iri(identifier) != node.value:
        expected = f"the IRI of message {identifier!r} must be {v.MESSAGE}{{id}}"
        raise _structure_violation(node.value, "id", "messageIri", expected)
    references = {  # from the message itself and from its parts
        iri.removeprefix(v.MESSAGE)
        for _s, _p, o in unique
        if isinstance(o, ox.NamedNode) and (iri := o.value).startswith(v.MESSAGE) and "#" not in iri
    }
    return Message(
        iri=node.value,
        id=identifier,
        type=type_name,
        sender=_actor(next(iter(properties.get(GENERATED_BY, [])), None)),
        recipients=tuple(sorted(_actor(r) for r in properties.get(RECIPIENT, []))),
        time=_time(next(iter(properties.get(GENERATED_AT, [])), None)),
        references=tuple(sorted(references)),
        body=unique,
        body_index=data,
    )


def from_quads(stored: Iterable[ox.Quad]) -> Message:
    return from_triples(triples_of(stored))


def _in_columns(document: JSON) -> Message | None:
    """A Measurement whose readings all keep their rules, read with its readings in columns:
    the rest, with its first reading, goes the generic way. None when it cannot be."""
    items = document.get("readings")
    if document.get("type") != "Measurement" or type(items) is not list or not items:
        return None
    if check({**document, "readings": items[:1]}):
        return None
    in_columns = readings.from_json(items, message_iri(document["id"]))
    if in_columns is None:
        return None
    body = from_triples(to_triples({**document, "readings": []}))
    return replace(body, readings=in_columns)


def from_json(document: Any) -> Message:
    if not isinstance(document, dict):
        raise _structure_violation("", "type", "datatype", "a message is a JSON object")
    in_columns = _in_columns(document)
    if in_columns is not None:
        return in_columns
    violations = check(document)
    if violations:
        raise Invalid(violations)
    return from_triples(to_triples(document))


def _oxigraph_triples(data: bytes, media_type: str) -> list[Triple]:
    try:
        return triples_of(ox.parse(data, format=OXIGRAPH_FORMATS[media_type]))
    except SyntaxError as error:
        reason = re.sub(r"^Parser error at [^:]*: | at line \d+, column \d+$", "", str(error.msg))
        raise ParseError(reason, error.lineno, error.offset) from None


def parse(data: bytes, media_type: str) -> Message:
    """A message from a body in one of MEDIA_TYPES; raises ParseError or Invalid."""
    media_type = media_type.split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES:
        return from_json(jsonld.load_json(data))
    if media_type in JSONLD_TYPES:
        return from_triples(jsonld.triples(data))
    if media_type in OXIGRAPH_FORMATS:
        return from_triples(_oxigraph_triples(data, media_type))
    raise ParseError(f"unsupported media type {media_type!r}; use one of {', '.join(MEDIA_TYPES)}")


def _none_known(_iris: Iterable[str]) -> Mapping[str, str]:
    return {}


def _no_facts(_points: Iterable[str]) -> Sequence[Triple]:
    return ()


def points_named(message: Message) -> set[str]:
    """The IRIs of the points its readings name."""
    if message.readings is not None:
        return {v.POINT + point for point in message.readings.points}
    point = ox.NamedNode(v.HEILA + "point")
    return {o.value for _s, p, o in message.body if p == point and isinstance(o, ox.NamedNode)}


def accept(
    data: bytes,
    media_type: str,
    types_of: Callable[[Iterable[str]], Mapping[str, str]] = _none_known,
    facts_of: Callable[[Iterable[str]], Sequence[Triple]] = _no_facts,
) -> Message:
    """Parse and validate: the message, or ParseError / Invalid with every broken rule.
    `types_of` answers the types of the messages it refers to (by IRI) that it knows, and
    `facts_of` what published point maps state of the points (by IRI) its readings name."""
    message = parse(data, media_type)
    known = types_of(v.MESSAGE + r for r in message.references)
    violations = validate(message, known, facts_of(points_named(message)))
    if violations:
        raise Invalid(violations)
    return message
