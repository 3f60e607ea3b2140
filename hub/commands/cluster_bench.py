"""`heila bench-cluster`: what a cluster of 1, 2 and 3 hub nodes commits and answers per second,
and its POST → notification latency, next to the single-process hub, in one run.

Everything runs on this machine: three NATS servers, the hub nodes and the clients share its
cores, so the figures show what the log costs and where the bounds are, not what separate
machines would reach (docs/deployment.md says what scales with nodes).
"""

import argparse
import itertools
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from paho.mqtt.enums import MQTTProtocolVersion

from hub.cluster.engine import NatsCluster
from hub.cluster.local import HubNode
from hub.commands.bench import RECIPIENT, SENDER, Subscriber, flexibility, hub_process
from hub.model.errors import UsageError
from hub.mqtt.broker import Mosquitto
from hub.trust.auth import new_token

CLIENTS = 4
QUERY = "SELECT ?m ?type WHERE { GRAPH ?m { ?m a ?type } } LIMIT 20"
_WAIT = 30.0
_JSON = {"content-type": "application/json"}
numbers = itertools.count(5_000_000)


@dataclass(frozen=True)
class Target:
    """The hub URLs a load balancer would spread clients over, and where actors hear MQTT."""

    name: str
    urls: Sequence[str]
    mqtt: tuple[str, int, MQTTProtocolVersion]


@dataclass(frozen=True)
class Row:
    name: str
    commits: float
    queries: float
    latency_ms: float

    def line(self) -> str:
        return f"{self.name:<26}{self.commits:>12.0f}{self.queries:>12.0f}{self.latency_ms:>14.1f}"


HEADER = f"{'hub':<26}{'commits/s':>12}{'queries/s':>12}{'POST->MQTT ms':>14}"


def _spread(urls: Sequence[str], jobs: list[Callable[[httpx.Client], None]]) -> float:
    """Run the jobs from CLIENTS threads, client i on node i mod n; jobs per second."""
    shares = [jobs[i::CLIENTS] for i in range(CLIENTS)]

    def work(url: str, share: list[Callable[[httpx.Client], None]]) -> None:
        with httpx.Client(base_url=url, timeout=_WAIT) as client:
            for job in share:
                job(client)

    threads = [
        threading.Thread(target=work, args=(urls[i % len(urls)], share))
        for i, share in enumerate(shares)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(jobs) / (time.perf_counter() - started)


def _post(token: str) -> Callable[[httpx.Client], None]:
    body = json.dumps(flexibility(next(numbers))).encode()
    headers = {"Authorization": f"Bearer {token}", **_JSON}

    def job(client: httpx.Client) -> None:
        client.post("/messages", content=body, headers=headers).raise_for_status()

    return job


def _ask(client: httpx.Client) -> None:
    client.get("/sparql", params={"query": QUERY}).raise_for_status()


def _latencies(target: Target, token: str, count: int) -> list[float]:
    """POST one Flexibility after the other to the first node; each one's time until the
    recipient, subscribed through the target's MQTT, hears of it."""
    host, port, protocol = target.mqtt
    ear = Subscriber(host, port, f"heila/v1/{RECIPIENT}/Flexibility", protocol)
    latencies = []
    try:
        with httpx.Client(base_url=target.urls[0], timeout=_WAIT) as client:
            for _ in range(count):
                document = flexibility(next(numbers))
                started = time.perf_counter()
                client.post(
                    "/messages",
                    content=json.dumps(document).encode(),
                    headers={"Authorization": f"Bearer {token}", **_JSON},
                ).raise_for_status()
                while (heard := ear.next(_WAIT)).body["id"] != document["id"]:
                    pass
                latencies.append(heard.at - started)
    finally:
        ear.stop()
    return latencies


def measure(target: Target, token: str, count: int) -> Row:
    commits = _spread(target.urls, [_post(token) for _ in range(count)])
    queries = _spread(target.urls, [_ask] * count)
    latency = statistics.median(_latencies(target, token, max(2, count // 4))) * 1000
    return Row(target.name, commits, queries, latency)


@contextmanager
def single_process(tokens: dict[str, str]) -> Iterator[Target]:
    with Mosquitto() as broker, hub_process(broker, tokens) as url:
        yield Target(
            "single process", [url], (broker.host, broker.port, MQTTProtocolVersion.MQTTv5)
        )


def clusters(tokens: dict[str, str], sizes: Sequence[int]) -> Iterator[Target]:
    """One NATS cluster, and hub nodes joining it one by one: a target per size reached."""
    with (
        tempfile.TemporaryDirectory(prefix="heila-bench-cluster-") as folder,
        NatsCluster(3) as nats,
    ):
        hubs: list[HubNode] = []
        try:
            for size in range(1, max(sizes) + 1):
                hub = HubNode(Path(folder) / f"hub-{size}", nats.nodes[size - 1], nats.urls, tokens)
                hub.start()
                hubs.append(hub)
                if size in sizes:
                    ear = nats.nodes[-1]
                    mqtt = (ear.host, ear.ports.mqtt, MQTTProtocolVersion.MQTTv311)
                    yield Target(f"cluster, {size} hub node(s)", [h.url for h in hubs], mqtt)
        finally:
            for hub in hubs:
                hub.stop()


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=400, help="messages and queries per run")
    parser.add_argument(
        "--nodes", type=int, nargs="+", default=[1, 2, 3], help="cluster sizes (1 to 3)"
    )


def run(args: argparse.Namespace) -> int:
    if args.count < 8:
        raise UsageError("--count must be at least 8")
    if not set(args.nodes) <= {1, 2, 3}:
        raise UsageError("--nodes takes sizes from 1 to 3")
    tokens = {actor: new_token() for actor in (SENDER, RECIPIENT)}
    print(HEADER, flush=True)
    with single_process(tokens) as target:
        print(measure(target, tokens[SENDER], args.count).line(), flush=True)
    for target in clusters(tokens, sorted(set(args.nodes))):
        print(measure(target, tokens[SENDER], args.count).line(), flush=True)
    return 0
