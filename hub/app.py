"""The hub as one ASGI application: routes, MQTT, and one answer shape for every error.

`create_app` wires the store to the message API, the SPARQL endpoint and the named queries,
connects to the broker (starting the embedded one when no URL is configured) and turns every
error into an RFC 9457 problem report: a 4xx that names the rule and the field, or a bare 500
whose trace stays in the log.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.cluster.node import ClusterNode
from hub.config import EMBEDDED, Settings
from hub.intake import StoreCommitter
from hub.model import message as message_model
from hub.model.errors import HubError
from hub.mqtt.broker import EmbeddedBroker
from hub.mqtt.broker_admission import client_limits
from hub.mqtt.inbox import Inbox
from hub.mqtt.notify import Notifier
from hub.storage import backup
from hub.storage.query_pool import QueryPool
from hub.storage.results import TRUNCATED_HEADER
from hub.storage.store import OxigraphStore, Stored
from hub.trust.auth import Credentials
from hub.trust.registry import Registry
from hub.trust.replay import TimeWindow
from hub.trust.roles import Roles
from hub.trust.signature import check_written
from hub.web import (
    api,
    assets,
    console,
    guide,
    live,
    liveview,
    metrics,
    ontology_page,
    openapi,
    pointmap_admin,
    queries,
    sparql,
)
from hub.web.api_docs import api_docs_router
from hub.web.authentication import administrator, authenticated_actor
from hub.web.problem import Problem, problem_of
from hub.web.read_after import ReadAfter
from hub.web.registry_admin import registry_router

log = logging.getLogger(__name__)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        "Body too large",
        f"bodies are limited to {limit} bytes",
        field="body",
        rule="maxBytes",
    )


class BodyLimit:
    """Refuses bodies over `limit` bytes, by their Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit).response(scope["path"])(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _too_large(self.limit)
            return message

        await self.app(scope, limited, send)


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""The hub exports no OpenTelemetry (its figures are at /metrics); without this, FastAPI asks
OpenTelemetry's three global providers on every request whether they are set up."""


async def _problem_response(request: Request, error: Exception) -> Response:
    problem = problem_of(error)
    if problem.status_code == 405:
        problem.headers = {**(problem.headers or {}), "Allow": _allowed(request)}
    return problem.response(request.url.path)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed(request: Request) -> str:
    """Every method some route takes on the request's path: Starlette's 405 names only those of
    the first route whose path matched, and a path may have one route per method."""
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    )


def _notifier(settings: Settings, broker: EmbeddedBroker | None) -> Notifier:
    """The hub's MQTT client; it logs in to the embedded broker with the secret that broker
    made, to any other with the configured username and password."""
    host, port = settings.mqtt_address
    username, password = (
        broker.hub_login if broker is not None else (settings.mqtt_username, settings.mqtt_password)
    )
    return Notifier(
        host,
        port,
        client_id=settings.mqtt_client_id,
        username=username,
        password=password,
        protocol=mqtt.MQTTv311 if settings.mqtt == EMBEDDED or settings.clustered else mqtt.MQTTv5,
        payload=settings.notify_payload,
        tls=settings.mqtt_tls,
    )


def _broker_tls(settings: Settings) -> tuple[str, str] | None:
    """The embedded broker's certificate and key: the HTTPS ones, when it is to speak TLS."""
    certificate, key = settings.tls_certfile, settings.tls_keyfile
    if not settings.embedded_mqtt_tls or certificate is None or key is None:
        return None
    return certificate, key


class HubApplication(FastAPI):
    """FastAPI with the hub's own layers (SPARQL, body limit, query timing, CORS, reads after a
    sequence) in front of the framework's, not inside them.

    FastAPI wraps the middleware it is given in three layers of its own: server errors,
    OpenTelemetry's exceptions and its own body limit. A request to /sparql needs none of them:
    the endpoint answers every error itself, the hub exports no telemetry and limits bodies
    itself. In front, such a request meets only the hub's layers; every other request goes on
    from them through the framework's, as before."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._front: ASGIApp = super().__call__

    def add_in_front(self, layer: Callable[[ASGIApp], ASGIApp]) -> None:
        """Wrap the application in `layer`, which a request meets before any layer added before."""
        self._front = layer(self._front)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._front(scope, receive, send)


def create_app(settings: Settings, store: OxigraphStore) -> FastAPI:
    """The hub over `store`; MQTT starts and stops with the application's lifespan."""
    actors = Registry(store)  # the configured actors join the registered ones, and the hub
    actors.configure(settings.actors)  # reads this registry at each check from now on
    broker = (
        EmbeddedBroker(
            settings.embedded_mqtt_port, actors, client_limits(settings), tls=_broker_tls(settings)
        )
        if settings.mqtt == EMBEDDED
        else None
    )
    notifier = _notifier(settings, broker)
    feed = live.LiveFeed(settings.live_queue_length, settings.live_viewers)

    def announce(message: message_model.Message, stored: Stored) -> None:
        notifier.notify(message, stored)
        feed.publish(message, stored)

    measured = metrics.Metrics(store, feed, broker.queue_lengths if broker else None)
    node = ClusterNode(settings, store, feed.publish, actors.apply) if settings.clustered else None
    committer = node or StoreCommitter(store, announce)
    intake = metrics.MeteredIntake(
        store,
        committer,
        Roles(actors),
        actors.signing,
        measured,
        TimeWindow(settings.trust_window),
    )
    inbox = Inbox(notifier, intake, actors.revoked)
    if node is not None:  # on a cluster, registry changes go through the log and the nodes
        actors.share(node.change_actor)  # share the inbox through NATS, as they share the log
        node.take_inbox(inbox.take)
    pool = QueryPool(store, store.limits)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool.serve_on(asyncio.get_running_loop())
        if broker is not None:
            broker.start()
        if node is None:  # before connecting: the broker resends a session's unacknowledged
            inbox.start()  # messages at once, and one without a handler is never acknowledged
        notifier.start()
        if node is not None:
            node.start()
        try:
            yield
        finally:
            pool.close()
            if node is not None:
                node.stop()
            else:
                inbox.stop()
            notifier.stop()
            if broker is not None:
                broker.stop()

    app = HubApplication(
        title="HEILA hub",
        summary="Information objects of a distribution grid's flexibility market, as one graph",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=_NO_TELEMETRY,
    )
    credentials = Credentials(actors)
    writer = authenticated_actor(credentials)
    # A browser's pages on the API's own paths come first, as plain routes that cost a request
    # one path match; the other pages come after the API, which never tries them.
    console_page = console.add_pages(app.router)
    for add_pages in (ontology_page.add_pages, guide.add_pages):
        add_pages(app.router)
    administrator_only = administrator(credentials)
    app.include_router(api.message_router(store, intake, writer, lambda: notifier.connected))
    app.include_router(queries.queries_router(pool))
    app.include_router(live.events_router(feed, store))
    app.include_router(liveview.liveview_router(store))
    app.include_router(metrics.metrics_router(measured))
    app.include_router(backup.dump_router(store, administrator_only))
    app.include_router(pointmap_admin.point_map_router(store, administrator_only))
    app.include_router(registry_router(actors, administrator_only))
    app.include_router(console.console_router())
    app.include_router(guide.guide_router())
    app.include_router(api_docs_router(app.openapi_url or "/openapi.json"))
    app.mount(assets.prefix(), assets.files(), name="static")
    for error in (Exception, HTTPException, RequestValidationError, HubError):
        app.add_exception_handler(error, _problem_response)
    app.add_in_front(
        partial(
            sparql.SparqlEndpoint,
            store=store,
            pool=pool,
            authorise_administrator=administrator_only,
            page=console_page,
            updates=not settings.clustered,
            check=lambda graphs: check_written(graphs, actors.signing),
        )
    )
    app.add_in_front(partial(BodyLimit, limit=settings.max_body_bytes))
    app.add_in_front(partial(metrics.QueryTiming, metrics=measured))
    if settings.cors_origins:  # without origins, no middleware and no work per request
        app.add_in_front(
            partial(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Accept", "Authorization", "Content-Type"],
                expose_headers=[TRUNCATED_HEADER, "Link", "Location"],
            )
        )
    if node is not None:
        app.add_in_front(partial(ReadAfter, node=node, waited=settings.cluster_read_wait))

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.with_components(
                get_openapi(
                    title=app.title, version=app.version, summary=app.summary, routes=app.routes
                )
            )
        return app.openapi_schema

    app.state.live = feed  # hub.commands.server ends its streams when it stops
    app.openapi = document  # type: ignore[method-assign]
    return app
