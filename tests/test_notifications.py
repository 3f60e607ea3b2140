"""MQTT notifications after each commit, on a real Mosquitto, including one that goes away."""

from collections.abc import Iterator

import httpx
import pytest

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store
from hub.trust.auth import new_token
from tests.conftest import Hub, Serve, hub_settings, wait_until_connected


def by_id(story: list[Message], identifier: str) -> Message:
    return next(m for m in story if m.id == identifier)


def post(url: str, message: Message, token: str) -> httpx.Response:
    return httpx.post(
        f"{url}/messages",
        content=message.serialize("application/json"),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )


def send(hub: Hub, message: Message) -> httpx.Response:
    return post(hub.url, message, hub.tokens[message.sender])


def test_each_recipient_hears_on_its_own_topic_for_the_type(hub, subscribe, story):
    dms, mgms = subscribe("heila/v1/dms-1/#"), subscribe("heila/v1/mgms-1/#")
    send(hub, by_id(story, "weather-1"))
    assert dms.next().topic == "heila/v1/dms-1/WeatherForecast"
    assert mgms.next().topic == "heila/v1/mgms-1/WeatherForecast"


def test_observers_hear_every_message_on_the_all_topic(hub, subscribe, story):
    observer = subscribe("heila/v1/all/+")
    send(hub, by_id(story, "weather-1"))
    assert observer.next().topic == "heila/v1/all/WeatherForecast"


def test_an_actor_that_is_no_recipient_hears_nothing(hub, subscribe, story):
    ams = subscribe("heila/v1/ams-1/#")
    send(hub, by_id(story, "weather-1"))
    assert ams.silent(0.3)


def test_a_notification_says_what_was_stored_where_and_in_which_order(hub, subscribe, story):
    dms = subscribe("heila/v1/dms-1/WeatherForecast")
    stored = send(hub, by_id(story, "weather-1")).json()
    assert dms.next().body == {
        "iri": stored["iri"],
        "id": "weather-1",
        "type": "WeatherForecast",
        "sender": "spp-1",
        "time": "2026-11-26T04:30:00Z",
        "sequence": stored["sequence"],
    }


def test_a_message_stored_twice_is_announced_once(hub, subscribe, story):
    dms = subscribe("heila/v1/dms-1/#")
    send(hub, by_id(story, "weather-1"))
    send(hub, by_id(story, "weather-1"))
    dms.next()
    assert dms.silent(0.3)


def test_a_refused_message_is_not_announced(hub, subscribe, story):
    fmp = subscribe("heila/v1/fmp-1/#")
    assert send(hub, by_id(story, "offer-1")).status_code == 422
    assert fmp.silent(0.3)


def test_the_payload_comes_along_when_configured(serve: Serve, mosquitto, subscribe, story):
    token = new_token()
    settings = hub_settings(
        mosquitto, {"spp-1": token}, notify_payload=frozenset({"WeatherForecast"})
    )
    url = serve(create_app(settings, open_store("memory")))
    wait_until_connected(url)
    dms = subscribe("heila/v1/dms-1/#")
    post(url, by_id(story, "weather-1"), token)
    assert dms.next().body["payload"] == by_id(story, "weather-1").to_json()


def test_by_default_an_activation_comes_with_its_notification(hub, subscribe, story):
    ams = subscribe("heila/v1/ams-1/ActivationNotification")
    for message in story:
        assert send(hub, message).status_code == 201
    assert ams.next().body["payload"] == by_id(story, "activation-1").to_json()


def test_notifications_of_messages_stored_while_the_broker_was_away_arrive_once_it_is_back(
    serve: Serve, own_broker: Mosquitto, story
):
    token = new_token()
    url = serve(create_app(hub_settings(own_broker, {"spp-1": token}), open_store("memory")))
    wait_until_connected(url)
    own_broker.stop()
    assert post(url, by_id(story, "weather-1"), token).status_code == 201
    own_broker.start()
    dms = Subscriber(own_broker.host, own_broker.port, "heila/v1/dms-1/#")
    try:
        assert dms.next(timeout=35).body["id"] == "weather-1"
    finally:
        dms.stop()


@pytest.fixture
def broker_not_yet_started() -> Iterator[Mosquitto]:
    broker = Mosquitto()
    yield broker
    broker.close()


def test_a_hub_started_before_its_broker_connects_once_the_broker_is_up(
    serve: Serve, broker_not_yet_started: Mosquitto
):
    broker = broker_not_yet_started
    url = serve(create_app(hub_settings(broker, {}), open_store("memory")))
    assert httpx.get(f"{url}/health").json()["broker"] == "disconnected"
    broker.start()
    wait_until_connected(url, timeout=35)
