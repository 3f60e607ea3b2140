"""`heila bench --scenario sparql-vs-oxigraph`: the hub's /sparql beside `oxigraph serve`.

Researchers could point their tools at an Oxigraph server instead of the hub; the hub's endpoint
must not cost them much more. The scenario posts 3,000 messages into the bench's hub, loads every
quad the hub's queries see (its dump, and the ontology, derived and registry graphs a dump leaves
out) into an Oxigraph server (the `oxigraph` command from PyPI, a development dependency) with
the same default graph (the union of all graphs), checks that both answer each query alike, and
times the same three queries against both, one after the other, from the same client: a lookup
of one message by id, an ordered scan of every message, and an aggregate by type.
"""

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pyoxigraph as ox

from hub.commands.bench import ADMIN, Bench, Figure, flexibility, post_concurrently, scenario
from hub.model.derived import DERIVED_GRAPH
from hub.model.errors import UsageError
from hub.model.vocabulary import MESSAGE, ONTOLOGY_IRI, SMARTAPI
from hub.mqtt.broker import free_port, wait_for_port
from hub.storage.results import TRUNCATED_HEADER
from hub.storage.store import REGISTRY_GRAPH

MESSAGES = 3_000
_FIRST = 9_000_000
_QUERIES = {
    "lookup by id": "SELECT ?p ?o WHERE {{ <{message}> ?p ?o }}",
    "ordered scan": (
        f"SELECT ?m ?t WHERE {{{{ ?m <{SMARTAPI}generatedAt> ?t }}}} ORDER BY ?t LIMIT 10000"
    ),
    "aggregate": "SELECT ?type (COUNT(?m) AS ?n) WHERE {{ ?m a ?type }} GROUP BY ?type",
}


def _oxigraph() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(found).exists():
        raise UsageError("the oxigraph command is missing: pip install oxigraph")
    return found


@contextmanager
def oxigraph_serving(dump: bytes) -> Iterator[str]:
    """An Oxigraph server over these N-Quads, read-only, on a free port; its /query URL."""
    with tempfile.TemporaryDirectory(prefix="heila-bench-oxigraph-") as folder:
        source = Path(folder) / "dump.nq"
        source.write_bytes(dump)
        location = str(Path(folder) / "store")
        subprocess.run(
            [_oxigraph(), "load", "--location", location, "--file", str(source)],
            check=True,
            capture_output=True,
        )
        port = free_port()
        command = [_oxigraph(), "serve-read-only", "--location", location, "--union-default-graph"]
        process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not wait_for_port("127.0.0.1", port, lambda: process.poll() is None):
                raise UsageError("oxigraph serve did not start")
            yield f"http://127.0.0.1:{port}/query"
        finally:
            process.terminate()
            process.wait(10)


_LEFT_OUT_OF_DUMPS = (ONTOLOGY_IRI, DERIVED_GRAPH, REGISTRY_GRAPH)


def _queried_quads(bench: Bench) -> bytes:
    """Every quad the hub's queries see, as N-Quads: its dump (messages and the log) and each
    graph a dump leaves out, read whole through /sparql."""
    admin = {"Authorization": f"Bearer {bench.tokens[ADMIN]}"}
    dump = httpx.get(f"{bench.url}/dump", headers=admin, timeout=120).content
    quads = list(ox.parse(dump, ox.RdfFormat.N_QUADS))
    for graph in _LEFT_OUT_OF_DUMPS:
        query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
        answer = httpx.get(
            f"{bench.url}/sparql",
            params={"query": query},
            headers={"Accept": "application/n-triples"},
            timeout=60,
        )
        answer.raise_for_status()
        if TRUNCATED_HEADER in answer.headers:
            raise UsageError(f"the graph {graph} is larger than the hub's result limit")
        named = ox.NamedNode(graph)
        triples = ox.parse(answer.content, ox.RdfFormat.N_TRIPLES)
        quads += (ox.Quad(t.subject, t.predicate, t.object, named) for t in triples)
    return ox.serialize(quads, format=ox.RdfFormat.N_QUADS) or b""


def _rows(client: httpx.Client, endpoint: str, query: str) -> list[str]:
    """A SELECT's rows, each as sorted JSON, in sorted order: what two servers must agree on.
    Blank nodes are labelled by each store itself, so only their place counts."""
    answer = client.get(endpoint, params={"query": query})
    answer.raise_for_status()
    rows = (
        {name: {"type": "bnode"} if term["type"] == "bnode" else term for name, term in row.items()}
        for row in answer.json()["results"]["bindings"]
    )
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def _timed(client: httpx.Client, endpoint: str, query: str) -> float:
    started = time.perf_counter()
    answer = client.get(endpoint, params={"query": query})
    answer.raise_for_status()
    return time.perf_counter() - started


@scenario("sparql-vs-oxigraph")
def sparql_against_oxigraph(bench: Bench) -> list[Figure]:
    """Each query `bench.count` times against the hub and against Oxigraph's own server,
    alternating; the hub's figures, with their ratio to Oxigraph's in the name."""
    bodies = [json.dumps(flexibility(_FIRST + n)).encode() for n in range(MESSAGES)]
    post_concurrently(bench, bodies)
    accept = {"Accept": "application/sparql-results+json"}
    figures: list[Figure] = []
    pick = random.Random(1)
    quads = _queried_quads(bench)
    with oxigraph_serving(quads) as oxigraph, httpx.Client(headers=accept, timeout=60) as client:
        for name, template in _QUERIES.items():
            probe = template.format(message=f"{MESSAGE}bench-flex-{_FIRST}")
            if _rows(client, f"{bench.url}/sparql", probe) != _rows(client, oxigraph, probe):
                raise UsageError(f"the hub and Oxigraph answer the {name} differently")
            hub: list[float] = []
            own: list[float] = []
            for _ in range(bench.count):
                number = _FIRST + pick.randrange(MESSAGES)
                query = template.format(message=f"{MESSAGE}bench-flex-{number}")
                hub.append(_timed(client, f"{bench.url}/sparql", query))
                own.append(_timed(client, oxigraph, query))
            ratio = sorted(hub)[len(hub) // 2] / sorted(own)[len(own) // 2]
            title = f"SPARQL {name}" if not figures else f"  SPARQL {name}"
            figures.append(Figure(f"{title}, x{ratio:.2f} oxigraph", bench.count, tuple(hub)))
            figures.append(Figure(f"    oxigraph serve {name}", bench.count, tuple(own)))
    return figures
