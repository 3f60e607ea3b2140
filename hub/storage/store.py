"""The hub's store: one named graph per message, kept in Oxigraph behind an interface of our own.

The interface (`Store`) is what the API, the SPARQL endpoint and the CLI use, so a remote SPARQL
1.1 store can stand in for the embedded one later. `OxigraphStore` is the embedded one.

Bookkeeping lives in the log graph <https://w3id.org/heila/hub/log>: for every message
`<message> heila:sequence N ; heila:storedAt t`. The sequence gives the commit order and is the
cursor for paging; its counter is kept in memory and recovered from the log graph on open.

Values derived from each message (window lengths, energies, slot times: hub.model.derived) go into
the derived graph <https://w3id.org/heila/hub/derived> in the same transaction as the message;
like the log and the ontology it is read-only, and a dump leaves it out since a load derives it.

`query` runs the hub's own queries and the command line's, in this process: a query past
`QueryLimits.timeout` raises `QueryTimeout`, and a result longer than `QueryLimits.result_limit`
is cut there and flagged `truncated`. SERVICE calls are refused unless their endpoint is listed
in `QueryLimits.service_endpoints`. Clients' queries run in query workers
(hub.storage.query_pool), each on a copy that `follow` hands out and keeps up to date; only a
lookup of one subject, whose cost its form bounds, is answered here (`look_up`).
"""

import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyoxigraph as ox

from hub.model import derived, pointmaps, readings, resources, validation
from hub.model import message as message_model
from hub.model.errors import (
    Conflict,
    HubError,
    Invalid,
    NotSender,
    ParseError,
    QueryRefused,
    UsageError,
)
from hub.model.message import Message
from hub.model.terms import Triple, triples_of
from hub.model.vocabulary import ACTOR, BASE, HEILA, MESSAGE, ONTOLOGY_IRI, RDF, SMARTAPI, XSD
from hub.storage import subject_lookup
from hub.storage.query_worker import Query, Refusal
from hub.storage.results import Answer, QueryResult, Term, read, syntax_error_position
from hub.storage.sparql_scope import graphs_named_by, refuse_unlisted_services

LOG_GRAPH = BASE + "hub/log"
"""The bookkeeping graph: commit sequence and storage time of every message."""

REGISTRY_GRAPH = BASE + "hub/actors"
"""The actors the hub knows: roles, operators and credential hashes (hub.trust.registry)."""

_SEQUENCE = ox.NamedNode(HEILA + "sequence")
_STORED_AT = ox.NamedNode(HEILA + "storedAt")
_LOG = ox.NamedNode(LOG_GRAPH)
_ONTOLOGY = ox.NamedNode(ONTOLOGY_IRI)
_RDF_TYPE = ox.NamedNode(RDF + "type")
_QUANTITY = ox.NamedNode(HEILA + "quantity")
_GENERATED_BY = ox.NamedNode(SMARTAPI + "generatedBy")
_DERIVED = ox.NamedNode(derived.DERIVED_GRAPH)
_REGISTRY = ox.NamedNode(REGISTRY_GRAPH)
_READ_ONLY_GRAPHS = frozenset({LOG_GRAPH, ONTOLOGY_IRI, derived.DERIVED_GRAPH, REGISTRY_GRAPH})
_NOT_DUMPED = (_ONTOLOGY, _DERIVED, _REGISTRY)
"""Graphs a dump leaves out: the ontology comes with the hub, derived values are derived again
on load, and credentials stay with the hub whose actors they are."""
_WIDEST_WINDOW = 8192
_OWN_QUERY_THREADS = 2
BULK_QUADS = 2_000
"""Messages at least this large are written by ingesting sorted files (`bulk_extend`) instead
of a transaction: 1.7 times as fast on disk for a 1,000-reading Measurement, slower below
this size. It stays all or nothing: Oxigraph ingests anything under a million quads as one
batch, in one RocksDB ingestion of all its column families, which is atomic."""


@dataclass(frozen=True)
class Stored:
    """Where a message went: its IRI and its place in the commit order."""

    iri: str
    sequence: int
    created: bool


@dataclass(frozen=True)
class QueryLimits:
    """What queries may cost: each one's seconds, rows, memory and nesting, the SERVICE
    endpoints it may call, and how many run (`workers`) and wait (`max_waiting`) at once."""

    timeout: float = 10.0
    result_limit: int = 10_000
    memory_bytes: int = 1 << 30
    max_nesting: int = 64
    workers: int = 1
    max_waiting: int = 8
    idle_seconds: float = 300.0
    service_endpoints: frozenset[str] = frozenset()


class QueryTimeout(HubError):
    """The query ran longer than the configured timeout."""


class Store(Protocol):
    """The store as the rest of the hub sees it."""

    def put(self, message: Message) -> Stored: ...

    def get(self, iri: str) -> Message | None: ...

    @property
    def last_sequence(self) -> int: ...

    def messages(
        self,
        *,
        type: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        since: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Stored]: ...

    def query(
        self,
        sparql: str,
        *,
        default_graph_uris: Sequence[str] = (),
        named_graph_uris: Sequence[str] = (),
    ) -> QueryResult: ...

    def update(
        self,
        sparql: str,
        *,
        sender: str | None = None,
        trial: "Trial | None" = None,
        check: "GraphCheck | None" = None,
    ) -> None: ...

    def dump(self, target: BinaryIO) -> int: ...

    def load(self, source: BinaryIO) -> int: ...

    def publish_point_map(self, graph: ox.NamedNode, triples: Sequence[ox.Triple]) -> None: ...

    def replace_registry(self, quads: Sequence[ox.Quad]) -> None: ...

    def close(self) -> None: ...


def open_store(
    location: str, limits: QueryLimits | None = None, *, create: bool = True
) -> "OxigraphStore":
    """Open the store in a directory (made if missing, unless `create` is false) or in memory."""
    if location == "memory":
        return OxigraphStore(ox.Store(), limits or QueryLimits())
    if not create and not Path(location).is_dir():
        raise FileNotFoundError("no such directory")
    Path(location).mkdir(parents=True, exist_ok=True)
    return OxigraphStore(ox.Store(location), limits or QueryLimits(), Path(location))


def open_for_command(location: str, *, create: bool = True) -> "OxigraphStore":
    """The store a command works on, or a one-line reason why it cannot be opened."""
    try:
        return open_store(location, create=create)
    except OSError as error:
        raise UsageError(f"cannot open the store at {location}: {error}") from None


Trial = Callable[[list[ox.Quad], str], list[ox.Quad]]
GraphCheck = Callable[[dict[str, list[Triple]]], None]
"""A check of the message graphs an update writes (by graph name), before they are committed."""
"""Works out what an update leaves of some quads (hub.storage.query_pool.QueryPool.try_update)."""


def point_facts(store: Store, points: Iterable[str]) -> list[Triple]:
    """The quantity that published point maps give each of these points (by IRI), when a rule
    on readings holds for it (hub.model.readings.ruled_quantities)."""
    values = " ".join(str(ox.NamedNode(iri)) for iri in sorted(points))
    ruled = " ".join(str(ox.NamedNode(iri)) for iri in sorted(readings.ruled_quantities()))
    if not values or not ruled:
        return []
    result = store.query(
        f"SELECT ?point ?quantity WHERE {{ VALUES ?point {{ {values} }} "
        f"VALUES ?quantity {{ {ruled} }} "
        f"GRAPH ?map {{ ?point {_QUANTITY} ?quantity }} "
        f'FILTER(STRSTARTS(STR(?map), "{pointmaps.GRAPHS}")) }}'
    )
    return [
        (point, _QUANTITY, quantity)
        for point, quantity in result.rows
        if isinstance(point, ox.NamedNode) and isinstance(quantity, ox.NamedNode)
    ]


def try_update(quads: list[ox.Quad], sparql: str) -> list[ox.Quad]:
    """What the update leaves of these quads, worked out here in this process."""
    copy = ox.Store()
    copy.extend(quads)
    try:
        copy.update(sparql)
    except SyntaxError as error:
        raise _parse_error(error) from None
    except OSError as error:  # e.g. an allowed SERVICE that does not answer
        raise QueryRefused(str(error)) from None
    return list(copy)


Change = tuple[str, Any]
"""A committed write, as followers get it: ("quads", [Quad, ...] or N-Quads bytes) or
("update", SPARQL text)."""
Follower = Callable[[Change], None]


class OxigraphStore:
    """The embedded store: pyoxigraph, on disk or in memory."""

    def __init__(self, store: ox.Store, limits: QueryLimits, location: Path | None = None) -> None:
        self._store = store
        self.limits = limits
        self._copies = None if location is None else location.with_name(location.name + ".copies")
        """Where checkpoints for followers go; what a stopped hub left there is stale."""
        if self._copies is not None:
            shutil.rmtree(self._copies, ignore_errors=True)
        self._followers: list[Follower] = []
        self._lock = threading.Lock()
        self._workers = ThreadPoolExecutor(_OWN_QUERY_THREADS, thread_name_prefix="store-query")
        self._store.update(_replace_graph_update(_ONTOLOGY, _ontology_quads()))
        self._last_sequence = self._recover_sequence()

    def close(self) -> None:
        """Flush and let go of the database (and its lock) even if this object lingers on."""
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._store.flush()
        del self._store

    @property
    def last_sequence(self) -> int:
        """The highest sequence in the log: how far the store has applied the commit order."""
        return self._last_sequence

    def put(self, message: Message, sequence: int | None = None) -> Stored:
        """Store an accepted message in one transaction. A known id with the same content
        returns the first one; with other content it raises Conflict. `sequence` is given
        when the commit order is kept elsewhere (a replicated log); it must be past the last."""
        graph = ox.NamedNode(message.iri)
        with self._lock:
            known = self._sequence_of(graph)
            if known is not None:
                if not self._holds(message):
                    raise Conflict(message.iri)
                return Stored(message.iri, known, created=False)
            sequence = self._last_sequence + 1 if sequence is None else sequence
            facts = [*_log_quads(graph, sequence), *derived.quads_of(message)]
            if message.readings is None:
                self._write([*message.quads(), *facts])
            else:
                self._write_chunk(message, facts)
            self._last_sequence = sequence
        return Stored(message.iri, sequence, created=True)

    def _write(self, quads: list[ox.Quad]) -> None:
        write = self._store.bulk_extend if len(quads) >= BULK_QUADS else self._store.extend
        write(quads)
        self._tell_followers(("quads", quads))

    def _write_chunk(self, message: Message, facts: list[ox.Quad]) -> None:
        """A message whose readings are an N-Quads chunk: Oxigraph parses it itself (leniently,
        as the hub wrote it of checked parts), as one ingestion when large, as `_write` does."""
        data = message.nquads() + (ox.serialize(facts, format=ox.RdfFormat.N_QUADS) or b"")
        assert message.readings is not None
        if len(message.body) + message.readings.quad_count + len(facts) >= BULK_QUADS:
            self._store.bulk_load(data, ox.RdfFormat.N_QUADS, lenient=True)
        else:
            self._store.load(data, ox.RdfFormat.N_QUADS, lenient=True)
        self._tell_followers(("quads", data))

    def _holds(self, message: Message) -> bool:
        """Whether the store holds exactly this message, compared as the store writes terms
        (a decimal 2.0 is stored as 2)."""
        written = ox.Store()
        written.extend(message.quads())
        graph = ox.NamedNode(message.iri)
        return set(written) == set(self._store.quads_for_pattern(None, None, None, graph))

    def follow(self, follower: Follower) -> tuple[str, Any]:
        """A snapshot of the store, and from then on every committed write to `follower`, in
        commit order. The snapshot is a checkpoint directory of the store on disk (made of hard
        links, and the follower's to delete), or the N-Quads of a store in memory.

        The follower is listening before the snapshot is taken, and not under the write lock:
        a write between the two is both in the snapshot and told, which is harmless, since
        every change, applied again in order, leaves what it touches as it was.
        """
        with self._lock:
            self._followers.append(follower)
        if self._copies is None:
            return ("quads", self._store.dump(format=ox.RdfFormat.N_QUADS))
        self._copies.mkdir(exist_ok=True)
        target = self._copies / f"copy-{secrets.token_hex(6)}"
        self._store.backup(target)
        return ("checkpoint", str(target))

    def unfollow(self, follower: Follower) -> None:
        with self._lock:
            self._followers = [f for f in self._followers if f != follower]

    def look_up(self, query: Query) -> Answer | Refusal | None:
        """A client's lookup of one subject, answered from the store itself; None for any other
        query, which a worker answers (hub.storage.subject_lookup)."""
        return subject_lookup.look_up(self._store, query)

    def _tell_followers(self, change: Change) -> None:
        for follower in self._followers:
            follower(change)

    def get(self, iri: str) -> Message | None:
        if iri in _READ_ONLY_GRAPHS:
            return None
        quads = list(self._store.quads_for_pattern(None, None, None, ox.NamedNode(iri)))
        return message_model.from_quads(quads) if quads else None

    def messages(
        self,
        *,
        type: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        since: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Stored]:
        """Messages in commit order after the cursor `after`, filtered on their envelope.

        The log is read in windows of consecutive sequence numbers (a VALUES block the store
        answers by index lookups) rather than by sorting the whole log: a page costs about its
        own size, however long the log. A sparse filter reads further windows, each twice as
        wide as the one before, up to the last sequence.
        """
        patterns = []
        if type is not None:
            patterns.append(f"?m a {ox.NamedNode(HEILA + type)} .")
        if sender is not None:
            patterns.append(f"?m <{SMARTAPI}generatedBy> {_actor(sender)} .")
        if recipient is not None:
            patterns.append(f"?m <{HEILA}recipient> {_actor(recipient)} .")
        if since is not None:
            patterns.append(
                f"?m <{SMARTAPI}generatedAt> ?time . FILTER(?time >= {_instant(since)})"
            )
        envelope = f"GRAPH ?m {{ {' '.join(patterns)} }}" if patterns else ""
        found: list[Stored] = []
        low, width = max(0, after), max(1, min(limit, _WIDEST_WINDOW))
        while len(found) < limit and low < self._last_sequence:
            high = min(low + width, self._last_sequence)
            found += self._logged_between(low, high, envelope, limit - len(found))
            low, width = high, min(width * 2, _WIDEST_WINDOW)
        return found

    def _logged_between(self, low: int, high: int, envelope: str, limit: int) -> list[Stored]:
        """Messages with a sequence in (low, high] that match the envelope patterns."""
        window = " ".join(str(n) for n in range(low + 1, high + 1))
        solutions = self._store.query(
            f"SELECT ?m ?sequence WHERE {{ VALUES ?sequence {{ {window} }} "
            f"GRAPH {_LOG} {{ ?m {_SEQUENCE} ?sequence }} {envelope} }} "
            f"ORDER BY ?sequence LIMIT {limit}"
        )
        assert isinstance(solutions, ox.QuerySolutions)
        return [
            Stored(_value(row["m"]), int(_value(row["sequence"])), created=False)
            for row in solutions
        ]

    def query(
        self,
        sparql: str,
        *,
        default_graph_uris: Sequence[str] = (),
        named_graph_uris: Sequence[str] = (),
    ) -> QueryResult:
        """Answer a query over all messages at once, unless the caller names the dataset."""
        refuse_unlisted_services(sparql, self.limits.service_endpoints)
        options: dict[str, Any] = {}
        if default_graph_uris:
            options["default_graph"] = [ox.NamedNode(uri) for uri in default_graph_uris]
        elif named_graph_uris:
            options["default_graph"] = []
        else:
            options["use_default_graph_as_union"] = True
        if named_graph_uris:
            options["named_graphs"] = [ox.NamedNode(uri) for uri in named_graph_uris]
        deadline = time.monotonic() + self.limits.timeout
        future = self._workers.submit(self._evaluate, sparql, options, deadline)
        try:
            return future.result(timeout=self.limits.timeout)
        except FutureTimeout:
            future.cancel()
            raise QueryTimeout(
                f"the query ran longer than {self.limits.timeout:g} s and was stopped"
            ) from None

    def update(
        self,
        sparql: str,
        *,
        sender: str | None = None,
        trial: "Trial | None" = None,
        check: "GraphCheck | None" = None,
    ) -> None:
        """Apply a SPARQL Update all or nothing, only if every message it changes stays valid.

        The update runs first on a copy of the graphs it names, by `trial` (in a query worker,
        where the hub can stop it; here, without one) and outside the write lock; the message
        graphs that changed there are validated, and only then replace their originals in one
        transaction, provided nothing changed them meanwhile. Limits: the update must name every
        graph it reads or writes (no GRAPH ?g, no CLEAR ALL, no LOAD), and the default,
        ontology and log graphs are read-only. With `sender`, every message the update changes
        must be that actor's, before and after; `check` sees every message graph it writes
        (the signatures they keep, hub.trust.signature) and may refuse them by raising.
        """
        refuse_unlisted_services(sparql, self.limits.service_endpoints)
        named = graphs_named_by(sparql)
        with self._lock:
            before = {name: self.graph_quads(name) for name in named}
        left = (trial or try_update)([quad for quads in before.values() for quad in quads], sparql)
        after = _group_by_graph(left)
        changed = {
            name: after.get(name, set())
            for name in set(before) | set(after)
            if after.get(name, set()) != set(before.get(name, ()))
        }
        if not changed:
            return
        _check_writable(changed)
        if sender is not None:
            _check_sender(sender, before, changed)
        graphs = {name: _message_triples(quads) for name, quads in changed.items() if quads}
        _check_messages(graphs)
        violations = validation.validate_graphs(
            graphs, self._types_referenced_by(graphs), self._facts_named_by(graphs)
        )
        if violations:
            raise Invalid(violations)
        if check is not None:
            check(graphs)
        with self._lock:
            if any(set(self.graph_quads(name)) != set(quads) for name, quads in before.items()):
                raise QueryRefused("a graph the update names changed while it ran; send it again")
            self._commit(changed)

    def publish_point_map(self, graph: ox.NamedNode, triples: Sequence[ox.Triple]) -> None:
        """Make a point map's graph (hub.model.pointmaps) hold exactly these triples, in one
        transaction; they have kept the point map's shape. Raises PointMapConflict, storing
        nothing, when a map published under another name describes what they describe."""
        with self._lock:
            published = pointmaps.published_once(self._store, graph, triples_of(triples))
            change = _replace_graph_update(
                graph, [ox.Quad(s, p, o, graph) for s, p, o in published.triples]
            )
            if published.taken_over:
                change += f" ;\n{_delete_data(published.taken_over)}"
            self._store.update(change)
            self._tell_followers(("update", change))

    def rewrite(self, graphs: dict[str, set[ox.Quad]]) -> None:
        """Replace message graphs whole, in one transaction, once every one is valid: how a
        migration changes the model of stored messages. Their places in the log stay."""
        if not graphs:
            return
        triples = {name: _message_triples(quads) for name, quads in graphs.items()}
        _check_messages(triples)
        violations = validation.validate_graphs(
            triples, self._types_referenced_by(triples), self._facts_named_by(triples)
        )
        if violations:
            raise Invalid(violations)
        with self._lock:
            self._commit(graphs)

    def replace_registry(self, quads: Sequence[ox.Quad]) -> None:
        """Make the actor registry's graph hold exactly these quads, in one transaction."""
        change = _replace_graph_update(_REGISTRY, quads)
        with self._lock:
            self._store.update(change)
            self._tell_followers(("update", change))

    def dump(self, target: BinaryIO) -> int:
        """Write every message and the log as N-Quads (not the graphs of `_NOT_DUMPED`)."""
        quads = [quad for quad in self._store if quad.graph_name not in _NOT_DUMPED]
        ox.serialize(quads, target, ox.RdfFormat.N_QUADS)
        return len(quads)

    def load(self, source: BinaryIO) -> int:
        """Restore a dump into an empty store, whole or not at all."""
        if self._last_sequence or self._message_graph_count():
            raise QueryRefused("the store already holds messages; load into an empty store")
        try:
            quads = [
                quad
                for quad in ox.parse(source, ox.RdfFormat.N_QUADS)
                if quad.graph_name not in _NOT_DUMPED
            ]
        except SyntaxError as error:
            raise _parse_error(error) from None
        by_graph = _group_by_graph(quads)
        _check_loadable(by_graph)
        messages = {
            name: _message_triples(graph)
            for name, graph in by_graph.items()
            if name != LOG_GRAPH and not pointmaps.is_point_map_graph(name)
        }
        _check_messages(messages)
        violations = validation.validate_graphs(messages, facts=_point_facts_in(by_graph))
        if violations:
            raise Invalid(violations)
        log = by_graph.get(LOG_GRAPH, set())
        logged = {_value(q.subject) for q in log if q.predicate == _SEQUENCE}
        last = max((int(_value(q.object)) for q in log if q.predicate == _SEQUENCE), default=0)
        unlogged = sorted(messages.keys() - logged)
        facts = [
            q for t in messages.values() for q in derived.quads_of(message_model.from_triples(t))
        ]
        with self._lock:
            written = [*quads, *self._log_entries(unlogged, last), *facts]
            self._store.extend(written)
            self._last_sequence = last + len(unlogged)
            self._tell_followers(("quads", written))
        return len(quads)

    def _evaluate(self, sparql: str, options: dict[str, Any], deadline: float) -> QueryResult:
        try:
            answer = self._store.query(sparql, **options)
        except SyntaxError as error:
            raise _parse_error(error) from None
        except OSError as error:
            raise QueryRefused(str(error)) from None
        result = read(answer, self.limits.result_limit, deadline)
        del answer  # Oxigraph's results must be dropped on the thread that made them
        if result is None:
            raise QueryTimeout(
                f"the query ran longer than {self.limits.timeout:g} s and was stopped"
            )
        return result

    def _commit(self, changed: dict[str, set[ox.Quad]]) -> None:
        operations = [
            op
            for name, quads in changed.items()
            for op in (
                _forget_derived_update(ox.NamedNode(name)),
                _replace_graph_update(ox.NamedNode(name), [*quads, *_derived_of(quads)]),
            )
        ]
        removed = [name for name, quads in changed.items() if not quads]
        added = sorted(
            name
            for name, quads in changed.items()
            if quads and self._sequence_of(ox.NamedNode(name)) is None
        )
        operations += [f"DELETE WHERE {{ GRAPH {_LOG} {{ <{name}> ?p ?o }} }}" for name in removed]
        log = self._log_entries(added, self._last_sequence)
        if log:
            operations.append(_insert_data(log))
        update = " ;\n".join(operations)
        self._store.update(update)
        self._last_sequence += len(added)
        self._tell_followers(("update", update))

    @staticmethod
    def _log_entries(names: list[str], last: int) -> list[ox.Quad]:
        """Log quads giving these messages the sequence numbers after `last`, in this order."""
        return [
            q for n, name in enumerate(names, 1) for q in _log_quads(ox.NamedNode(name), last + n)
        ]

    def _facts_named_by(self, graphs: dict[str, list[Triple]]) -> list[Triple]:
        """What published point maps state of the points these graphs' readings name."""
        named = {o.value for ts in graphs.values() for _s, p, o in ts if p == readings.POINT}
        return point_facts(self, named)

    def _types_referenced_by(self, graphs: dict[str, list[Triple]]) -> dict[str, str]:
        """The stored type of every message these graphs refer to, for the reference rules."""
        referenced = {
            target.value
            for triples in graphs.values()
            for _s, _p, target in triples
            if isinstance(target, ox.NamedNode) and target.value.startswith(MESSAGE)
        }
        types = {}
        for iri in referenced - graphs.keys():
            for quad in self._store.quads_for_pattern(
                ox.NamedNode(iri), _RDF_TYPE, None, ox.NamedNode(iri)
            ):
                types[iri] = _value(quad.object).removeprefix(HEILA)
        return types

    def graph_quads(self, name: str) -> list[ox.Quad]:
        return list(self._store.quads_for_pattern(None, None, None, ox.NamedNode(name)))

    def _sequence_of(self, graph: ox.NamedNode) -> int | None:
        for quad in self._store.quads_for_pattern(graph, _SEQUENCE, None, _LOG):
            return int(_value(quad.object))
        return None

    def _recover_sequence(self) -> int:
        solutions = self._store.query(
            f"SELECT (MAX(?n) AS ?last) WHERE {{ GRAPH {_LOG} {{ ?m {_SEQUENCE} ?n }} }}"
        )
        assert isinstance(solutions, ox.QuerySolutions)
        last = next(iter(solutions))["last"]
        return int(_value(last)) if last is not None else 0

    def _message_graph_count(self) -> int:
        return sum(1 for graph in self._store.named_graphs() if _is_message_graph(graph))


def _log_quads(graph: ox.NamedNode, sequence: int) -> list[ox.Quad]:
    stored_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        ox.Quad(graph, _SEQUENCE, ox.Literal(str(sequence), datatype=_XSD_INTEGER), _LOG),
        ox.Quad(graph, _STORED_AT, ox.Literal(stored_at, datatype=_XSD_DATETIME), _LOG),
    ]


_XSD_INTEGER = ox.NamedNode(XSD + "integer")
_XSD_DATETIME = ox.NamedNode(XSD + "dateTime")


def _ontology_quads() -> list[ox.Quad]:
    return [
        ox.Quad(triple.subject, triple.predicate, triple.object, _ONTOLOGY)
        for path in sorted(resources.ontology_dir().glob("*.ttl"))
        for triple in ox.parse(path=path, format=ox.RdfFormat.TURTLE)
    ]


def _derived_of(quads: set[ox.Quad]) -> list[ox.Quad]:
    return derived.quads_of(message_model.from_quads(quads)) if quads else []


def _forget_derived_update(graph: ox.NamedNode) -> str:
    """One update operation that deletes what was derived from the message in `graph`."""
    slot = ox.NamedNode(HEILA + "slot")
    return (
        f"DELETE {{ GRAPH {_DERIVED} {{ ?s ?p ?o }} }} WHERE {{ "
        f"{{ BIND({graph} AS ?s) }} UNION {{ GRAPH {graph} {{ {graph} {slot} ?s }} }} "
        f"GRAPH {_DERIVED} {{ ?s ?p ?o }} }}"
    )


def _replace_graph_update(graph: ox.NamedNode, quads: Iterable[ox.Quad]) -> str:
    """One update operation that makes the graph hold exactly these quads."""
    quads = list(quads)
    drop = f"DROP SILENT GRAPH {graph}"
    return f"{drop} ;\n{_insert_data(quads)}" if quads else drop


def _insert_data(quads: Iterable[ox.Quad]) -> str:
    return f"INSERT DATA {{\n{_quad_data(quads)}\n}}"


def _delete_data(quads: Iterable[ox.Quad]) -> str:
    return f"DELETE DATA {{\n{_quad_data(quads)}\n}}"


def _quad_data(quads: Iterable[ox.Quad]) -> str:
    return "\n".join(
        f"GRAPH {q.graph_name} {{ {q.subject} {q.predicate} {q.object} }}" for q in quads
    )


def _actor(actor_id: str) -> ox.NamedNode:
    return ox.NamedNode(BASE + "actor/" + actor_id)


def _instant(moment: datetime) -> ox.Literal:
    if moment.tzinfo is None:
        raise ValueError("a time needs its zone")
    return ox.Literal(moment.isoformat(), datatype=_XSD_DATETIME)


def _value(term: Term | None) -> str:
    if isinstance(term, ox.NamedNode | ox.BlankNode | ox.Literal):
        return term.value
    raise ValueError(f"expected a term, found {term!r}")


def _is_message_graph(graph: object) -> bool:
    return isinstance(graph, ox.NamedNode) and graph.value.startswith(MESSAGE)


def _group_by_graph(quads: Iterable[ox.Quad]) -> dict[str, set[ox.Quad]]:
    graphs: dict[str, set[ox.Quad]] = {}
    for quad in quads:
        name = quad.graph_name.value if isinstance(quad.graph_name, ox.NamedNode) else ""
        graphs.setdefault(name, set()).add(quad)
    return graphs


def _check_writable(changed: dict[str, set[ox.Quad]]) -> None:
    for name in changed:
        if not name:
            raise QueryRefused("the default graph is read-only: write into a message graph")
        if name in _READ_ONLY_GRAPHS:
            raise QueryRefused(f"the graph <{name}> is read-only")
        if not name.startswith(MESSAGE):
            raise QueryRefused(f"<{name}> is not a message graph (they start with {MESSAGE})")


def _check_sender(
    sender: str, before: dict[str, list[ox.Quad]], changed: dict[str, set[ox.Quad]]
) -> None:
    actor = _actor(sender)
    for name, quads in changed.items():
        for quad in [*before.get(name, []), *quads]:
            names_sender = quad.predicate == _GENERATED_BY and quad.subject == ox.NamedNode(name)
            if names_sender and quad.object != actor:
                owner = str(getattr(quad.object, "value", quad.object)).removeprefix(ACTOR)
                raise NotSender(sender, name, owner)


def _check_messages(graphs: dict[str, list[Triple]]) -> None:
    """Each graph must still hold exactly one message, named as its graph and speaking of itself."""
    for name, triples in graphs.items():
        held = message_model.from_triples(triples)
        if held.iri != name:
            raise QueryRefused(
                f"the graph <{name}> must hold the message <{name}>, not <{held.iri}>"
            )


def _point_facts_in(by_graph: dict[str, set[ox.Quad]]) -> list[Triple]:
    """What a dump's own point maps state of their points' quantities, where a rule on readings
    holds for the quantity: the facts a loaded reading is checked with, as when it was taken in."""
    ruled = {ox.NamedNode(quantity) for quantity in readings.ruled_quantities()}
    return triples_of(
        q
        for name, graph in by_graph.items()
        if pointmaps.is_point_map_graph(name)
        for q in graph
        if q.predicate == _QUANTITY and q.object in ruled
    )


def _check_loadable(by_graph: dict[str, set[ox.Quad]]) -> None:
    maps = {
        pointmaps.name_of(ox.NamedNode(name)): triples_of(quads)
        for name, quads in by_graph.items()
        if pointmaps.is_point_map_graph(name)
    }
    try:
        pointmaps.described_once(maps)
    except pointmaps.PointMapConflict as error:
        raise QueryRefused(f"the dump's point maps disagree: {error}") from None
    for name, quads in by_graph.items():
        if not name:
            raise QueryRefused("the dump has quads in the default graph; the hub keeps it empty")
        if pointmaps.is_point_map_graph(name):
            found = pointmaps.problems(quads)
            if found:
                raise QueryRefused(f"the point map <{name}> breaks its shape: {'; '.join(found)}")
        elif name != LOG_GRAPH and not name.startswith(MESSAGE):
            raise QueryRefused(f"<{name}> is not a message graph (they start with {MESSAGE})")


def _message_triples(quads: Iterable[ox.Quad]) -> list[Triple]:
    """The triples of a message graph; RDF-star has no place in a message."""
    found = list(quads)
    for quad in found:
        if isinstance(quad.subject, ox.Triple) or isinstance(quad.object, ox.Triple):
            raise QueryRefused(f"a message cannot hold RDF-star triples: {quad}")
    return triples_of(found)


def _parse_error(error: SyntaxError) -> ParseError:
    """The parser's own message, with its line and column when it gives them."""
    return ParseError(*syntax_error_position(error))
