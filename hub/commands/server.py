"""`heila serve`: the store, the HTTP API with SPARQL, and MQTT, in one process.

Settings come from the configuration file, then the flags. Without a file no actor has a
credential, so the hub starts read-only and says so. SIGINT and SIGTERM stop it cleanly:
uvicorn finishes the requests in flight, the MQTT client and the embedded broker close, and
the store is flushed.
"""

import argparse
import contextlib
import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from hub.app import create_app
from hub.commands import logs
from hub.config import EMBEDDED, Settings, check, load_settings
from hub.lifecycle import Background
from hub.model.errors import HubError, UsageError
from hub.model.message import accept
from hub.model.resources import examples_dir
from hub.storage.store import QueryLimits, open_store
from hub.trust import tls
from hub.web.live import LiveFeed

log = logging.getLogger("hub")

_START_TIMEOUT = 30.0
GRACE = 3
"""Seconds a stop waits for requests in flight before it cuts them."""


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration (credentials, limits)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8000)")
    parser.add_argument("--store", help="store directory, or 'memory' (default var/store)")
    parser.add_argument("--mqtt", help="broker URL mqtt://host:port, or 'embedded' (default)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument(
        "--log-format", default="text", choices=logs.FORMATS, help="log lines as text or JSON"
    )


def settings_of(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config).with_flags(
        host=args.host, port=args.port, store=args.store, mqtt=args.mqtt
    )
    check(settings)
    return settings


def _check_free(host: str, port: int, what: str) -> None:
    """Refuse a port that something listens on, as uvicorn and amqtt would, but not one that
    only holds closed connections in TIME_WAIT (after a stop or a kill -9): like them, bind
    with SO_REUSEADDR."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UsageError(f"{what} cannot listen on {host}:{port}: {error.strerror}") from None


def _announce(settings: Settings) -> None:
    scheme = "http" if settings.tls_certfile is None else "https"
    base = f"{scheme}://{settings.host}:{settings.port}"
    mqtt_host, mqtt_port = settings.mqtt_address
    broker = "embedded broker" if settings.mqtt == EMBEDDED else "broker"
    log.info("HTTP API on %s/messages (docs %s/docs)", base, base)
    log.info("SPARQL endpoint on %s/sparql, its console on %s/ in a browser", base, base)
    mqtt_scheme = "mqtts" if settings.mqtt_tls else "mqtt"
    log.info("MQTT %s at %s://%s:%d", broker, mqtt_scheme, mqtt_host, mqtt_port)
    log.info("store: %s", settings.store)
    if settings.clustered:
        servers = (server.rpartition("@")[2] for server in settings.cluster_nats)  # no password
        log.info("commit log: NATS JetStream at %s", ", ".join(servers))
    if settings.read_only:
        log.warning("no actor credentials configured (--config): the hub is read-only")


@contextmanager
def _stop_signals_end_the_run() -> Iterator[None]:
    """Let SIGINT and SIGTERM end `run` normally: uvicorn shuts down on them, then raises them
    again for the handlers it found, which here do nothing, so the store is closed and the
    exit status is 0 instead of death by signal."""
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, lambda _signal, _frame: None) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level, args.log_format)
    if args.log_level != "debug":  # the embedded broker narrates every connection at INFO
        for chatty in ("amqtt", "transitions"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = settings_of(args)
    _check_free(settings.host, settings.port, "the HTTP API")
    if settings.mqtt == EMBEDDED:
        _check_free("127.0.0.1", settings.embedded_mqtt_port, "the embedded MQTT broker")
    limits = QueryLimits(
        timeout=settings.query_timeout,
        result_limit=settings.query_limit,
        memory_bytes=settings.query_memory_mib << 20,
        max_nesting=settings.query_max_nesting,
        workers=settings.query_workers,
        max_waiting=settings.query_max_waiting,
        service_endpoints=settings.query_services,
    )
    try:
        store = open_store(settings.store, limits)
    except OSError as error:
        raise UsageError(f"cannot open the store at {settings.store}: {error}") from None
    try:
        _announce(settings)
        _warm_up()
        config = uvicorn.Config(
            create_app(settings, store),
            host=settings.host,
            port=settings.port,
            log_level=args.log_level,
            log_config=None,  # uvicorn's lines go through hub.commands.logs, with their time
            timeout_graceful_shutdown=GRACE,
            **tls.uvicorn_options(settings),
        )
        with _stop_signals_end_the_run():
            HubServer(config).run()
    finally:
        store.close()
    log.info("stopped")
    return 0


def _warm_up() -> None:
    """Build the shapes, schemas and validators before the first request, by accepting every
    shipped example once, then move all that long-lived state out of the collector's sight.

    Without `gc.freeze` every full collection rescans those hundreds of thousands of objects,
    and a large message sets off several: about a fifth of the time of a 1,000-reading
    Measurement went to that here.
    """
    for example in sorted((examples_dir() / "valid").glob("*.json")):
        with contextlib.suppress(HubError):  # references to other examples are unknown here
            accept(example.read_bytes(), "application/json")
    gc.collect()
    gc.freeze()


class HubServer(uvicorn.Server):
    """Uvicorn, ending the live viewers' streams first when it stops: they never end by
    themselves, and uvicorn waits for every response in flight."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        feed = getattr(getattr(self.config.app, "state", None), "live", None)
        if isinstance(feed, LiveFeed):
            feed.close()
        await super().shutdown(sockets)


class BackgroundHub(Background):
    """A hub application served by uvicorn in a thread, for tests and benchmarks."""

    def __init__(self, app: FastAPI, port: int, host: str = "127.0.0.1", **options: Any) -> None:
        """`options` go to uvicorn.Config (TLS, for instance: see hub.trust.tls.uvicorn_options)."""
        scheme = "https" if options.get("ssl_certfile") else "http"
        self.url = f"{scheme}://{host}:{port}"
        self._server = HubServer(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                **{"timeout_graceful_shutdown": GRACE, **options},
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="hub", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start on {self.url}; its log says why")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_START_TIMEOUT)
