"""The operators' figures at /metrics, in Prometheus's text form (prometheus-client).

- `heila_messages_committed_total{type}` and `heila_messages_refused_total{type,rule}`: what
  the intake took and refused, whatever the door (HTTP or the MQTT inbox); a refused message's
  type is what its plain JSON says, else "unknown";
- `heila_intake_seconds`: from a message's arrival at the intake to its notification handed to
  the MQTT client (parse, validate, store, notify: the hub's share of POST → notification);
- `heila_query_seconds{endpoint}`: SPARQL and named-query requests, to their last byte;
- `heila_readings_committed_total{point}`: the readings of committed Measurements by the field
  point they were read from (every reading names one), "other" for points past the first
  `MOST_POINTS` (5,000) named, and
  `heila_command_outcomes_total{state}`: the outcomes of commands (Control Signals with a
  `state`: executed, failed, expired) as the field bridge reported them. The bridge is one more
  process behind the hub: counting what the hub commits tells the operator what the hub holds,
  with no port of its own to open and scrape;
- `heila_live_viewers` and `heila_last_sequence`, read when scraped;
- `heila_mqtt_queued_messages{client}`, with the embedded broker only: per MQTT client id, the
  messages its session holds for it (kept while it is away, and sent but not yet acknowledged),
  read when scraped. Mosquitto tells no one its queues per client (`$SYS` gives totals).
Each application has a registry of its own, so several hubs in one process do not collide.
"""

import collections
import json
import time
from collections.abc import Callable, Iterator, Mapping

import pyoxigraph as ox
from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.intake import Accepted, Committer, Intake
from hub.model.errors import HubError, Invalid, NotSender, ParseError, RoleRefused
from hub.model.message import Message as HubMessage
from hub.model.vocabulary import HEILA, INFORMATION_OBJECTS, POINT
from hub.storage.store import Store
from hub.trust.replay import OutsideWindow, TimeWindow
from hub.trust.roles import Roles
from hub.trust.signature import SignatureRefused, Signing
from hub.web.live import LiveFeed

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNKNOWN = "unknown"
_QUERY_PATHS = {"/sparql": "sparql", "/queries": "named"}
OTHER_POINTS = "other"
MOST_POINTS = 5000
"""Points counted by name; readings of any further point count as "other", so that writers
naming ever new points cannot grow the hub's memory or its scrapes without bound."""
_READING = ox.NamedNode(HEILA + "reading")
_POINT = ox.NamedNode(HEILA + "point")
_COMMAND_STATE = ox.NamedNode(HEILA + "commandState")
QueueLengths = Callable[[], Mapping[str, int]]
"""Messages waiting per MQTT client id, as a broker tells them."""


class Metrics:
    """The hub's instruments, in a registry of their own."""

    def __init__(
        self,
        store: Store,
        feed: LiveFeed,
        queue_lengths: QueueLengths | None = None,
        most_points: int = MOST_POINTS,
    ) -> None:
        self.registry = CollectorRegistry()
        self._points: set[str] = set()
        self._most_points = most_points
        self.committed = Counter(
            "heila_messages_committed",
            "Messages stored, by type",
            ["type"],
            registry=self.registry,
        )
        self.refused = Counter(
            "heila_messages_refused",
            "Messages refused, by their type and the rule they broke",
            ["type", "rule"],
            registry=self.registry,
        )
        self.intake_seconds = Histogram(
            "heila_intake_seconds",
            "From a message's arrival at the intake to its notification handed to MQTT",
            buckets=_FAST,
            registry=self.registry,
        )
        self.query_seconds = Histogram(
            "heila_query_seconds",
            "SPARQL and named-query requests, to their last byte",
            ["endpoint"],
            buckets=_FAST,
            registry=self.registry,
        )
        self.readings = Counter(
            "heila_readings_committed",
            "Readings of committed Measurements, by the point they were read from",
            ["point"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "heila_command_outcomes",
            "Outcomes of commands the field reported (Control Signals with a state), by state",
            ["state"],
            registry=self.registry,
        )
        Gauge(
            "heila_live_viewers", "Viewers following /events", registry=self.registry
        ).set_function(lambda: feed.viewers)
        Gauge(
            "heila_last_sequence", "Sequence of the latest commit", registry=self.registry
        ).set_function(lambda: store.last_sequence)
        if queue_lengths is not None:
            self.registry.register(MqttQueues(queue_lengths))

    def commit(self, message: HubMessage) -> None:
        """Count a committed message, and what it says of the field: readings and outcomes."""
        self.committed.labels(message.type).inc()
        if message.type == "Measurement":
            for point, count in _points_read(message).items():
                self.readings.labels(self._point_label(point)).inc(count)
        node = message.body_index.get(ox.NamedNode(message.iri), {})  # readings not parsed
        for state in node.get(_COMMAND_STATE, ()):
            self.outcomes.labels(_state_word(state)).inc()

    def _point_label(self, name: str) -> str:
        """A point's id, while fewer than `most_points` have been named; "other" after that."""
        if name not in self._points:
            if len(self._points) >= self._most_points:
                return OTHER_POINTS
            self._points.add(name)
        return name

    def refusal(self, error: HubError, data: bytes, media_type: str) -> None:
        kind = _type_named(data) if media_type == "application/json" else UNKNOWN
        for rule in _rules_of(error):
            self.refused.labels(kind, rule).inc()

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _points_read(message: HubMessage) -> Mapping[str, int]:
    """How many of a Measurement's readings name each point, by id: a Measurement read in
    columns counted them as it was read, so its readings' triples are never made here."""
    if message.readings is not None:
        return message.readings.points
    index = message.index
    node = index.get(ox.NamedNode(message.iri), {})
    return collections.Counter(
        point.value.removeprefix(POINT)
        for reading in node.get(_READING, ())
        for point in index.get(reading, {}).get(_POINT, ())
    )


def _state_word(state: ox.NamedNode | ox.BlankNode | ox.Literal) -> str:
    """A command state as plain JSON spells it: heila:Executed -> executed."""
    local = state.value.removeprefix(HEILA)
    return local[:1].lower() + local[1:]


class MqttQueues(Collector):  # type: ignore[misc]
    """The messages each MQTT client has waiting at the broker, asked for at each scrape."""

    def __init__(self, queue_lengths: QueueLengths) -> None:
        self._queue_lengths = queue_lengths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "heila_mqtt_queued_messages",
            "Messages an MQTT client's session holds for it: kept while away, or unacknowledged",
            labels=["client"],
        )
        for client, length in sorted(self._queue_lengths().items()):
            family.add_metric([client], length)
        yield family


def _type_named(data: bytes) -> str:
    """The information object a refused JSON body says it is, if it names one of them."""
    try:
        named = json.loads(data).get("type")
    except (ValueError, AttributeError, RecursionError):
        return UNKNOWN
    return named if named in INFORMATION_OBJECTS else UNKNOWN


def _rules_of(error: HubError) -> list[str]:
    """The rules a refused message broke, each once."""
    if isinstance(error, Invalid):
        return sorted({violation.rule for violation in error.violations})
    if isinstance(error, ParseError):
        return ["parse"]
    if isinstance(error, NotSender):
        return ["sender"]
    if isinstance(error, RoleRefused):
        return ["role"]
    if isinstance(error, SignatureRefused):
        return ["signature"]
    if isinstance(error, OutsideWindow):
        return ["window"]
    return [type(error).__name__]


class MeteredIntake(Intake):
    """The intake, counting what it takes and refuses and timing each message through it."""

    def __init__(
        self,
        store: Store,
        committer: Committer,
        roles: Roles,
        signing: Callable[[str], Signing],
        metrics: Metrics,
        window: TimeWindow,
    ) -> None:
        super().__init__(store, committer, roles, signing, window)
        self._metrics = metrics

    def submit(
        self, data: bytes, media_type: str, actor: str, signature: str | None = None
    ) -> Accepted:
        started = time.perf_counter()
        try:
            accepted = super().submit(data, media_type, actor, signature)
        except HubError as error:
            self._metrics.refusal(error, data, media_type)
            raise
        if accepted.stored.created:
            self._metrics.intake_seconds.observe(time.perf_counter() - started)
            self._metrics.commit(accepted.message)
        return accepted


class QueryTiming:
    """Times requests to /sparql and /queries/... from their start to their last byte: their
    answers are whole, sent before the application returns."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._seconds = {
            path: metrics.query_seconds.labels(endpoint) for path, endpoint in _QUERY_PATHS.items()
        }
        """Each endpoint's series, looked up once rather than on every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = (
            self._seconds.get("/" + scope["path"].split("/")[1])
            if scope["type"] == "http"
            else None
        )
        if seconds is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        seconds.observe(time.perf_counter() - started)


def metrics_router(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
        summary="The hub's figures in Prometheus's text form",
    )
    def metrics_endpoint() -> Response:
        return metrics.exposition()

    return router
