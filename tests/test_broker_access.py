"""Who may log in to the embedded broker and what each login may publish and read, over TCP."""

import json
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.config import EMBEDDED, Credential, Settings
from hub.model.message import Message
from hub.mqtt.broker import free_port
from hub.mqtt.broker_access import HUB, ClientIds, logins
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token, token_matches
from tests.bridge_fixtures import eventually
from tests.conftest import Serve, wait_until_connected

_WAIT = 10.0
V311 = MQTTProtocolVersion.MQTTv311
ADMIN = "operator"
ROLES = {"reader": "researcher", ADMIN: "administrator"}


@dataclass(frozen=True)
class EmbeddedHub:
    url: str
    mqtt_port: int
    tokens: dict[str, str]

    def login(self, actor: str) -> tuple[str, str]:
        return actor, self.tokens[actor]

    def listen(self, actor: str, topic_filter: str) -> Subscriber:
        """`actor`'s connection, subscribed to `topic_filter`."""
        return Subscriber("127.0.0.1", self.mqtt_port, topic_filter, V311, self.login(actor))


@pytest.fixture
def hub(serve: Serve) -> EmbeddedHub:
    """The hub in its default configuration, the embedded broker, with three actors, a
    researcher and an administrator."""
    tokens = {actor: new_token() for actor in ("spp-1", "dms-1", "mgms-1", "reader", ADMIN)}
    port = free_port()
    settings = Settings(
        store="memory",
        mqtt=EMBEDDED,
        embedded_mqtt_port=port,
        actors={
            actor: Credential(hash_token(token), role=ROLES.get(actor))
            for actor, token in tokens.items()
        },
    )
    url = serve(create_app(settings, open_store("memory")))
    wait_until_connected(url)
    return EmbeddedHub(url, port, tokens)


@pytest.fixture
def weather(story: list[Message]) -> Message:
    """spp-1's forecast, addressed to dms-1 and mgms-1."""
    return next(m for m in story if m.id == "weather-1")


class Connection:
    """A bare MQTT client that reports what the broker answers to its CONNECT and SUBSCRIBE."""

    def __init__(
        self, port: int, login: tuple[str, str] | None, will: str | None, client_id: str
    ) -> None:
        self._answers: queue.Queue[list[ReasonCode]] = queue.Queue()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id, protocol=V311)
        self._client.on_connect = lambda _c, _u, _f, reason, _p: self._answers.put([reason])
        self._client.on_subscribe = lambda _c, _u, _m, reasons, _p: self._answers.put(reasons)
        if login is not None:
            self._client.username_pw_set(*login)
        if will is not None:
            self._client.will_set(will, b"{}", qos=1)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self.accepted = not self._answer()[0].is_failure

    def may_subscribe(self, topic_filter: str) -> bool:
        self._client.subscribe(topic_filter, qos=1)
        return not self._answer()[0].is_failure

    def _answer(self) -> list[ReasonCode]:
        return self._answers.get(timeout=_WAIT)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def connect(hub: EmbeddedHub) -> Iterator[Callable[..., Connection]]:
    """Open connections to the hub's broker (`connect(login)`); closed after the test."""
    opened: list[Connection] = []

    def open_one(
        login: tuple[str, str] | None, will: str | None = None, client_id: str = ""
    ) -> Connection:
        connection = Connection(hub.mqtt_port, login, will, client_id)
        opened.append(connection)
        return connection

    yield open_one
    for connection in opened:
        connection.close()


def test_an_anonymous_client_is_refused(connect):
    assert not connect(None).accepted


def test_a_wrong_token_is_refused(connect):
    assert not connect(("spp-1", new_token())).accepted


def test_an_actors_own_token_is_its_login(hub, connect):
    assert connect(hub.login("spp-1")).accepted


def test_a_token_logs_in_only_as_its_own_actor(hub, connect):
    assert not connect(("dms-1", hub.tokens["spp-1"])).accepted


def test_the_hubs_login_name_takes_no_actor_token(hub, connect):
    assert not connect(("heila-hub", hub.tokens["spp-1"])).accepted


def test_an_actor_whose_id_would_widen_a_topic_filter_has_no_login():
    ids = ("all", "inbox", "heila-hub", "dms-1/#", "+", "mgms-1")
    actors = {actor: Credential(hash_token(new_token())) for actor in ids}
    secret = new_token()
    found = logins(actors, secret)
    assert set(found) == {"mgms-1", "heila-hub"}
    assert token_matches(secret, found["heila-hub"])


def test_a_last_will_on_another_actors_inbox_is_refused(hub, connect):
    assert not connect(hub.login("spp-1"), will="heila/v1/inbox/dms-1").accepted


def test_a_client_id_stays_with_the_actor_that_used_it_first(hub, connect):
    connect(hub.login("dms-1"), client_id="dms-1-session")
    assert not connect(hub.login("spp-1"), client_id="dms-1-session").accepted


def test_an_actors_inbox_message_is_stored(hub, weather):
    spp = hub.listen("spp-1", "heila/v1/spp-1/outcome")
    try:
        spp.publish("heila/v1/inbox/spp-1", weather.serialize("application/json"))
        assert spp.next().body["status"] == "stored"
    finally:
        spp.stop()
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 200


def test_an_actor_cannot_publish_to_another_actors_inbox(hub, weather):
    forged = weather.to_json() | {"id": "forged-1", "sender": "dms-1"}
    spp = hub.listen("spp-1", "heila/v1/spp-1/outcome")
    try:
        spp.publish("heila/v1/inbox/dms-1", json.dumps(forged).encode())
        spp.publish("heila/v1/inbox/spp-1", weather.serialize("application/json"))
        assert spp.next().body["id"] == "weather-1"  # the inbox kept order: forged-1 never came
    finally:
        spp.stop()
    assert httpx.get(f"{hub.url}/messages/forged-1").status_code == 404


def test_a_researcher_cannot_publish_even_to_its_own_inbox(hub, weather, caplog):
    reader = hub.listen("reader", "heila/v1/reader/outcome")
    try:
        reader.publish("heila/v1/inbox/reader", weather.serialize("application/json"))
        eventually(lambda: "MQTT publish by reader" in caplog.text)
    finally:
        reader.stop()
    assert "refused" in caplog.text
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 404


@pytest.mark.parametrize(
    "topic_filter", ["heila/v1/dms-1/#", "heila/v1/+/WeatherForecast", "heila/v1/#", "#"]
)
def test_an_actor_cannot_subscribe_to_another_actors_topics(hub, connect, topic_filter):
    assert not connect(hub.login("spp-1")).may_subscribe(topic_filter)


def test_an_actor_cannot_read_the_inboxes(hub, connect):
    assert not connect(hub.login("spp-1")).may_subscribe("heila/v1/inbox/+")


def test_every_actor_may_observe_all_notifications(hub, connect):
    assert connect(hub.login("mgms-1")).may_subscribe("heila/v1/all/#")


def test_the_hubs_notifications_reach_the_recipient(hub, weather):
    dms = hub.listen("dms-1", "heila/v1/dms-1/#")
    try:
        httpx.post(
            f"{hub.url}/messages",
            content=weather.serialize("application/json"),
            headers={
                "Authorization": f"Bearer {hub.tokens['spp-1']}",
                "content-type": "application/json",
            },
        ).raise_for_status()
        heard = dms.next()
    finally:
        dms.stop()
    assert (heard.topic, heard.body["id"]) == ("heila/v1/dms-1/WeatherForecast", "weather-1")


def test_a_client_id_that_names_an_actor_is_refused_to_any_other_login(hub, connect):
    assert not connect(hub.login("spp-1"), client_id="heila-bridge-dms-1").accepted


def test_the_actors_and_the_bridges_own_client_ids_are_their_logins(hub, connect):
    assert connect(hub.login("mgms-1"), client_id="heila-actor-mgms-1").accepted
    assert connect(hub.login("mgms-1"), client_id="heila-bridge-mgms-1").accepted


def test_a_client_id_that_names_nobody_belongs_to_whoever_used_it_first():
    ids = ClientIds(["dms-1", "spp-1", HUB])
    ids.claim("dashboard", "dms-1")
    assert ids.claim("dashboard", "spp-1") is not None


def test_a_client_id_starting_with_two_logins_belongs_to_the_longer():
    assert ClientIds(["dms", "dms-1"]).owner("dms-1-dashboard") == "dms-1"


def test_an_actor_registered_while_the_hub_runs_logs_in_to_the_broker_at_once(hub, connect):
    body = {"id": "ams-1", "role": "AMS"}
    added = httpx.post(f"{hub.url}/actors", json=body, headers=bearer(hub, ADMIN))
    assert connect(("ams-1", added.json()["token"])).accepted


def test_a_revoked_actor_cannot_log_in_to_the_broker_any_more(hub, connect):
    httpx.delete(f"{hub.url}/actors/spp-1", headers=bearer(hub, ADMIN)).raise_for_status()
    assert not connect(hub.login("spp-1")).accepted


def test_a_rotated_out_token_cannot_log_in_to_the_broker_any_more(hub, connect):
    rotated = httpx.post(f"{hub.url}/actors/spp-1/rotate", headers=bearer(hub, ADMIN))
    assert not connect(hub.login("spp-1")).accepted
    assert connect(("spp-1", rotated.json()["token"])).accepted


def bearer(hub: EmbeddedHub, actor: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hub.tokens[actor]}"}
