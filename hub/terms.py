"""Terms between rdflib (which pyshacl and the JSON-LD processor need) and Oxigraph (which
stores and queries), converted in one place."""

from collections.abc import Iterable
from typing import Any

import pyoxigraph as ox
from rdflib import XSD, BNode, Literal, URIRef
from rdflib.term import Node

OxTerm = ox.NamedNode | ox.BlankNode | ox.Literal


def to_ox(term: Node) -> OxTerm:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    assert isinstance(term, Literal)
    if term.language:
        return ox.Literal(str(term), language=term.language)
    return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype or XSD.string)))


def to_rdflib(term: Any) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype.value == str(XSD.string):
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(term.datatype.value))


def quads(
    triples: Iterable[tuple[Node, Node, Node]], name: ox.NamedNode | ox.DefaultGraph
) -> list[ox.Quad]:
    return [ox.Quad(to_ox(s), to_ox(p), to_ox(o), name) for s, p, o in triples]  # type: ignore[arg-type]


Triple = tuple[Node, Node, Node]
Index = dict[Node, dict[Node, list[Node]]]


def index(triples: Iterable[Triple]) -> Index:
    """Subject -> predicate -> objects: the one lookup structure the message path needs."""
    found: Index = {}
    for s, p, o in triples:
        found.setdefault(s, {}).setdefault(p, []).append(o)
    return found


def triples_of(items: Any) -> list[Triple]:
    """rdflib triples of Oxigraph triples or quads (graph names dropped)."""
    return [(to_rdflib(i.subject), to_rdflib(i.predicate), to_rdflib(i.object)) for i in items]
