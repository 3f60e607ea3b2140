"""The MQTT inbox: messages published to heila/v1/inbox/{actor} are taken in like posted ones."""

import json
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto, free_port
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from tests.bridge_fixtures import eventually
from tests.conftest import Hub, hub_settings, wait_until_connected
from tests.test_server import start_on, stop

ACL = Path(__file__).resolve().parent.parent / "docs" / "mosquitto" / "heila.acl"


def by_id(story: list[Message], identifier: str) -> Message:
    return next(m for m in story if m.id == identifier)


@pytest.fixture
def spp(hub: Hub, subscribe):
    """The SPP's connection: it publishes to its inbox and hears its outcomes."""
    return subscribe("heila/v1/spp-1/outcome")


def deliver(actor, message: Message, form: str = "application/json", declared: bool = False):
    actor.publish(
        "heila/v1/inbox/spp-1", message.serialize(form), content_type=form if declared else None
    )
    return actor.next().body


def test_a_message_in_the_inbox_is_stored_and_the_outcome_says_so(hub, spp, story):
    outcome = deliver(spp, by_id(story, "weather-1"))
    assert outcome == {"id": "weather-1", "status": "stored", "iri": by_id(story, "weather-1").iri}
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 200


def test_a_message_from_the_inbox_is_announced_to_its_recipients(hub, spp, subscribe, story):
    dms = subscribe("heila/v1/dms-1/#")
    deliver(spp, by_id(story, "weather-1"))
    assert dms.next().body["id"] == "weather-1"


def test_a_message_delivered_twice_is_a_duplicate_the_second_time(hub, spp, story):
    deliver(spp, by_id(story, "weather-1"))
    assert deliver(spp, by_id(story, "weather-1"))["status"] == "duplicate"


def test_a_stored_id_sent_again_with_other_content_is_rejected_as_not_unique(hub, spp, story):
    weather = by_id(story, "weather-1")
    deliver(spp, weather)
    changed = json.dumps({**weather.to_json(), "recipients": ["ams-1"]}).encode()
    spp.publish("heila/v1/inbox/spp-1", changed)
    outcome = spp.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "unique")


def test_turtle_declared_by_its_content_type_is_taken_in(hub, spp, story):
    outcome = deliver(spp, by_id(story, "weather-1"), "text/turtle", declared=True)
    assert outcome["status"] == "stored"


@pytest.mark.parametrize("form", ["text/turtle", "application/ld+json"])
def test_a_message_without_content_type_is_recognised_by_its_form(hub, spp, story, form):
    assert deliver(spp, by_id(story, "weather-1"), form)["status"] == "stored"


def test_an_invalid_message_is_rejected_with_each_violation(hub, spp, story):
    document = by_id(story, "weather-1").to_json() | {"timeStep": "an hour"}
    spp.publish("heila/v1/inbox/spp-1", json.dumps(document).encode())
    outcome = spp.next().body
    assert outcome["status"] == "rejected"
    assert [(v["field"], v["rule"]) for v in outcome["violations"]] == [("timeStep", "pattern")]


def test_malformed_json_is_rejected_with_its_line_and_column(hub, spp):
    spp.publish("heila/v1/inbox/spp-1", b'{"type": "WeatherForecast",\n "id": }')
    (violation,) = spp.next().body["violations"]
    assert (violation["rule"], violation["line"], violation["column"]) == ("parse", 2, 8)


def test_a_message_in_another_senders_name_is_rejected_and_not_stored(hub, subscribe, story):
    dms = subscribe("heila/v1/dms-1/outcome")
    dms.publish("heila/v1/inbox/dms-1", by_id(story, "weather-1").serialize("application/json"))
    outcome = dms.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "sender")
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 404


def test_the_documented_acl_lets_an_actor_write_only_to_its_own_inbox(shared_folder, serve, story):
    passwords = {"heila-hub": new_token(), "spp-1": new_token()}
    password_file = shared_folder / "heila.passwd"
    password_file.touch()
    for user, password in passwords.items():
        subprocess.run(["mosquitto_passwd", "-b", password_file, user, password], check=True)
    acl = shutil.copy(ACL, shared_folder)  # installed beside the passwords, as docs/mqtt.md says
    access = f"allow_anonymous false\npassword_file {password_file}\nacl_file {acl}\n"
    with Mosquitto(access=access) as broker:
        settings = hub_settings(
            broker, {}, mqtt_username="heila-hub", mqtt_password=passwords["heila-hub"]
        )
        url = serve(create_app(settings, open_store("memory")))
        wait_until_connected(url)
        login = ("spp-1", passwords["spp-1"])
        forged = by_id(story, "weather-1").to_json() | {"id": "forged-1", "sender": "dms-1"}
        intruder = Subscriber(broker.host, broker.port, "heila/v1/spp-1/outcome", login=login)
        intruder.publish("heila/v1/inbox/dms-1", json.dumps(forged).encode())
        intruder.stop()  # the broker refused the publish, and paho drops the connection on that
        spp = Subscriber(broker.host, broker.port, "heila/v1/spp-1/outcome", login=login)
        try:
            spp.publish("heila/v1/inbox/spp-1", by_id(story, "weather-1").serialize("text/turtle"))
            assert spp.next().body["status"] == "stored"
        finally:
            spp.stop()
        assert httpx.get(f"{url}/messages/forged-1").status_code == 404


@pytest.fixture
def served_on(tmp_path, own_broker) -> Callable[[], tuple[subprocess.Popen[str], str]]:
    """Start `heila serve` on `own_broker`, always on the same port, store and MQTT session,
    once it holds its broker connection; its log goes to hub.log."""
    token, port = new_token(), free_port()
    config = tmp_path / "hub.toml"
    config.write_text(f'[actors.spp-1]\ntoken_hash = "{hash_token(token)}"\n')
    flags = ("--config", str(config), "--store", str(tmp_path / "store"), "--mqtt", own_broker.url)

    def start() -> tuple[subprocess.Popen[str], str]:
        with (tmp_path / "hub.log").open("a") as log:
            process, url = start_on(port, *flags, log=log)
        wait_until_connected(url)
        return process, url

    return start


def forecasts(story: list[Message], count: int) -> list[bytes]:
    forecast = by_id(story, "weather-1").to_json()
    return [json.dumps(forecast | {"id": f"w-{n}"}).encode() for n in range(count)]


def test_inbox_messages_a_killed_hub_had_not_stored_are_delivered_again_and_stored_once(
    own_broker, served_on, story
):
    count = 50
    process, _ = served_on()
    spp = Subscriber(own_broker.host, own_broker.port, "heila/v1/spp-1/outcome")
    first, *rest = forecasts(story, count)
    spp.publish("heila/v1/inbox/spp-1", first)
    spp.next()  # the hub's subscription is in place
    for body in rest:
        spp.publish("heila/v1/inbox/spp-1", body)
    spp.next()
    process.kill()  # between the receipt and the commit of most of them
    process.wait()
    heard_before = 2
    while not spp.silent(0.2):  # outcomes already on their way when the hub died
        heard_before += 1
    process, url = served_on()
    try:
        ids = eventually(
            lambda: stored_ids(url) if len(stored_ids(url)) >= count else None, timeout=60
        )
    finally:
        stop(process, signal.SIGTERM)
        spp.stop()
    assert heard_before < count
    assert sorted(ids) == sorted(f"w-{n}" for n in range(count))


def test_an_inbox_message_sent_while_the_hub_is_stopped_is_stored_once_it_is_back(
    own_broker, served_on, story
):
    first, second = forecasts(story, 2)
    process, _ = served_on()
    spp = Subscriber(own_broker.host, own_broker.port, "heila/v1/spp-1/outcome")
    spp.publish("heila/v1/inbox/spp-1", first)
    spp.next()  # the hub's subscription is in place
    stop(process, signal.SIGTERM)
    spp.publish("heila/v1/inbox/spp-1", second)
    process, url = served_on()
    try:
        assert eventually(lambda: stored_ids(url)[1:], timeout=60) == ["w-1"]
    finally:
        stop(process, signal.SIGTERM)
        spp.stop()


def stored_ids(url: str) -> list[str]:
    """The id of every message stored for dms-1, in commit order, duplicates kept."""
    page = httpx.get(f"{url}/messages", params={"recipient": "dms-1", "limit": 1000}).json()
    return [item["id"] for item in page["items"]]
