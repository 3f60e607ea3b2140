"""A compiled SHACL validator for the constraints our shapes use.

pyshacl re-reads the shapes graph for every focus node, which costs milliseconds a message;
the hub's write path needs tens of microseconds. So the shapes are compiled once into plain
checks over an index of the message's triples, and the SPARQL-based constraints run once per
message in an in-memory Oxigraph store. Compiling refuses any SHACL feature it does not
implement, so it can never check less than the shapes say; the test suite holds it to pyshacl's
verdicts on every example.
"""

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache, partial
from typing import Any

import pyoxigraph as ox
from rdflib import RDF, RDFS, Graph, Literal, Node, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from hub.model import vocabulary as v
from hub.model.errors import Violation
from hub.model.ontology import label
from hub.model.shapes import ENVELOPE, local_name, shapes
from hub.model.terms import (
    RDF_TYPE,
    IllTyped,
    Index,
    Term,
    is_sealed,
    is_well_typed,
    literal_value,
    to_ox,
)

_BOUNDS: dict[URIRef, tuple[str, Callable[[Any, Any], bool], str]] = {
    SH.minInclusive: ("minInclusive", operator.ge, "at least"),
    SH.maxInclusive: ("maxInclusive", operator.le, "at most"),
    SH.minExclusive: ("minExclusive", operator.gt, "more than"),
    SH.maxExclusive: ("maxExclusive", operator.lt, "less than"),
}
_ANNOTATIONS = {RDF.type, RDFS.label, RDFS.comment, SH.name, SH.description, SH.order, SH.group}
_PROPERTY_PARAMETERS = _ANNOTATIONS | set(_BOUNDS) | {
    SH.path, SH.minCount, SH.maxCount, SH.datatype, SH["in"], SH.nodeKind, SH.pattern,
    SH["class"], SH.node, SH.lessThan, SH.sparql, SH.message,
}  # fmt: skip
_NODE_PARAMETERS = _ANNOTATIONS | {SH.property, SH.targetClass}
_NUMBER = re.compile(r"-(\d+)$")  # of a part among several


class UnsupportedShape(ValueError):
    """A shape uses a SHACL feature this validator does not implement."""


@dataclass(frozen=True, eq=False)  # compiled once: identity is equality, and hashes fast
class SparqlCheck:
    path: ox.NamedNode
    rule: str
    text: str
    query: str


@dataclass(frozen=True)
class PropertyCheck:
    path: ox.NamedNode
    name: str
    text: str | None
    min_count: int = 0
    max_count: int | None = None
    datatype: ox.NamedNode | None = None
    choices: frozenset[Term] | None = None
    iri_only: bool = False
    pattern: re.Pattern[str] | None = None
    refers_to: str | None = None
    node: str | None = None
    bounds: tuple[tuple[str, Callable[[Any, Any], bool], str, Any], ...] = ()
    less_than: ox.NamedNode | None = None
    sparql: tuple[SparqlCheck, ...] = ()

    @cached_property
    def value_rules(self) -> tuple["_ValueRule", ...]:
        """The rules each value must keep, in the order they are reported, each with its words:
        worked out once, since they are asked of every value of every message."""
        return _value_rules(self)


@dataclass
class _Run:
    """One validation: the data, what is known of other messages, and what was found."""

    index: Index
    types: Mapping[str, str]
    found: list[Violation] = field(default_factory=list)
    sparql_focus: dict[SparqlCheck, dict[Term, str]] = field(default_factory=dict)


def _one(graph: Graph, subject: Node, predicate: URIRef) -> Node | None:
    return next(iter(graph.objects(subject, predicate)), None)


def _refuse_unknown(graph: Graph, shape: Node, allowed: set[URIRef]) -> None:
    unknown = {p for p in graph.predicates(shape) if p not in allowed}
    if unknown:
        names = ", ".join(sorted(str(u) for u in unknown))
        raise UnsupportedShape(f"shape {shape} uses {names}, which the compiled validator lacks")


def _prefixes(graph: Graph, constraint: Node) -> str:
    lines = []
    for holder in graph.objects(constraint, SH.prefixes):
        for declaration in graph.objects(holder, SH.declare):
            prefix = _one(graph, declaration, SH.prefix)
            namespace = _one(graph, declaration, SH.namespace)
            lines.append(f"PREFIX {prefix}: <{namespace}>")
    return "\n".join(lines)


def _sparql(graph: Graph, constraint: Node, path: URIRef) -> SparqlCheck:
    select = _one(graph, constraint, SH.select)
    if select is None:
        raise UnsupportedShape(f"SPARQL constraint {constraint} has no sh:select")
    query = str(select).replace("$PATH", f"<{path}>").replace("$this", "?this")
    return SparqlCheck(
        path=ox.NamedNode(str(path)),
        rule=str(_one(graph, constraint, RDFS.label) or "sparql"),
        text=str(_one(graph, constraint, SH.message) or f"breaks {constraint}"),
        query=f"{_prefixes(graph, constraint)}\n{query}",
    )


def _iri(graph: Graph, shape: Node, predicate: URIRef) -> URIRef | None:
    value = _one(graph, shape, predicate)
    return value if isinstance(value, URIRef) else None


def _named(graph: Graph, shape: Node, predicate: URIRef) -> ox.NamedNode | None:
    value = _iri(graph, shape, predicate)
    return None if value is None else ox.NamedNode(str(value))


def _text_of(graph: Graph, shape: Node, predicate: URIRef) -> str | None:
    value = _iri(graph, shape, predicate)
    return None if value is None else str(value)


def _python_value(graph: Graph, shape: Node, predicate: URIRef) -> Any:
    value = _one(graph, shape, predicate)
    return value.toPython() if isinstance(value, Literal) else None


def _property(graph: Graph, shape: Node) -> PropertyCheck:
    _refuse_unknown(graph, shape, _PROPERTY_PARAMETERS)
    path = _iri(graph, shape, SH.path)
    if path is None:
        raise UnsupportedShape(f"property shape {shape} needs a single IRI as sh:path")
    members = _one(graph, shape, SH["in"])
    pattern = _one(graph, shape, SH.pattern)
    max_count = _python_value(graph, shape, SH.maxCount)
    bounds = tuple(
        (*_BOUNDS[p], limit)
        for p in _BOUNDS
        if (limit := _python_value(graph, shape, p)) is not None
    )
    text = _one(graph, shape, SH.message)
    return PropertyCheck(
        path=ox.NamedNode(str(path)),
        name=str(_one(graph, shape, SH.name) or local_name(str(path))),
        text=None if text is None else str(text),
        min_count=int(_python_value(graph, shape, SH.minCount) or 0),
        max_count=None if max_count is None else int(max_count),
        datatype=_named(graph, shape, SH.datatype),
        choices=None if members is None else frozenset(map(to_ox, Collection(graph, members))),
        iri_only=_one(graph, shape, SH.nodeKind) == SH.IRI,
        pattern=None if pattern is None else re.compile(str(pattern)),
        refers_to=_text_of(graph, shape, SH["class"]),
        node=_text_of(graph, shape, SH.node),
        bounds=bounds,
        less_than=_named(graph, shape, SH.lessThan),
        sparql=tuple(_sparql(graph, c, path) for c in graph.objects(shape, SH.sparql)),
    )


@cache
def compiled() -> dict[str, tuple[PropertyCheck, ...]]:
    """Every node shape of the messages, compiled: shape IRI -> its property checks."""
    catalogue = shapes()
    graph = catalogue.graph
    iris = [ENVELOPE, *(s.iri for s in catalogue.objects.values()), *catalogue.parts]
    result = {}
    for iri in iris:
        _refuse_unknown(graph, URIRef(iri), _NODE_PARAMETERS)
        properties = graph.objects(URIRef(iri), SH.property)
        result[iri] = tuple(_property(graph, p) for p in properties)
    return result


def _report(
    run: _Run,
    focus: Term,
    field: str,
    check: PropertyCheck,
    rule: str,
    value: Term | None,
    words: str,
) -> None:
    text = check.text or f"{label(check.path.value)} {words}"
    run.found.append(_violation(focus, field, check.path, rule, value, text))


_ValueRule = tuple[str, Callable[[_Run, Term], bool], str]  # rule, test, words


def _value_rules(check: PropertyCheck) -> tuple[_ValueRule, ...]:
    rules: list[_ValueRule] = []
    if check.datatype is not None:
        words = f"must be an {local_name(check.datatype.value)}"
        rules.append(("datatype", partial(_is_typed, check.datatype), words))
    if check.choices is not None:
        words = ", ".join(sorted(local_name(c.value) for c in check.choices))
        rules.append(("in", partial(_is_member, check.choices), f"must be one of {words}"))
    if check.iri_only:
        rules.append(("nodeKind", _is_iri, "must be an IRI"))
    if check.pattern is not None:
        words = f"must match {check.pattern.pattern}"
        rules.append(("pattern", partial(_matches, check.pattern), words))
    if check.refers_to is not None:
        words = f"must refer to a known {local_name(check.refers_to)}"
        rules.append(("class", partial(_has_type, check.refers_to), words))
    for rule, holds, words, limit in check.bounds:
        rules.append((rule, partial(_is_within, holds, limit), f"must be {words} {limit}"))
    return tuple(rules)


def _is_typed(datatype: ox.NamedNode, _run: _Run, value: Term) -> bool:
    return (
        isinstance(value, ox.Literal)
        and value.datatype == datatype
        and is_well_typed(datatype.value, value.value)
    )


def _is_member(choices: frozenset[Term], _run: _Run, value: Term) -> bool:
    return value in choices


def _is_iri(_run: _Run, value: Term) -> bool:
    return isinstance(value, ox.NamedNode)


def _matches(pattern: re.Pattern[str], _run: _Run, value: Term) -> bool:
    return _found(pattern, value.value)


@lru_cache(maxsize=4096)
def _found(pattern: re.Pattern[str], text: str) -> bool:
    """Cached, since the same texts recur: shared timestamps, the points of a substation."""
    return pattern.search(text) is not None


def _has_type(cls: str, run: _Run, value: Term) -> bool:
    declared = any(t.value == cls for t in run.index.get(value, {}).get(RDF_TYPE, []))
    return declared or run.types.get(value.value) == cls.removeprefix(v.HEILA)


def _is_within(holds: Callable[[Any, Any], bool], limit: Any, _run: _Run, value: Term) -> bool:
    return _compares(value, holds, limit)


def _compares(value: Term, holds: Callable[[Any, Any], bool], limit: Any) -> bool:
    try:
        return isinstance(value, ox.Literal) and bool(holds(literal_value(value), limit))
    except (TypeError, IllTyped):
        return False


_ALONE = _Run({}, {})
"""A run with no other nodes and no known messages: value rules read nothing of it."""


def keeps_value_rules(check: PropertyCheck, value: Term) -> bool:
    """Whether one value keeps every rule of `check` that looks at the value alone (a rule
    that needs other nodes, sh:class, holds only for a value typed in the message itself)."""
    return all(holds(_ALONE, value) for _rule, holds, _words in check.value_rules)


def _violation(
    focus: Term, field: str, path: ox.NamedNode, rule: str, value: Term | None, text: str
) -> Violation:
    return Violation(
        message=focus.value.split("#", 1)[0].removeprefix(v.MESSAGE),
        focus=focus.value,
        field=field,
        label=label(path.value),
        rule=rule,
        value=None if value is None else value.value,
        text=text,
    )


def _check_property(
    run: _Run,
    focus: Term,
    properties: dict[ox.NamedNode, list[Term]],
    check: PropertyCheck,
    prefix: str,
) -> None:
    field = f"{prefix}{check.name}"
    values = properties.get(check.path, [])
    if len(values) < check.min_count:
        words = "is required" if check.min_count == 1 else f"needs {check.min_count} values"
        _report(run, focus, field, check, "minCount", None, words)
    if check.max_count is not None and len(values) > check.max_count:
        _report(run, focus, field, check, "maxCount", None, f"takes {check.max_count} at most")
    for value in values:
        for rule, holds, words in check.value_rules:  # the first rule it breaks is reported
            if not holds(run, value):
                _report(run, focus, field, check, rule, value, words)
                break
        else:
            if check.node is not None and not is_sealed(run.index.get(value, {})):
                number = _NUMBER.search(value.value)
                part = f"{field}[{number.group(1)}]." if number else f"{field}."
                _check_node(run, value, check.node, part)
        if check.less_than is not None:
            _check_less_than(run, focus, field, check, value, check.less_than)
    for sparql in check.sparql:
        run.sparql_focus.setdefault(sparql, {})[focus] = field


def _check_less_than(
    run: _Run, focus: Term, field: str, check: PropertyCheck, value: Term, other: ox.NamedNode
) -> None:
    for bound in run.index.get(focus, {}).get(other, []):
        limit = _value_or_none(bound)
        if limit is None or not _compares(value, operator.lt, limit):
            words = f"must be before the {label(other.value)}"
            _report(run, focus, field, check, "lessThan", value, words)


def _value_or_none(term: Term) -> Any:
    try:
        return literal_value(term) if isinstance(term, ox.Literal) else None
    except IllTyped:
        return None


def _check_node(run: _Run, focus: Term, shape: str, prefix: str) -> None:
    properties = run.index.get(focus, {})
    for check in compiled()[shape]:
        _check_property(run, focus, properties, check, prefix)


def _run_sparql(run: _Run, data: Sequence[ox.Quad]) -> None:
    if not run.sparql_focus:
        return
    store = ox.Store()
    store.extend(data)
    for sparql, focus_fields in run.sparql_focus.items():
        solutions = store.query(sparql.query, use_default_graph_as_union=True)
        assert isinstance(solutions, ox.QuerySolutions)
        has_value = ox.Variable("value") in solutions.variables
        for row in solutions:
            focus = row["this"]
            if focus not in focus_fields:
                continue
            value = _as_written(run, focus, sparql.path, row["value"]) if has_value else None
            field = focus_fields[focus]
            run.found.append(_violation(focus, field, sparql.path, sparql.rule, value, sparql.text))


def _as_written(run: _Run, focus: Term, path: ox.NamedNode, value: Term | None) -> Term | None:
    """The value as the message wrote it: Oxigraph's store answers literals in canonical form
    ("2" for a double written "2.0"), and a problem report should quote the client."""
    if not isinstance(value, ox.Literal):
        return value
    written = [
        o
        for o in run.index.get(focus, {}).get(path, [])
        if isinstance(o, ox.Literal) and o.datatype == value.datatype
    ]
    return value if value in written or len(written) != 1 else written[0]


def check(
    data: Index,
    data_quads: Sequence[ox.Quad],
    focus: str,
    type_name: str,
    known_types: Mapping[str, str],
) -> list[Violation]:
    """Violations of the message `focus` against the envelope and its type's shape. `data`
    indexes the triples of `data_quads` (both are asked for, since a message holds both
    already); `known_types` gives the types of the messages it may refer to."""
    run = _Run(data, known_types)
    node = ox.NamedNode(focus)
    _check_node(run, node, ENVELOPE, "")
    _check_node(run, node, shapes().objects[type_name].iri, "")
    _run_sparql(run, data_quads)
    return sorted(run.found, key=lambda x: (x.message, x.field, x.rule))
