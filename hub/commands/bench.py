"""`heila bench`: how long a message takes through the hub, measured on loopback.

The bench starts its own Mosquitto and a hub (`heila serve` in a process of its own, so the hub
has its core and the clients theirs), then runs scenarios and prints medians and p99:
- `http`: POST /messages until a subscribed actor holds the notification;
- `http-under-queries`: the same while four clients ask the costliest queries the limits allow;
- `inbox`: publish to the MQTT inbox until a subscribed actor holds the notification;
- `http-sustained`: POST from several clients at once: messages per second over HTTP;
- `intake`: validate and store in the hub's own process, no network: messages per second;
- `live-viewers`: `http-sustained` in rounds, alternately with and without 5 viewers reading
  /events, so that the live view's cost to commits shows beside the machine's own drift.
Scenarios are a registry (`SCENARIOS`, name -> function); add one with `@scenario("name")`,
here or in a module listed in `SCENARIO_MODULES`.
"""

import argparse
import contextlib
import http.client
import importlib
import json
import multiprocessing
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from joserfc.jwk import OKPKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.intake import Intake, StoreCommitter
from hub.model.errors import UsageError
from hub.model.json_form import to_triples
from hub.mqtt.broker import Mosquitto, free_port
from hub.mqtt.notify import send_at_once
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from hub.trust.roles import Roles
from hub.trust.signature import HEADER as SIGNATURE_HEADER
from hub.trust.signature import PrivateKey, Signing, private_key, public_jwk, sign

SENDER = "mgms-1"
RECIPIENT = "ams-1"
ADMIN = "bench-admin"
"""An administrator, for the scenarios that read the whole store (GET /dump)."""
ORDERER = "control-room-1"
"""Who orders the microgrid's devices in the command scenarios: the DSO's control room, which
acts as its DMS and commands them through the MGMS (as in tests/bridge_fixtures.py)."""
_WAIT = 10.0
HEILA = (sys.executable, "-c", "import sys; from hub.commands.cli import main; sys.exit(main())")
"""The `heila` command run by this Python, installed or not."""
_JSON = {"content-type": "application/json"}
_CLIENTS = 4


@dataclass(frozen=True)
class Heard:
    """One MQTT message an actor received, with the moment it arrived (perf_counter)."""

    at: float
    topic: str
    body: dict[str, Any]


class Subscriber:
    """An actor's ear: a client subscribed to one topic filter, keeping what it hears in order."""

    def __init__(
        self,
        host: str,
        port: int,
        topic_filter: str,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
        login: tuple[str, str] | None = None,
    ) -> None:
        self._heard: queue.Queue[Heard] = queue.Queue()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        send_at_once(self._client)
        if login is not None:
            self._client.username_pw_set(*login)
        self._client.connect(host, port)
        self._client.loop_start()
        self.subscribe(topic_filter)

    def subscribe(self, topic_filter: str) -> None:
        """Listen to one more topic filter, once the broker has confirmed it."""
        self._subscribed.clear()
        self._client.subscribe(topic_filter, qos=1)
        if not self._subscribed.wait(_WAIT):
            raise TimeoutError(f"the broker did not confirm the subscription to {topic_filter}")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        at = time.perf_counter()
        self._heard.put(Heard(at, message.topic, json.loads(message.payload)))

    def next(self, timeout: float = _WAIT) -> Heard:
        """The next message heard; TimeoutError when none comes within `timeout` seconds."""
        try:
            return self._heard.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"nothing heard within {timeout} s") from None

    def silent(self, seconds: float) -> bool:
        """True when nothing is heard for `seconds`."""
        try:
            self._heard.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def publish(
        self,
        topic: str,
        body: bytes,
        content_type: str | None = None,
        signature: str | None = None,
    ) -> None:
        """Publish at QoS 1 from this actor's connection, waiting for the broker's PUBACK; the
        content type and a signature go in MQTT v5 properties."""
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if content_type is not None:
            properties.ContentType = content_type
        if signature is not None:
            properties.UserProperty = [(SIGNATURE_HEADER, signature)]
        given = properties if content_type or signature else None  # none at all over MQTT 3.1.1
        self._client.publish(topic, body, qos=1, properties=given).wait_for_publish(_WAIT)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(frozen=True)
class Bench:
    """What every scenario may use: the hub's URL, its broker, the actors' tokens, a count."""

    url: str
    broker: Mosquitto
    tokens: dict[str, str]
    count: int


@dataclass(frozen=True)
class Figure:
    """One measured path over `count` messages: its latencies in seconds and/or its rate (when
    not given, the rate of one message after the other: 1 / mean latency)."""

    name: str
    count: int
    latencies: tuple[float, ...] = ()
    per_second: float | None = None

    def row(self) -> str:
        if not self.latencies:
            return f"{self.name:<28}{self.count:>7}{'':>10}{'':>10}{self.per_second or 0:>12.0f}"
        p50 = statistics.median(self.latencies) * 1000
        p99 = _p99(self.latencies) * 1000
        rate = self.per_second or 1 / statistics.mean(self.latencies)
        return f"{self.name:<28}{self.count:>7}{p50:>10.2f}{p99:>10.2f}{rate:>12.0f}"


def _p99(latencies: tuple[float, ...]) -> float:
    """The 99th percentile; of a single latency (a scenario whose other rounds failed), itself."""
    return statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]


HEADER = f"{'path':<28}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'msg/s':>12}"

Scenario = Callable[[Bench], Figure | list[Figure]]
SCENARIOS: dict[str, Scenario] = {}
SCENARIO_MODULES = (
    "actors.bridge.bench",
    "actors.bridge.iec61850.bench",
    "actors.bridge.dlms.bench",
    "hub.commands.sparql_bench",
)
"""Modules elsewhere that register more scenarios with @scenario when imported."""


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[name] = function
        return function

    return register


def flexibility(number: int, sender: str = SENDER) -> dict[str, Any]:
    """A valid Flexibility from the MGMS to the AMS, as in the paper's measured path."""
    start = datetime(2026, 11, 26, 17, tzinfo=UTC) + timedelta(hours=number)
    return {
        "type": "Flexibility",
        "id": f"bench-flex-{number}",
        "sender": sender,
        "time": datetime.now(UTC).isoformat(),
        "recipients": [RECIPIENT],
        "references": [],
        "flexibilityType": "up",
        "power": 50.0,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "location": "cp-1",
    }


def _await(ear: Subscriber, identifier: str) -> float:
    while True:
        heard = ear.next()
        if heard.body.get("id") == identifier:
            return heard.at


def _posted_until_heard(bench: Bench, first: int) -> tuple[float, ...]:
    """POST `bench.count` Flexibilities one after the other; each one's time from the POST
    until the recipient's subscriber holds its notification."""
    ear = Subscriber(bench.broker.host, bench.broker.port, f"heila/v1/{RECIPIENT}/Flexibility")
    with httpx.Client(base_url=bench.url, timeout=_WAIT) as client:
        latencies = tuple(
            _round_trip(client, ear, flexibility(number), bench.tokens[SENDER])
            for number in range(first, first + bench.count)
        )
    ear.stop()
    return latencies


def _round_trip(
    client: httpx.Client,
    ear: Subscriber,
    document: dict[str, Any],
    token: str,
    key: PrivateKey | None = None,
) -> float:
    """From the moment the sender starts (signing first, with `key`) until `ear` holds the
    message's notification."""
    started = time.perf_counter()
    body = json.dumps(document).encode()
    headers = {**_JSON, "Authorization": f"Bearer {token}"}
    if key is not None:
        headers[SIGNATURE_HEADER] = sign(to_triples(document), key)
    answer = client.post("/messages", content=body, headers=headers)
    if answer.status_code != 201:
        raise UsageError(f"the hub refused the bench's message: {answer.text}")
    return _await(ear, document["id"]) - started


@scenario("http")
def http_to_notification(bench: Bench) -> Figure:
    """POST /messages until the recipient's subscriber holds the notification."""
    return Figure("HTTP POST -> notification", bench.count, _posted_until_heard(bench, 1_000_000))


@scenario("signed")
def signed_beside_unsigned(bench: Bench) -> list[Figure]:
    """POST -> notification of signed Flexibilities (Ed25519, signed by the client just before
    it posts, so signing and the hub's verifying both count) beside unsigned ones from another
    MGMS, one of each in turn; the signed path's added median (ms) is in its name."""
    key = OKPKey.generate_key("Ed25519")
    signer = {"id": "mgms-signing", "role": "MGMS", "keys": [public_jwk(key)], "signed": True}
    admin = {"Authorization": f"Bearer {bench.tokens[ADMIN]}"}
    token = httpx.post(f"{bench.url}/actors", json=signer, headers=admin).json()["token"]
    ready = private_key(key)
    ear = Subscriber(bench.broker.host, bench.broker.port, f"heila/v1/{RECIPIENT}/Flexibility")
    plain: list[float] = []
    signed: list[float] = []
    with httpx.Client(base_url=bench.url, timeout=_WAIT) as client:
        for number in range(3_000_000, 3_000_000 + 2 * bench.count, 2):
            plain.append(_round_trip(client, ear, flexibility(number), bench.tokens[SENDER]))
            document = flexibility(number + 1, "mgms-signing")
            signed.append(_round_trip(client, ear, document, token, ready))
    ear.stop()
    added = (statistics.median(signed) - statistics.median(plain)) * 1000
    return [
        Figure(f"signed POST -> notif. {added:+.2f}", bench.count, tuple(signed)),
        Figure("  unsigned, in turn with it", bench.count, tuple(plain)),
    ]


COSTLY_QUERIES = (
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
    "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i",
)
"""What the limits allow at their dearest: a count that runs until its time is up, and a sort
that grows its worker until its memory bound."""


@scenario("http-under-queries")
def http_while_costly_queries_run(bench: Bench) -> Figure:
    """POST /messages until notified while 4 clients keep asking the costliest queries (each
    client waits 0.1 s after an answer that the hub is busy, as a polite client would, and
    gives up waiting for one after 2 s, which leaves the query running to its limit)."""
    running = True

    def ask(query: str) -> None:
        headers = {"content-type": "application/sparql-query"}
        with httpx.Client(base_url=bench.url, headers=headers, timeout=2) as client:
            while running:
                try:
                    if client.post("/sparql", content=query).status_code == 503:
                        time.sleep(0.1)
                except httpx.TimeoutException:  # the query runs on in the hub, to its limit
                    pass

    clients = [threading.Thread(target=ask, args=(COSTLY_QUERIES[n % 2],)) for n in range(_CLIENTS)]
    for client in clients:
        client.start()
    time.sleep(1.0)
    try:
        latencies = _posted_until_heard(bench, 8_000_000)
    finally:
        running = False
        for client in clients:
            client.join()
    name = f"... while {_CLIENTS} clients query"
    return Figure(name, bench.count, latencies)


@scenario("inbox")
def inbox_to_notification(bench: Bench) -> Figure:
    """Publish to the sender's inbox until the recipient's subscriber holds the notification."""
    ear = Subscriber(bench.broker.host, bench.broker.port, f"heila/v1/{RECIPIENT}/Flexibility")
    sender = Subscriber(bench.broker.host, bench.broker.port, f"heila/v1/{SENDER}/outcome")
    latencies = []
    for number in range(bench.count):
        document = flexibility(number + 2_000_000)
        body = json.dumps(document).encode()
        started = time.perf_counter()
        sender.publish(f"heila/v1/inbox/{SENDER}", body)
        latencies.append(_await(ear, document["id"]) - started)
    ear.stop()
    sender.stop()
    return Figure("MQTT inbox -> notification", bench.count, tuple(latencies))


@scenario("http-sustained")
def http_sustained_rate(bench: Bench) -> Figure:
    """POST /messages from several clients at once: what the hub's process sustains over HTTP."""
    bodies = [json.dumps(flexibility(n + 4_000_000)).encode() for n in range(bench.count)]
    rate = post_concurrently(bench, bodies)
    return Figure(f"HTTP, {_CLIENTS} clients at once", bench.count, per_second=rate)


def post_concurrently(bench: Bench, bodies: list[bytes]) -> float:
    """POST the bodies from `_CLIENTS` clients at once; answers the messages per second."""
    headers = {"Authorization": f"Bearer {bench.tokens[SENDER]}", **_JSON}
    shares = [bodies[i::_CLIENTS] for i in range(_CLIENTS)]

    def send(share: list[bytes]) -> None:
        with httpx.Client(base_url=bench.url, headers=headers) as client:
            for body in share:
                client.post("/messages", content=body).raise_for_status()

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(bodies) / (time.perf_counter() - started)


class LiveViewer:
    """A browser following /events, reduced to counting the events it reads."""

    def __init__(self, url: str) -> None:
        self.events = 0
        address = urlsplit(url)
        self._connection = http.client.HTTPConnection(address.hostname or "", address.port)
        self._connection.request("GET", "/events")
        self._response = self._connection.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
            while line := self._response.readline():
                self.events += line.startswith(b"id:")
        self._connection.close()

    def stop(self) -> None:
        """Close as a browser does; the reader then sees the end."""
        if self._connection.sock is not None:
            self._connection.sock.shutdown(socket.SHUT_RDWR)


VIEWERS = 5
ROUNDS = 5


def _watch(url: str, viewers: int, link: Connection) -> None:
    """In a process of its own: follow /events with `viewers` viewers (at least one); once told
    how many events to expect, answer the fewest any viewer read by then (or by a deadline)."""
    watching = [LiveViewer(url) for _ in range(viewers)]
    link.send("ready")
    expected = link.recv()
    deadline = time.monotonic() + _WAIT
    while min(v.events for v in watching) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    link.send(min(v.events for v in watching))
    for viewer in watching:
        viewer.stop()


@contextmanager
def audience(url: str, viewers: int) -> Iterator[Callable[[int], bool]]:
    """Viewers in a process apart, so their reading takes nothing from the posting clients'
    interpreter; yields a check that each viewer read the given number of events."""
    here, there = multiprocessing.Pipe()
    watcher = multiprocessing.get_context("spawn").Process(
        target=_watch, args=(url, viewers, there), daemon=True
    )
    watcher.start()
    if not here.poll(_WAIT * 3) or here.recv() != "ready":
        raise UsageError("the live viewers did not connect")

    def read_all(expected: int) -> bool:
        here.send(expected)
        return bool(here.recv() >= expected)

    try:
        yield read_all
    finally:
        watcher.join(_WAIT)


def _watched_round(bench: Bench, bodies: list[bytes]) -> float:
    """Messages per second posted while the live viewers read; each must read every one."""
    with audience(bench.url, VIEWERS) as read_all:
        rate = post_concurrently(bench, bodies)
        if not read_all(len(bodies)):
            raise UsageError("a live viewer missed events")
    return rate


@scenario("live-viewers")
def live_viewers_cost(bench: Bench) -> Figure:
    """Commits per second over HTTP with 5 live viewers reading, against rounds with none."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    number = 5_000_000
    for round_number in range(ROUNDS):
        for watched in (False, True) if round_number % 2 else (True, False):  # drift both ways
            bodies = [json.dumps(flexibility(number + n)).encode() for n in range(bench.count)]
            number += bench.count
            rates[watched].append(
                _watched_round(bench, bodies) if watched else post_concurrently(bench, bodies)
            )
    alone, seen = statistics.median(rates[False]), statistics.median(rates[True])
    name = f"HTTP, {VIEWERS} viewers {seen / alone - 1:+.0%}"
    return Figure(name, bench.count * ROUNDS, per_second=seen)


@scenario("intake")
def intake_rate(bench: Bench) -> Figure:
    """Parse, validate and store on disk in one thread, no network: the hub's own ceiling."""
    bodies = [json.dumps(flexibility(n + 3_000_000)).encode() for n in range(bench.count)]
    latencies = []
    with tempfile.TemporaryDirectory(prefix="heila-bench-store-") as folder:
        store = open_store(folder)
        intake = Intake(
            store,
            StoreCommitter(store, lambda _message, _stored: None),
            Roles({}),
            lambda _actor: Signing(),
        )
        started = time.perf_counter()
        for body in bodies:
            before = time.perf_counter()
            intake.submit(body, "application/json", SENDER)
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
        store.close()
    return Figure("validate + store (1 core)", bench.count, tuple(latencies), bench.count / elapsed)


@contextmanager
def hub_process(broker: Mosquitto, tokens: dict[str, str]) -> Iterator[str]:
    """`heila serve` in a process of its own, with its default kind of store (on disk, in a
    temporary folder); yields its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="heila-bench-") as folder:
        config = Path(folder) / "hub.toml"
        config.write_text(
            "".join(
                f'[actors.{actor}]\ntoken_hash = "{hash_token(token)}"\n'
                + ("admin = true\n" if actor == ADMIN else "")
                + ('role = "DMS"\n' if actor == ORDERER else "")
                for actor, token in tokens.items()
            ),
            encoding="utf-8",
        )
        command = [*HEILA, "serve", "--config", str(config), "--store", f"{folder}/store"]
        command += ["--port", str(port), "--mqtt", broker.url, "--log-level", "warning"]
        process = subprocess.Popen(command)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(url, process)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(_WAIT)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UsageError("the hub did not start; see its log above")
        try:
            if httpx.get(f"{url}/health").json().get("broker") == "connected":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise UsageError("the hub did not become healthy within 30 s")


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    for module in SCENARIO_MODULES:
        importlib.import_module(module)
    parser.add_argument("--count", type=int, default=1000, help="messages per scenario")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="run only these scenarios (repeatable; default all)",
    )


def run(args: argparse.Namespace) -> int:
    if args.count < 2:
        raise UsageError("--count must be at least 2")
    tokens = {actor: new_token() for actor in (SENDER, RECIPIENT, ADMIN, ORDERER)}
    print(HEADER)
    with Mosquitto() as broker, hub_process(broker, tokens) as url:
        bench = Bench(url, broker, tokens, args.count)
        for name in args.scenario or SCENARIOS:
            measured = SCENARIOS[name](bench)
            for figure in measured if isinstance(measured, list) else [measured]:
                print(figure.row(), flush=True)
    return 0
