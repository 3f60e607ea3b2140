"""Point maps published into the hub: what a reading's point measures, queryable beside it.

A reading names its point, its value and its device time only; the point's quantity, unit,
device, location and station are the point map's (ontology/field.ttl). `heila pointmap publish
FILE...` (hub.web.pointmap_admin) checks a point map against shapes/pointmap.ttl and keeps it in a
graph of its own,
<https://w3id.org/heila/hub/pointmap/{name}>, in place of what was published under that name
before. The default graph is the union of all graphs, so a query joins a reading to its
point's unit without naming the graph. SPARQL Update cannot touch a point map; a dump carries
it, and a load checks it again.

One map describes each point. The map `migrated` is the exception that proves it: `heila
migrate` puts there the points of readings stored before point maps, to be taken over by the
field's own map. A map that describes one of its points with the same quantity, unit, device
and location takes the point out of `migrated` in the same transaction; one that says
otherwise of it is refused, naming what differs.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import pyshacl
from pyshacl.graph_abstraction import DataGraph
from rdflib import RDF, XSD, Graph, Literal, Node
from rdflib.namespace import SH

from hub.model.resources import shapes_dir
from hub.model.terms import RDF_TYPE, Term, Triple, triples_of
from hub.model.vocabulary import BASE, HEILA, ID_PATTERN

GRAPHS = BASE + "hub/pointmap/"
"""Point map graphs are named by this and the name they were published under."""

_NAME = re.compile(f"^{ID_PATTERN}$")
_KINDS: dict[Term, tuple[str, str | None]] = {
    ox.NamedNode(HEILA + "Point"): ("point", None),
    ox.NamedNode("https://w3id.org/heila/iec104#Point"): ("point", "IEC 104"),
    ox.NamedNode("https://w3id.org/heila/iec104#Command"): ("command", "IEC 104"),
    ox.NamedNode("https://w3id.org/heila/iec61850#Point"): ("point", "IEC 61850"),
    ox.NamedNode("https://w3id.org/heila/iec61850#Command"): ("command", "IEC 61850"),
    ox.NamedNode("https://w3id.org/heila/dlms#Point"): ("point", "DLMS"),
}
"""The point maps' classes of points and commands: what each types, over which protocol"""
_POINTS = frozenset(kind for kind, (what, _protocol) in _KINDS.items() if what == "point")
_DEVICE = ox.NamedNode(HEILA + "device")
MIGRATED = "migrated"
"""The map of the points of readings stored before point maps, which the field's maps take over."""
_AGREED = tuple(
    ox.NamedNode(iri)
    for iri in (
        HEILA + "quantity",
        "http://qudt.org/schema/qudt/unit",
        HEILA + "device",
        HEILA + "location",
    )
)
"""What a map taking a migrated point over must say of it as `migrated` does, where both say
it: the stored readings of the point are read with these."""


class PointMapRefused(ValueError):
    """A point map that does not keep its shape, or cannot be read; says which point and why."""


class PointMapConflict(PointMapRefused):
    """Point maps that describe one point or command, or command one device; names it and
    each map."""


def graph_of(name: str) -> ox.NamedNode:
    if not _NAME.match(name):
        raise PointMapRefused(f"a point map's name matches {ID_PATTERN}, not {name!r}")
    return ox.NamedNode(GRAPHS + name)


def is_point_map_graph(name: str) -> bool:
    return name.startswith(GRAPHS) and bool(_NAME.match(name.removeprefix(GRAPHS)))


def name_of(graph: ox.NamedNode) -> str:
    """The name a point map's graph was published under."""
    return graph.value.removeprefix(GRAPHS)


@cache
def _shape_triples() -> tuple[tuple[Node, Node, Node], ...]:
    """shapes/pointmap.ttl, each plain literal typed xsd:string as Oxigraph types the data's,
    since pyshacl compares the terms of `sh:in` as they are."""
    shapes = Graph().parse(shapes_dir() / "pointmap.ttl", format="turtle")
    return tuple(
        (s, p, Literal(str(o), datatype=XSD.string))
        if isinstance(o, Literal) and o.datatype is None and o.language is None
        else (s, p, o)
        for s, p, o in shapes
    )


def shape_report(triples: Iterable[Triple]) -> Graph | None:
    """pyshacl's report on a point map against its shape; None when the map keeps it.

    The map is handed to pyshacl in an Oxigraph store, so Oxigraph parses and runs the shape's
    SPARQL constraints: with rdflib's SPARQL engine, parsing them took seconds at every check,
    at every start of the bridge and every publication."""
    data = ox.Store()
    data.extend(ox.Quad(s, p, o) for s, p, o in triples)
    shapes = Graph()
    for triple in _shape_triples():
        shapes.add(triple)
    data_graph = DataGraph.from_oxigraph_store(data)
    conforms, report, _ = pyshacl.validate(data_graph, shacl_graph=shapes, advanced=True)
    if conforms:
        return None
    assert isinstance(report, Graph)
    return report


def problems(triples: Iterable[ox.Triple | ox.Quad]) -> list[str]:
    """What breaks the point map's shape, one sentence per violation naming the point."""
    report = shape_report(triples_of(triples))
    if report is None:
        return []
    found = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        focus_node = report.value(result, SH.focusNode)
        focus = _local(focus_node)
        path = report.value(result, SH.resultPath)
        field = f" {_local(path)}" if path is not None else ""
        value = report.value(result, SH.value)
        shown = f" (value {_local(value)})" if value not in (None, focus_node) else ""
        found.append(f"{focus}{field}: {report.value(result, SH.resultMessage)}{shown}")
    return sorted(found)


def _local(node: Node | str | None) -> str:
    return re.split(r"[/#]", str(node))[-1]


def read(files: Iterable[Path]) -> list[ox.Triple]:
    """The triples of point map files in Turtle, read as one map, checked; raises
    PointMapRefused."""
    maps: dict[str, list[ox.Triple]] = {}
    for file in files:
        try:
            maps[str(file)] = list(ox.parse(path=file, format=ox.RdfFormat.TURTLE))
        except (OSError, SyntaxError) as error:
            raise PointMapRefused(f"{file}: not valid Turtle: {error}") from None
    described_once({name: triples_of(triples) for name, triples in maps.items()})
    return checked([triple for triples in maps.values() for triple in triples])


def described_once(maps: Mapping[str, Sequence[Triple]]) -> None:
    """Refuse point maps (by name) of which two describe one point or one command, or command
    one device, naming it and how each map does. Read as one, two maps' points or commands of
    one id are one node, of two protocols at once, and a device commanded by two maps has two
    commands; the shape sees the maps merged and passes, the bridge would keep one of each, and
    in the hub a reading's point would have the units of both."""
    held: dict[tuple[str, str], dict[str, str]] = {}
    for name, triples in maps.items():
        for thing, how in _descriptions(triples).items():
            held.setdefault(thing, {})[name] = how
    found = [
        f"{kind} {local} is {'commanded' if kind == 'device' else 'described'} "
        + " and ".join(f"{how}in {name}" for name, how in by.items())
        for (kind, local), by in held.items()
        if len(by) > 1
    ]
    if found:
        raise PointMapConflict(
            "; ".join(sorted(found))
            + ": one map describes each point and each command, and commands each device"
        )


@dataclass(frozen=True)
class Publication:
    """What publishing a point map changes: the triples its graph holds from then on, and the
    quads of migrated points that leave `migrated`, another map describing them now."""

    triples: list[Triple]
    taken_over: list[ox.Quad]


def published_once(store: ox.Store, graph: ox.NamedNode, triples: Sequence[Triple]) -> Publication:
    """Publishing these triples as the point map `graph` of the store, refused when a point map
    published under another name describes one of its points or commands, or commands one of
    its devices (described_once): the store's default graph is the union of them all. Points
    that `migrated` holds go to the other map when it agrees on them (module docstring)."""
    others = _published_besides(store, graph)
    taken: list[ox.Quad] = []
    if name_of(graph) == MIGRATED:  # a migration leaves out the points of the field's maps
        fields = {name: _triples_in(store, graph_of(name)) for name in others}
        elsewhere = _taken_over(triples, fields)
        triples = [t for t in triples if t[0] not in elsewhere]
    elif MIGRATED in others:
        migrated = list(store.quads_for_pattern(None, None, None, graph_of(MIGRATED)))
        shared = _taken_over(triples_of(migrated), {name_of(graph): triples})
        taken = [q for q in migrated if q.subject in shared]
        others[MIGRATED] = [t for t in others[MIGRATED] if t[0] not in shared]
    described_once({**others, name_of(graph): triples})
    return Publication(list(triples), taken)


def _triples_in(store: ox.Store, graph: ox.NamedNode) -> list[Triple]:
    return triples_of(store.quads_for_pattern(None, None, None, graph))


def _taken_over(migrated: Sequence[Triple], fields: Mapping[str, Sequence[Triple]]) -> set[Term]:
    """The points of `migrated` that a field's map describes too; raises PointMapConflict
    naming each fact (_AGREED) that the two state differently."""
    own: dict[tuple[Term, ox.NamedNode], set[Term]] = {}
    for s, p, o in migrated:
        if p in _AGREED:
            own.setdefault((s, p), set()).add(o)
    shared: set[Term] = set()
    differing = []
    for name, triples in fields.items():
        points = {s for s, p, o in triples if p == RDF_TYPE and o in _POINTS}
        shared |= points & {s for s, _p, _o in migrated}
        stated: dict[tuple[Term, ox.NamedNode], set[Term]] = {}
        for s, p, o in triples:
            if s in points and p in _AGREED:
                stated.setdefault((s, p), set()).add(o)
        differing += [
            f"point {_local(s.value)} has {_local(p.value)} {_listed(values)} in {MIGRATED} and "
            f"{_listed(stated[s, p])} in {name}"
            for (s, p), values in own.items()
            if (s, p) in stated and stated[s, p] != values
        ]
    if differing:
        raise PointMapConflict(
            "; ".join(sorted(differing))
            + ": a map takes a migrated point over only as its stored readings have it"
        )
    return shared


def _listed(values: Iterable[Term]) -> str:
    return " and ".join(sorted(_local(v.value) for v in values))


def _published_besides(store: ox.Store, graph: ox.NamedNode) -> dict[str, list[Triple]]:
    """What the point maps published under other names than `graph`'s type as points and
    commands, and the devices of their commands, by name: what described_once compares. Its
    own function so that the store's iterators end here, in the publishing thread: a refusal's
    traceback would carry them to another, where pyoxigraph cannot drop them."""
    others: dict[str, list[Triple]] = {}
    for kind in _KINDS:
        for typed in store.quads_for_pattern(None, RDF_TYPE, kind):
            other = typed.graph_name
            if (
                isinstance(other, ox.NamedNode)
                and other != graph
                and is_point_map_graph(other.value)
            ):
                devices = store.quads_for_pattern(typed.subject, _DEVICE, None, other)
                others.setdefault(name_of(other), []).extend(triples_of([typed, *devices]))
    return others


def _descriptions(triples: Sequence[Triple]) -> dict[tuple[str, str], str]:
    """What one map describes, (kind, id), with how: each point and command over its protocol,
    and each device by its command."""
    devices = {s: o for s, p, o in triples if p == _DEVICE}
    found: dict[tuple[str, str], str] = {}
    for s, p, o in triples:
        if p != RDF_TYPE or o not in _KINDS:
            continue
        kind, protocol = _KINDS[o]
        over = "" if protocol is None else f"over {protocol} "
        found[kind, _local(s.value)] = over
        if kind == "command" and s in devices:
            found["device", _local(devices[s].value)] = f"by {_local(s.value)} {over}"
    return found


def parse(data: bytes) -> list[ox.Triple]:
    """The triples of a point map in Turtle, checked; raises PointMapRefused."""
    try:
        return checked(list(ox.parse(data, format=ox.RdfFormat.TURTLE)))
    except SyntaxError as error:
        raise PointMapRefused(f"not Turtle: {error}") from None


def checked(triples: list[ox.Triple]) -> list[ox.Triple]:
    found = problems(triples)
    if found:
        raise PointMapRefused("; ".join(found))
    return triples
