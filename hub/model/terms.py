"""RDF terms as the hub holds them: Oxigraph's, which are built and compared in native code.

rdflib is 10 to 100 times slower to build, hash and compare terms, so it stays off the write
path; the conversions here serve those who need it (the JSON-LD processor, pyshacl).
Literal values are read here too, with the lexical check of their XML Schema datatype, since
Oxigraph keeps a literal's text as it came.
"""

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from hub.model import vocabulary as v

Subject = ox.NamedNode | ox.BlankNode
Term = ox.NamedNode | ox.BlankNode | ox.Literal
Triple = tuple[Subject, ox.NamedNode, Term]
Index = dict[Term, dict[ox.NamedNode, list[Term]]]

RDF_TYPE = ox.NamedNode(v.RDF + "type")
SEALED = ox.NamedNode(v.HEILA + "sealed")
"""the one property of a part sealed for the message's recipients (hub.model.confidential)"""
JWE = ox.NamedNode(v.HEILA + "JWE")
"""the datatype of a sealed part: a JWE in its general JSON serialization"""


def is_sealed(properties: dict[ox.NamedNode, list[Term]]) -> bool:
    """Whether a node's properties are those of a sealed part, which no shape sees into."""
    return any(
        isinstance(value, ox.Literal) and value.datatype == JWE
        for value in properties.get(SEALED, [])
    )


XSD_STRING = ox.NamedNode(v.XSD + "string")


class IllTyped(ValueError):
    """A literal whose text is not in the lexical space of its datatype."""


_DATETIME = re.compile(
    r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOUBLE = re.compile(r"[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|INF)|NaN")
_DURATION = re.compile(
    r"-?P(?=.)([0-9]+Y)?([0-9]+M)?([0-9]+D)?(T(?=[0-9.])([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?"
)


def _checked(pattern: re.Pattern[str], read: Callable[[str], Any]) -> Callable[[str], Any]:
    def value(text: str) -> Any:
        if not pattern.fullmatch(text):
            raise IllTyped(text)
        try:
            return read(text)
        except (ValueError, InvalidOperation):
            raise IllTyped(text) from None

    return value


def _boolean(text: str) -> bool:
    if text not in ("true", "false", "1", "0"):
        raise IllTyped(text)
    return text in ("true", "1")


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _double(text: str) -> float:
    return float(text.replace("INF", "inf"))


_READERS: dict[str, Callable[[str], Any]] = {
    v.XSD + "decimal": _checked(_DECIMAL, Decimal),
    v.XSD + "integer": _checked(_INTEGER, int),
    v.XSD + "double": _checked(_DOUBLE, _double),
    v.XSD + "boolean": _boolean,
    v.XSD + "dateTime": _checked(_DATETIME, _datetime),
    v.XSD + "duration": _checked(_DURATION, str),
}


def literal_value(literal: ox.Literal) -> Any:
    """The literal's value in Python; IllTyped when its text does not fit its datatype."""
    read = _READERS.get(literal.datatype.value)
    return literal.value if read is None else read(literal.value)


@lru_cache(maxsize=4096)
def is_well_typed(datatype: str, text: str) -> bool:
    """Whether `text` is in the lexical space of `datatype`, as a literal of it reads. Cached,
    since the same texts recur: a message's readings mostly share their timestamps."""
    read = _READERS.get(datatype)
    if read is None:
        return True
    try:
        read(text)
    except IllTyped:
        return False
    return True


def text(term: Term) -> str:
    """The IRI of a node, the text of a literal."""
    return term.value


def index(triples: Iterable[Triple]) -> Index:
    """Subject -> predicate -> objects: the one lookup structure the message path needs."""
    found: Index = {}
    for s, p, o in triples:  # get, not setdefault: no empty dict and list made per triple
        properties = found.get(s)
        if properties is None:
            found[s] = {p: [o]}
        elif (objects := properties.get(p)) is None:
            properties[p] = [o]
        else:
            objects.append(o)
    return found


def indexed(base: Index, triples: Iterable[Triple]) -> Index:
    """`base` with a few more triples, `base` left as it is: only the subjects they name are
    copied, so that adding to a message's index costs what is added, not the message."""
    found = dict(base)
    for s, p, o in triples:
        properties = found[s] = dict(found.get(s, {}))
        properties[p] = [*properties.get(p, ()), o]
    return found


def quads(triples: Iterable[Triple], name: ox.NamedNode | ox.DefaultGraph) -> list[ox.Quad]:
    return [ox.Quad(s, p, o, name) for s, p, o in triples]


def triples_of(items: Iterable[ox.Triple | ox.Quad]) -> list[Triple]:
    """Triples of Oxigraph triples or quads, their graph names dropped."""
    return [(i.subject, i.predicate, i.object) for i in items]  # type: ignore[misc]


# The boundary with rdflib


def to_ox(term: Node) -> Term:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    assert isinstance(term, Literal)
    if term.language:
        return ox.Literal(str(term), language=term.language)
    return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype or XSD_STRING.value)))


def to_rdflib(term: Term) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype == XSD_STRING:
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(term.datatype.value))


def to_rdflib_graph(triples: Iterable[Triple], into: Graph | None = None) -> Graph:
    """The triples added to `into`, or to a new rdflib graph."""
    graph = Graph() if into is None else into
    for s, p, o in triples:
        graph.add((to_rdflib(s), to_rdflib(p), to_rdflib(o)))
    return graph


def from_rdflib(triples: Iterable[tuple[Node, Node, Node]]) -> list[Triple]:
    return [(to_ox(s), to_ox(p), to_ox(o)) for s, p, o in triples]  # type: ignore[misc]
