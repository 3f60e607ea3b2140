"""The SHACL shapes read as field lists: what the JSON form, the JSON Schemas and the JSON-LD
context of every information object are derived from, so that none of them is written twice.
"""

import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from rdflib import RDF, Graph, Node, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from hub.model import vocabulary as v
from hub.model.resources import shapes_dir

Kind = Literal["literal", "enum", "ref", "part"]

ENVELOPE = "https://w3id.org/heila/shapes#EnvelopeShape"
_REFERENCE_BASES = (v.MESSAGE, v.ACTOR, v.GRID, v.DEVICE, v.POINT)


@dataclass(frozen=True)
class Field:
    """One property shape: a JSON key bound to an RDF property and its rules."""

    name: str
    path: str
    kind: Kind
    min_count: int
    max_count: int | None
    description: str
    datatype: str | None = None
    choices: tuple[str, ...] = ()
    base: str | None = None
    node: str | None = None
    refers_to: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def many(self) -> bool:
        return self.max_count != 1

    @property
    def required(self) -> bool:
        return self.min_count > 0


@dataclass(frozen=True)
class NodeShape:
    iri: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Shapes:
    """All shapes: the envelope, one node shape per information object, the parts they reach."""

    graph: Graph
    envelope: NodeShape
    objects: dict[str, NodeShape]
    parts: dict[str, NodeShape]

    def fields_of(self, type_name: str) -> tuple[Field, ...]:
        return self.envelope.fields + self.objects[type_name].fields

    def name_of(self, path: str) -> str:
        """The JSON key of a property wherever it is used (every shape names it alike)."""
        return self._names.get(path, local_name(path))

    @cached_property
    def every_field(self) -> tuple[Field, ...]:
        every = [self.envelope, *self.objects.values(), *self.parts.values()]
        return tuple(f for shape in every for f in shape.fields)

    @cached_property
    def _names(self) -> dict[str, str]:
        return {f.path: f.name for f in self.every_field}


def enum_key(iri: str) -> str:
    """The JSON word for an enumeration member: units keep QUDT's spelling, ours start lower."""
    local = local_name(iri)
    return local if iri.startswith(v.UNIT) else local[:1].lower() + local[1:]


def local_name(iri: str) -> str:
    return re.split(r"[#/]", iri)[-1]


def _one(graph: Graph, subject: Node, predicate: URIRef) -> Node | None:
    return next(iter(graph.objects(subject, predicate)), None)


def _text(graph: Graph, subject: Node, predicate: URIRef) -> str | None:
    value = _one(graph, subject, predicate)
    return None if value is None else str(value)


def _number(graph: Graph, subject: Node, predicate: URIRef) -> float | None:
    value = _text(graph, subject, predicate)
    return None if value is None else float(value)


def _reference_base(pattern: str | None) -> str | None:
    if pattern is None:
        return None
    return next((b for b in _REFERENCE_BASES if re.match(pattern, b + "x")), None)


def _kind(graph: Graph, shape: Node) -> Kind:
    if _one(graph, shape, SH["in"]) is not None:
        return "enum"
    if _one(graph, shape, SH.node) is not None:
        return "part"
    if _one(graph, shape, SH.datatype) is not None:
        return "literal"
    return "ref"


def _field(graph: Graph, shape: Node) -> Field:
    path = _one(graph, shape, SH.path)
    name = _text(graph, shape, SH.name)
    if not isinstance(path, URIRef) or name is None:
        raise ValueError(f"property shape {shape} needs a single IRI sh:path and an sh:name")
    kind = _kind(graph, shape)
    pattern = _text(graph, shape, SH.pattern)
    base = _reference_base(pattern) if kind == "ref" else None
    if kind == "ref" and base is None:
        raise ValueError(f"field {name}: no datatype, sh:in, sh:node or known IRI pattern")
    members = _one(graph, shape, SH["in"])
    max_count = _number(graph, shape, SH.maxCount)
    return Field(
        name=name,
        path=str(path),
        kind=kind,
        min_count=int(_number(graph, shape, SH.minCount) or 0),
        max_count=None if max_count is None else int(max_count),
        description=_text(graph, shape, SH.description) or "",
        datatype=_text(graph, shape, SH.datatype),
        choices=() if members is None else tuple(str(m) for m in Collection(graph, members)),
        base=base,
        node=_text(graph, shape, SH.node),
        refers_to=_text(graph, shape, SH["class"]),
        pattern=pattern,
        minimum=_number(graph, shape, SH.minInclusive),
        maximum=_number(graph, shape, SH.maxInclusive),
    )


def _node_shape(graph: Graph, shape: Node) -> NodeShape:
    fields = tuple(_field(graph, p) for p in graph.objects(shape, SH.property))
    return NodeShape(str(shape), tuple(sorted(fields, key=lambda f: f.name)))


def read_shapes(files: list[Path]) -> Shapes:
    graph = Graph()
    for file in files:
        graph.parse(file, format="turtle")
    envelope = URIRef(ENVELOPE)
    if (envelope, RDF.type, SH.NodeShape) not in graph:
        raise ValueError(f"no envelope shape {ENVELOPE}")
    objects: dict[str, NodeShape] = {}
    for shape, target in graph.subject_objects(SH.targetClass):
        name = str(target).removeprefix(v.HEILA)
        if shape != envelope and name in v.INFORMATION_OBJECTS:
            objects[name] = _node_shape(graph, shape)
    parts: dict[str, NodeShape] = {}
    pending = [f.node for s in objects.values() for f in s.fields if f.node]
    while pending:
        iri = pending.pop()
        if iri not in parts:
            parts[iri] = _node_shape(graph, URIRef(iri))
            pending += [f.node for f in parts[iri].fields if f.node]
    return Shapes(graph, _node_shape(graph, envelope), objects, parts)


@cache
def shapes() -> Shapes:
    """The shapes shipped with the hub, read once."""
    return read_shapes(sorted(shapes_dir().glob("*.ttl")))
