"""The operators' figures at /metrics, in Prometheus's text form (prometheus-client).

- `heila_messages_committed_total{type}` and `heila_messages_refused_total{type,rule}`: what
  the intake took and refused, whatever the door (HTTP or the MQTT inbox); a refused message's
  type is what its plain JSON says, else "unknown";
- `heila_intake_seconds`: from a message's arrival at the intake to its notification handed to
  the MQTT client (parse, validate, store, notify: the hub's share of POST → notification);
- `heila_query_seconds{endpoint}`: SPARQL and named-query requests, to their last byte;
- `heila_live_viewers` and `heila_last_sequence`, read when scraped.
Each application has a registry of its own, so several hubs in one process do not collide.
MQTT queue lengths per client are not here: the brokers do not expose them to the hub.
"""

import json
import time
from collections.abc import Callable

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import HubError, Invalid, NotSender, ParseError, RoleRefused
from hub.intake import Accepted, Committer, Intake
from hub.live import LiveFeed
from hub.replay import OutsideWindow, TimeWindow
from hub.roles import Roles
from hub.signature import SignatureRefused, Signing
from hub.store import Store
from hub.vocabulary import INFORMATION_OBJECTS

_FAST = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNKNOWN = "unknown"
_QUERY_PATHS = {"/sparql": "sparql", "/queries": "named"}


class Metrics:
    """The hub's instruments, in a registry of their own."""

    def __init__(self, store: Store, feed: LiveFeed) -> None:
        self.registry = CollectorRegistry()
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
        Gauge(
            "heila_live_viewers", "Viewers following /events", registry=self.registry
        ).set_function(lambda: feed.viewers)
        Gauge(
            "heila_last_sequence", "Sequence of the latest commit", registry=self.registry
        ).set_function(lambda: store.last_sequence)

    def refusal(self, error: HubError, data: bytes, media_type: str) -> None:
        kind = _type_named(data) if media_type == "application/json" else UNKNOWN
        for rule in _rules_of(error):
            self.refused.labels(kind, rule).inc()

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


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
            self._metrics.committed.labels(accepted.message.type).inc()
        return accepted


class QueryTiming:
    """Times requests to /sparql and /queries/... from their start to their last byte."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            _QUERY_PATHS.get("/" + scope["path"].split("/")[1]) if scope["type"] == "http" else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.metrics.query_seconds.labels(endpoint).observe(time.perf_counter() - started)

        await self.app(scope, receive, timed)


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
