"""A Mosquitto of one's own, run with the password file and ACL that `heila actor
broker-config` makes from the registry, holds each actor to its own topics."""

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.mqtt.broker_rules import broker_rules
from hub.storage.store import open_store
from hub.trust.auth import new_token
from hub.trust.registry import Registry
from tests.conftest import Serve, hub_settings, wait_until_connected
from tests.test_broker_access import Connection

ROLES = {"spp-1": "SPP", "dms-1": "DMS", "reader": "researcher"}


@dataclass(frozen=True)
class Broker:
    """A Mosquitto with the registry's rules, the hub on it, and the actors' tokens."""

    mosquitto: Mosquitto
    url: str
    tokens: dict[str, str]

    def connect(self, actor: str) -> Connection:
        return Connection(self.mosquitto.port, (actor, self.tokens[actor]), None, "")

    def listen(self, actor: str, topic_filter: str) -> Subscriber:
        login = (actor, self.tokens[actor])
        return Subscriber(self.mosquitto.host, self.mosquitto.port, topic_filter, login=login)


@pytest.fixture
def broker(shared_folder: Path, serve: Serve) -> Iterator[Broker]:
    store = open_store("memory")
    registry = Registry(store)
    tokens = {actor: registry.add(actor, role) for actor, role in ROLES.items()}
    rules = broker_rules(registry)
    passwords, acl = shared_folder / "heila.passwd", shared_folder / "heila.acl"
    passwords.write_text(rules.passwords)
    acl.write_text(rules.acl)
    hub_password = new_token()
    command = ["mosquitto_passwd", "-b", str(passwords), "heila-hub", hub_password]
    subprocess.run(command, check=True)
    access = f"allow_anonymous false\npassword_file {passwords}\nacl_file {acl}\n"
    with Mosquitto(access=access) as mosquitto:
        settings = hub_settings(
            mosquitto, {}, mqtt_username="heila-hub", mqtt_password=hub_password
        )
        url = serve(create_app(settings, store))
        wait_until_connected(url)
        yield Broker(mosquitto, url, tokens)


@pytest.fixture
def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


def test_a_registered_actor_logs_in_with_its_token(broker: Broker):
    connection = broker.connect("spp-1")
    try:
        assert connection.accepted
    finally:
        connection.close()


def test_an_actor_subscribed_to_another_actors_topics_hears_nothing_of_them(
    broker: Broker, weather: Message
):
    """spp-1's forecast goes to dms-1: the hub announces it on dms-1's topic before it tells
    spp-1 the outcome, so an spp-1 that could read dms-1's topics would hear that first."""
    spp = broker.listen("spp-1", "heila/v1/dms-1/#")
    try:
        spp.subscribe("heila/v1/spp-1/outcome")
        spp.publish("heila/v1/inbox/spp-1", weather.serialize("application/json"))
        heard = spp.next()
        assert (heard.topic, heard.body["status"]) == ("heila/v1/spp-1/outcome", "stored")
    finally:
        spp.stop()


def test_an_actor_cannot_publish_into_another_actors_inbox(broker: Broker, weather: Message):
    forged = json.dumps({**weather.to_json(), "id": "forged-1", "sender": "dms-1"}).encode()
    intruder = broker.listen("spp-1", "heila/v1/spp-1/outcome")
    intruder.publish("heila/v1/inbox/dms-1", forged)
    intruder.stop()
    spp = broker.listen("spp-1", "heila/v1/spp-1/outcome")
    try:
        spp.publish("heila/v1/inbox/spp-1", weather.serialize("application/json"))
        assert spp.next().body["status"] == "stored"
    finally:
        spp.stop()
    assert httpx.get(f"{broker.url}/messages/forged-1").status_code == 404


def test_a_researcher_is_given_no_topic_to_write():
    store = open_store("memory")
    registry = Registry(store)
    registry.add("reader", "researcher")
    assert "user reader\ntopic read heila/v1/reader/#\n" in broker_rules(registry).acl


def test_broker_config_writes_the_files_from_a_store(tmp_path: Path):
    store = open_store(str(tmp_path / "store"))
    Registry(store).add("spp-1", "SPP")
    store.close()
    command = [sys.executable, "-m", "hub.commands.cli", "actor", "broker-config", "--store"]
    files = ["--passwords", str(tmp_path / "passwd"), "--acl", str(tmp_path / "acl")]
    subprocess.run([*command, str(tmp_path / "store"), *files], check=True, capture_output=True)
    assert (tmp_path / "passwd").read_text().startswith("spp-1:$7$101$")
    assert "user spp-1\ntopic write heila/v1/inbox/spp-1\n" in (tmp_path / "acl").read_text()
