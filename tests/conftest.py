"""Fixtures shared by the hub's tests: the example story, free ports and a real HTTP server."""

import asyncio
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from fastapi import FastAPI, Request, Response
from hypothesis import settings as hypothesis_settings
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.commands.server import BackgroundHub
from hub.config import Credential, Settings
from hub.model import message
from hub.model.message import Message
from hub.mqtt.broker import PORTS, Mosquitto, free_port
from hub.mqtt.broker_access import HUB
from hub.storage.query_pool import QueryPool
from hub.storage.store import Store, open_store
from hub.trust.auth import hash_token, new_token
from hub.web.problem import Problem
from substation.meter import Meter, MeterConfig
from substation.model import Feeder, FeederSpec

hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):  # the same examples on every CI run: a red run is the change's doing
    hypothesis_settings.load_profile("ci")

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw"):  # each worker, and what it starts, listens in its own ports
    _first = 20_000 + 3_000 * int(_WORKER[2:])
    os.environ.setdefault(PORTS, f"{_first}-{_first + 2_999}")

Serve = Callable[[FastAPI], str]
"""Start an app on a free port and answer its base URL."""

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def story_messages() -> list[Message]:
    """The coherent story of examples/valid, one message per file, in the order it was sent."""
    found = [
        message.parse(path.read_bytes(), "application/json")
        for path in (EXAMPLES / "valid").glob("*.json")
    ]
    return sorted(found, key=lambda m: m.time)


@pytest.fixture(autouse=True)
def root_logger_restored() -> Iterator[None]:
    """A command run in process (`heila serve` refusing a setting) sets the root logger up on the
    test's captured stderr, which is closed after the test: put the root logger back, so threads
    of later tests do not log into a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def story() -> list[Message]:
    return story_messages()


def bare_app(pool: QueryPool) -> FastAPI:
    """An app with nothing but the routes a test adds: problem reports for errors, and the
    query pool at home on the server's loop and its workers stopped when the server stops."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pool.serve_on(asyncio.get_running_loop())
        yield
        pool.close()

    async def problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, Problem)
        return error.response(request.url.path)

    app = FastAPI(lifespan=lifespan)
    app.add_exception_handler(Problem, problem)
    return app


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Run FastAPI apps under uvicorn on free ports in threads; stop them after the test."""
    hubs: list[BackgroundHub] = []

    def start(app: FastAPI) -> str:
        hub = BackgroundHub(app, free_port())
        hub.start()
        hubs.append(hub)
        return hub.url

    yield start
    for hub in hubs:
        hub.stop()


@pytest.fixture
def offer_document() -> dict[str, object]:
    """The story's offer in plain JSON, fresh for each test to change."""
    document: dict[str, object] = json.loads((EXAMPLES / "valid" / "offer.json").read_text())
    return document


pytest_plugins = ["bridge_fixtures", "browser"]
"""The field bridge's fixtures: hub, Mosquitto and substation over real sockets."""


@pytest.fixture(scope="session")
def shared_mosquitto() -> Iterator[Mosquitto]:
    """A real Mosquitto of the tests' own on a free port (never the machine's on 1883)."""
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def mosquitto(shared_mosquitto: Mosquitto) -> Iterator[Mosquitto]:
    """The session's Mosquitto for one test. A hub keeps a persistent session under its client
    id, and the broker keeps there what reached the hub's inbox and was not taken in; the session
    is ended after the test, so the next test's hub does not take in this test's messages."""
    yield shared_mosquitto
    end_session(shared_mosquitto, HUB)


def end_session(broker: Mosquitto, client_id: str) -> None:
    """End the broker's session of `client_id`, and drop what it kept for it: connect with a
    clean start and no session expiry, then leave."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.connect(broker.host, broker.port, clean_start=True)
    client.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def own_broker() -> Iterator[Mosquitto]:
    """A Mosquitto for one test, which it may stop and start again on the same port."""
    with Mosquitto() as broker:
        yield broker


@dataclass(frozen=True)
class Hub:
    """A hub under test: its URL, its store, and a bearer token for each actor of the story."""

    url: str
    store: Store
    tokens: dict[str, str]
    broker: Mosquitto

    def auth(self, actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[actor]}"}


STORY_ACTORS = ("mgms-1", "ams-1", "fmp-1", "dms-1", "spp-1")


def hub_settings(broker: Mosquitto, tokens: dict[str, str], **settings: Any) -> Settings:
    """Settings of a hub on `broker` that knows the actors of `tokens` (made fresh per test), with
    a session of its own there: no hub resumes the session a hub of an earlier test left."""
    credentials = {actor: Credential(hash_token(token)) for actor, token in tokens.items()}
    session = f"heila-hub-{secrets.token_hex(4)}"
    return Settings(
        **{"mqtt": broker.url, "actors": credentials, "mqtt_client_id": session, **settings}
    )


@contextmanager
def running_hub(
    mosquitto: Mosquitto, serve: Serve, tokens: dict[str, str], **settings: Any
) -> Iterator[Hub]:
    """The real app under uvicorn on a free port, an in-memory store, and the test Mosquitto,
    knowing the actors of `tokens` (and any `actors` the settings name instead)."""
    store = open_store("memory")
    url = serve(create_app(hub_settings(mosquitto, tokens, **settings), store))
    wait_until_connected(url)
    yield Hub(url, store, tokens, mosquitto)
    store.close()


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve) -> Iterator[Hub]:
    """A running hub that knows every actor of the story."""
    with running_hub(mosquitto, serve, {actor: new_token() for actor in STORY_ACTORS}) as hub:
        yield hub


def wait_until_connected(url: str, timeout: float = 10.0) -> None:
    """Wait until the hub at `url` holds its broker connection (its inbox is then listening)."""
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/health").json()["broker"] != "connected":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the hub at {url} did not connect to its broker")
        time.sleep(0.02)


@pytest.fixture
def subscribe(mosquitto: Mosquitto) -> Iterator[Callable[[str], Subscriber]]:
    """Subscribe to a topic filter on the test broker; the subscribers stop after the test."""
    subscribers: list[Subscriber] = []

    def start(topic_filter: str) -> Subscriber:
        subscriber = Subscriber(mosquitto.host, mosquitto.port, topic_filter)
        subscribers.append(subscriber)
        return subscriber

    yield start
    for subscriber in subscribers:
        subscriber.stop()


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder Mosquitto can read once it has dropped root's rights, as /etc/mosquitto is
    (pytest's tmp_path is not, nor is a checkout in a `mktemp -d` folder)."""
    folder = Path(tempfile.mkdtemp(prefix="heila-acl-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


METER_PASSWORD = "a-meter-password-for-tests"
"""the simulated meter's password in the tests that talk DLMS/COSEM to it"""


@contextmanager
def simulated_meter(capture_period: float) -> Iterator[Meter]:
    """A simulated meter of one feeder on a free port, with a password, capturing its load
    profile every `capture_period` seconds."""
    config = MeterConfig(port=0, password=METER_PASSWORD, capture_period=capture_period, step_ms=50)
    simulated = Meter(config, Feeder(FeederSpec("feeder-1", load_kw=120.0)))
    simulated.start()
    try:
        yield simulated
    finally:
        simulated.stop()


@pytest.fixture
def meter() -> Iterator[Meter]:
    """A simulated meter of one feeder on a free port, with a password."""
    with simulated_meter(capture_period=1.0) as simulated:
        yield simulated
