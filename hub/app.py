"""The hub as one ASGI application: routes, MQTT, and one answer shape for every error.

`create_app` wires the store to the message API, the SPARQL endpoint and the named queries,
connects to the broker (starting the embedded one when no URL is configured) and turns every
error into an RFC 9457 problem report: a 4xx that names the rule and the field, or a bare 500
whose trace stays in the log.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import paho.mqtt.client as mqtt
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import api, openapi, queries, sparql
from hub.auth import Credentials, authenticated_actor
from hub.broker import EmbeddedBroker
from hub.broker_admission import client_limits
from hub.config import EMBEDDED, Settings
from hub.errors import HubError
from hub.inbox import Inbox
from hub.intake import Intake
from hub.notify import Notifier
from hub.problem import Problem, problem_of
from hub.store import Store

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


async def _problem_response(request: Request, error: Exception) -> Response:
    return problem_of(error).response(request.url.path)


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
        protocol=mqtt.MQTTv311 if settings.mqtt == EMBEDDED else mqtt.MQTTv5,
        payload=settings.notify_payload,
    )


def create_app(settings: Settings, store: Store) -> FastAPI:
    """The hub over `store`; MQTT starts and stops with the application's lifespan."""
    broker = (
        EmbeddedBroker(settings.embedded_mqtt_port, settings.actors, client_limits(settings))
        if settings.mqtt == EMBEDDED
        else None
    )
    notifier = _notifier(settings, broker)
    intake = Intake(store, notifier.notify)
    inbox = Inbox(notifier, intake)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if broker is not None:
            broker.start()
        notifier.start()
        inbox.start()
        try:
            yield
        finally:
            inbox.stop()
            notifier.stop()
            if broker is not None:
                broker.stop()

    app = FastAPI(
        title="HEILA hub",
        summary="Information objects of a distribution grid's flexibility market, as one graph",
        lifespan=lifespan,
    )
    writer = authenticated_actor(Credentials(settings.actors))
    app.include_router(api.message_router(store, intake, writer, lambda: notifier.connected))
    app.include_router(sparql.sparql_router(store, writer))
    app.include_router(queries.queries_router(store))
    for error in (Exception, HTTPException, RequestValidationError, HubError):
        app.add_exception_handler(error, _problem_response)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.with_components(
                get_openapi(
                    title=app.title, version=app.version, summary=app.summary, routes=app.routes
                )
            )
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app
