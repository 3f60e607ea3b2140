"""`heila migrate`: rewrite a store's readings of the former model into the lean one.

A reading used to state its quantity, unit, device and receive time itself (seven quads and
more); now it states its point, value and device time (and quality flags), the point states
the rest in a published point map, and the Measurement states when it was received. For each
Measurement whose readings still state a quantity, the migration:
- gives each reading a point (its own, or `{device or location or message}.{quantity}` when it
  had none) and records the point's quantity, unit, device and location in the point map
  graph <https://w3id.org/heila/hub/pointmap/migrated>, checked by shapes/pointmap.ttl, unless
  a published map describes it already (then as the readings had it, or the migration stops);
- moves the earliest receive time of its readings onto the Measurement;
- replaces the message graph, validated against today's shapes, keeping its place in the log.
Messages are rewritten in batches, each all or nothing; a migration that stops can be run
again and goes on where it stopped. A signed Measurement is left as it was signed, since its
signature covers its triples as they are; the command says how many it left.
"""

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pyoxigraph as ox

from hub.model import pointmaps
from hub.model.errors import Invalid, QueryRefused, UsageError
from hub.model.terms import IllTyped, Term, index, literal_value, triples_of
from hub.model.terms import quads as quads_in
from hub.model.vocabulary import DEVICE, GRID, HEILA, MESSAGE, POINT, RDF
from hub.storage.store import OxigraphStore, open_for_command

BATCH = 500
"""Measurements rewritten in one transaction."""

_READING, _POINT, _QUANTITY = (ox.NamedNode(HEILA + n) for n in ("reading", "point", "quantity"))
_RECEIVED, _DEVICE, _LOCATION = (
    ox.NamedNode(HEILA + n) for n in ("receivedAt", "device", "location")
)
_UNIT = ox.NamedNode("http://qudt.org/schema/qudt/unit")
_SIGNATURE = ox.NamedNode(HEILA + "signature")
_TYPE = ox.NamedNode(RDF + "type")
_POINT_CLASS = ox.NamedNode(HEILA + "Point")
_MOVED = (_QUANTITY, _UNIT, _DEVICE, _RECEIVED)
"""what a reading no longer states"""


@dataclass
class Migration:
    """What a migration did, and the points it found, point IRI -> property -> value."""

    messages: int = 0
    readings: int = 0
    signed: int = 0
    points: dict[ox.NamedNode, dict[ox.NamedNode, set[Term]]] = field(default_factory=dict)

    def learn(self, point: ox.NamedNode, facts: Iterable[tuple[ox.NamedNode, Term]]) -> None:
        known = self.points.setdefault(point, {_TYPE: {_POINT_CLASS}})
        for predicate, value in facts:
            known.setdefault(predicate, set()).add(value)

    def point_map(self) -> list[ox.Triple]:
        return [
            ox.Triple(point, predicate, value)
            for point, facts in self.points.items()
            for predicate, values in facts.items()
            for value in values
        ]


def _former(store: OxigraphStore) -> list[str]:
    """The Measurements whose readings still state their quantity."""
    rows = store.query(
        f"SELECT DISTINCT ?m WHERE {{ GRAPH ?m {{ ?m {_READING} ?r . ?r {_QUANTITY} ?q }} }}"
    ).rows
    return sorted(row[0].value for row in rows if isinstance(row[0], ox.NamedNode))


def _earliest(times: Iterable[Term]) -> Term | None:
    dated = [(when, term) for term in times if isinstance(when := _instant(term), datetime)]
    return min(dated, key=lambda pair: pair[0])[1] if dated else None


def _instant(term: Term) -> object:
    try:
        return literal_value(term) if isinstance(term, ox.Literal) else None
    except IllTyped:
        return None


def _local(term: Term | None, base: str) -> str | None:
    return term.value.removeprefix(base) if isinstance(term, ox.NamedNode) else None


def lean(name: str, quads: list[ox.Quad], migration: Migration) -> list[ox.Quad] | None:
    """A Measurement's graph in the lean model; None for a signed one, which stays as it is."""
    graph = ox.NamedNode(name)
    triples = triples_of(quads)
    if any(p == _SIGNATURE for _s, p, _o in triples):
        migration.signed += 1
        return None
    facts_of = index(triples)
    message = facts_of.get(graph, {})
    readings = [r for r in message.get(_READING, []) if isinstance(r, ox.NamedNode)]
    location = next(iter(message.get(_LOCATION, [])), None)
    kept = [(s, p, o) for s, p, o in triples if s not in readings]
    earliest = _earliest(t for r in readings for t in facts_of.get(r, {}).get(_RECEIVED, []))
    if earliest is not None and _RECEIVED not in message:
        kept.append((graph, _RECEIVED, earliest))
    for reading in readings:
        facts = facts_of.get(reading, {})
        point = next(iter(facts.get(_POINT, [])), None) or _point_for(graph, facts, location)
        assert isinstance(point, ox.NamedNode)
        moved = [(p, o) for p in (_QUANTITY, _UNIT, _DEVICE) for o in facts.get(p, [])]
        migration.learn(point, [*moved, *([(_LOCATION, location)] if location else [])])
        kept.append((reading, _POINT, point))
        kept += [
            (reading, p, o)
            for p, objects in facts.items()
            if p not in (*_MOVED, _POINT)
            for o in objects
        ]
    migration.messages += 1
    migration.readings += len(readings)
    return quads_in(kept, graph)


def _point_for(
    graph: ox.NamedNode, facts: dict[ox.NamedNode, list[Term]], location: Term | None
) -> ox.NamedNode:
    """A point for a reading that named none: its device's, location's or message's."""
    quantity = _local(next(iter(facts.get(_QUANTITY, [])), None), HEILA) or "value"
    device = _local(next(iter(facts.get(_DEVICE, [])), None), DEVICE)
    owner = device or _local(location, GRID) or _local(graph, MESSAGE)
    return ox.NamedNode(f"{POINT}{owner}.{quantity[:1].lower()}{quantity[1:]}")


def migrate(store: OxigraphStore) -> Migration:
    """Rewrite every Measurement of the former model; raises Invalid or QueryRefused."""
    migration = Migration()
    former = _former(store)
    for start in range(0, len(former), BATCH):
        rewritten = {}
        for name in former[start : start + BATCH]:
            lean_quads = lean(name, store.graph_quads(name), migration)
            if lean_quads is not None:
                rewritten[name] = set(lean_quads)
        _publish(store, migration)
        store.rewrite(rewritten)
    return migration


def _publish(store: OxigraphStore, migration: Migration) -> None:
    """The points found so far, with those an earlier run found, as the migrated point map."""
    graph = pointmaps.graph_of(pointmaps.MIGRATED)
    for point, predicate, value in triples_of(store.graph_quads(graph.value)):
        if isinstance(point, ox.NamedNode):
            migration.learn(point, [(predicate, value)])
    found = pointmaps.problems(migration.point_map())
    if found:
        raise QueryRefused(f"the points of the readings disagree: {'; '.join(found)}")
    store.publish_point_map(graph, migration.point_map())


def add_arguments(_name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default="var/store", help="the store's directory")


def run(args: argparse.Namespace) -> int:
    """`heila migrate --store DIR`: rewrite the store's readings into the lean model."""
    store = open_for_command(args.store, create=False)
    try:
        done = migrate(store)
    except Invalid as error:
        raise UsageError(
            f"a migrated message would break a rule: {error.violations[0].line()}"
        ) from None
    except (QueryRefused, pointmaps.PointMapRefused) as error:
        raise UsageError(str(error)) from None
    finally:
        store.close()
    print(
        f"migrated {done.readings} readings of {done.messages} Measurements, "
        f"{len(done.points)} points (in <{pointmaps.GRAPHS}{pointmaps.MIGRATED}> where no "
        "other point map describes them); "
        f"left {done.signed} signed Measurements as they were signed",
        file=sys.stderr,
    )
    return 0
