"""Validation of messages against the SHACL shapes, before anything is stored.

Every write path calls `validate` (or `validate_graphs` for a SPARQL Update or a load), which
runs the shapes compiled by hub.model.shacl. A message is checked on its own triples plus the types
of the messages it refers to, which is all a reference rule (sh:class) needs to see, and the
facts published point maps state of the points its readings name, which a rule on a reading's
point needs.
`reference_violations` asks pyshacl the same question; the tests hold the two to one verdict.
Either way a violation names the field by its JSON path and its label.
"""

import threading
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING

import pyoxigraph as ox
from pyshacl import Validator
from pyshacl.graph_abstraction import DataGraph
from pyshacl.shapes_graph import ShapesGraph
from rdflib import RDF, RDFS, Graph, Node, URIRef
from rdflib.namespace import SH

from hub.model import readings, shacl
from hub.model import vocabulary as v
from hub.model.errors import Violation
from hub.model.ontology import label
from hub.model.shapes import local_name, shapes
from hub.model.terms import RDF_TYPE, Triple, index, quads, to_rdflib_graph

if TYPE_CHECKING:
    from hub.model.message import Message

_lock = threading.Lock()  # a harvested ShapesGraph is not safe to share between threads


@cache
def _shapes_graph() -> ShapesGraph:
    graph = ShapesGraph(shapes().graph)
    graph.shapes  # noqa: B018 - harvest once, now, not on the first message
    return graph


def _run(data: Graph, focus: str, type_name: str) -> Graph:
    """Check one message node against the envelope and its own type's shape only: naming the
    shapes and the focus spares pyshacl a search for targets among all shapes."""
    catalogue = shapes()
    options = {
        "inplace": True,
        "focus_nodes": [focus],
        "use_shapes": [catalogue.envelope.iri, catalogue.objects[type_name].iri],
    }
    validator = Validator(DataGraph.from_rdflib(data), shacl_graph=Graph(), options=options)
    validator.shacl_graph = _shapes_graph()
    with _lock:
        _conforms, report, _text = validator.run()  # type: ignore[no-untyped-call]
    return report  # type: ignore[no-any-return]


def _rule(report: Graph, result: Node) -> str:
    component = str(report.value(result, SH.sourceConstraintComponent) or "")
    if component == str(SH.SPARQLConstraintComponent):
        constraint = report.value(result, SH.sourceConstraint)
        named = shapes().graph.value(constraint, RDFS.label) if constraint is not None else None
        return str(named) if named is not None else "sparql"
    name = local_name(component).removesuffix("ConstraintComponent")
    return name[:1].lower() + name[1:]


def _json_path(graph: Graph, node: Node, path: Node | None) -> str:
    """The JSON path of `path` on `node`: `power`, `price.amount`, `slots[2].index`."""
    tail = shapes().name_of(str(path)) if path is not None else ""
    link = next(iter(graph.subject_predicates(node)), None) if "#" in str(node) else None
    if link is None:
        return tail
    parent, predicate = link
    number = str(node).rsplit("-", 1)[-1]
    head = _json_path(graph, parent, predicate) + (f"[{number}]" if number.isdigit() else "")
    return f"{head}.{tail}" if tail else head


def _violations(data: Graph, report: Graph) -> list[Violation]:
    found = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus = report.value(result, SH.focusNode)
        path = report.value(result, SH.resultPath)
        value = report.value(result, SH.value)
        field = _json_path(data, focus, path) if focus is not None else ""
        found.append(
            Violation(
                message=str(focus).split("#", 1)[0].removeprefix(v.MESSAGE),
                focus=str(focus),
                field=field,
                label=label(str(path)) if path is not None else field,
                rule=_rule(report, result),
                value=None if value is None else str(value),
                text=str(report.value(result, SH.resultMessage) or ""),
            )
        )
    return sorted(_without_echoes(found), key=lambda x: (x.message, x.field, x.rule))


def _without_echoes(found: list[Violation]) -> list[Violation]:
    """A part that breaks a rule also fails the parent's sh:node: report the cause only."""
    causes = {x.focus for x in found}
    return [x for x in found if not (x.rule == "node" and x.value in causes)]


def _with_references(graph: Graph, known_types: Mapping[str, str]) -> Graph:
    """The graph plus `rdf:type` of every referenced message whose type is known."""
    data = Graph()
    data += graph
    for _s, _p, target in graph:
        type_name = known_types.get(str(target)) if isinstance(target, URIRef) else None
        if type_name is not None:
            data.add((target, RDF.type, URIRef(v.HEILA + type_name)))
    return data


def _types_in(triples: list[Triple]) -> dict[str, str]:
    return {
        s.value: o.value.removeprefix(v.HEILA)
        for s, p, o in triples
        if p == RDF_TYPE and o.value.removeprefix(v.HEILA) in v.INFORMATION_OBJECTS
    }


def validate_graphs(
    graphs: Mapping[str, Sequence[Triple]],
    known_types: Mapping[str, str] | None = None,
    facts: Sequence[Triple] = (),
) -> list[Violation]:
    """Violations of several message graphs (message IRI -> graph), checked together so that
    they may refer to each other; `facts` as for `validate`."""
    triples = [triple for graph in graphs.values() for triple in graph]
    stated = set(triples)
    triples += [fact for fact in facts if fact not in stated]
    data, data_quads = index(triples), quads(triples, ox.DefaultGraph())
    types = _types_in(triples)
    known = {**(known_types or {}), **types}
    found = []
    for iri in graphs:
        if iri not in types:
            found.append(_untyped(iri))
            continue
        found += shacl.check(data, data_quads, iri, types[iri], known)
    return found


def _untyped(iri: str) -> Violation:
    text = "a message graph must hold its information object, typed as one of the twelve"
    return Violation(iri.removeprefix(v.MESSAGE), iri, "type", "type", "type", None, text)


def validate(
    message: "Message",
    known_types: Mapping[str, str] | None = None,
    facts: Sequence[Triple] = (),
) -> list[Violation]:
    """Violations of one message; `known_types` maps referenced message IRIs to their types, and
    `facts` are what published point maps state of the points its readings name, which a rule
    on a reading's point (a power factor's range) needs. A Measurement's readings are checked in
    columns, in one pass (hub.model.readings); when they keep their rules, the message is checked
    with its first reading and the readings of points with facts."""
    known = known_types or {}
    if message.readings is not None:
        return _in_columns(message, known, facts)
    node = ox.NamedNode(message.iri)
    nodes = message.index.get(node, {}).get(readings.READING, [])
    described = {s for s, _p, _o in facts}
    pointed = {o for r in nodes for o in message.index.get(r, {}).get(readings.POINT, [])}
    if (
        nodes
        and not pointed & described
        and readings.conforms(readings.columns_of(message.index, nodes), len(nodes))
    ):
        others = set(nodes[1:])
        link = readings.READING
        kept = [
            t
            for t in message.triples
            if t[0] not in others and not (t[1] == link and t[2] in others)
        ]
        return _with_first_reading(message, kept, known)
    return _generic(message, known, facts)


def _generic(
    message: "Message", known: Mapping[str, str], facts: Sequence[Triple]
) -> list[Violation]:
    data = [*message.triples, *facts]
    return shacl.check(
        index(data), quads(data, ox.NamedNode(message.iri)), message.iri, message.type, known
    )


def _in_columns(
    message: "Message", known: Mapping[str, str], facts: Sequence[Triple]
) -> list[Violation]:
    """A Measurement read in columns: its readings kept their rules of one value; the rules on
    their points are checked on the readings of points with facts. A message that breaks a rule
    is checked again the generic way, so its report is the generic one."""
    assert message.readings is not None
    described = {s.value.removeprefix(v.POINT) for s, _p, _o in facts}
    named = [point for point in message.readings.points if point in described]
    triples = [*message.body, *message.readings.first]
    if named:
        triples = list(dict.fromkeys([*triples, *message.readings.of_points(named), *facts]))
    found = _with_first_reading(message, triples, known)
    return _generic(message, known, facts) if found and named else found


def _with_first_reading(
    message: "Message", triples: list[Triple], known: Mapping[str, str]
) -> list[Violation]:
    """A Measurement whose readings kept their rules in columns (hub.model.readings), checked with
    its first reading (and those a rule on their points needs): the rest of its shapes do not
    look at its readings."""
    data_quads = quads(triples, ox.NamedNode(message.iri))
    return shacl.check(index(triples), data_quads, message.iri, message.type, known)


def reference_violations(
    message: "Message",
    known_types: Mapping[str, str] | None = None,
    facts: Sequence[Triple] = (),
) -> list[Violation]:
    """The same verdict from pyshacl, the reference the compiled validator is held to."""
    data = _with_references(message.graph, known_types or {})
    to_rdflib_graph(facts, into=data)
    return _violations(data, _run(data, message.iri, message.type))
