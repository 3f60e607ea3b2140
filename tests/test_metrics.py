"""Operators' view: /metrics in Prometheus's form over real HTTP, and time-stamped logs."""

import json
import re
import signal
import threading

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hub.app import create_app
from hub.config import EMBEDDED, Credential, Settings
from hub.model.message import Message
from hub.mqtt.broker import free_port
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from hub.web.live import LiveFeed
from hub.web.metrics import Metrics
from tests.bridge_fixtures import eventually
from tests.conftest import EXAMPLES, Hub, Serve, wait_until_connected
from tests.test_server import start, stop


def samples(hub: Hub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    return samples_at(hub.url)


def samples_at(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{url}/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def post(hub: Hub, sender: str, body: bytes) -> int:
    headers = {**hub.auth(sender), "content-type": "application/json"}
    return httpx.post(f"{hub.url}/messages", content=body, headers=headers).status_code


def test_committed_messages_are_counted_by_type_and_timed(hub: Hub, story: list[Message]):
    for message in story[:2]:
        post(hub, message.sender, message.serialize("application/json"))
    found = samples(hub)
    assert found[("heila_messages_committed_total", (("type", story[0].type),))] == 1
    assert found[("heila_intake_seconds_count", ())] == 2
    assert found[("heila_last_sequence", ())] == 2


def test_refused_messages_are_counted_by_type_and_the_rule_they_broke(hub: Hub):
    path = sorted((EXAMPLES / "invalid" / "offer").glob("*.json"))[0]
    assert post(hub, "ams-1", path.read_bytes()) == 422
    assert post(hub, "ams-1", b"{not json") == 400
    refused = {
        labels: value
        for (name, labels), value in samples(hub).items()
        if name == "heila_messages_refused_total"
    }
    assert refused[(("rule", "parse"), ("type", "unknown"))] == 1
    assert [labels for labels in refused if ("type", "Offer") in labels] != []


def test_queries_are_timed_by_endpoint(hub: Hub):
    httpx.get(f"{hub.url}/sparql", params={"query": "ASK {}"})
    httpx.get(f"{hub.url}/queries/open-offers")
    found = samples(hub)
    assert found[("heila_query_seconds_count", (("endpoint", "sparql"),))] == 1
    assert found[("heila_query_seconds_count", (("endpoint", "named"),))] == 1


def test_readings_are_counted_by_their_point_and_command_outcomes_by_state(hub: Hub):
    measurement = json.loads((EXAMPLES / "valid" / "measurement.json").read_text())
    assert post(hub, "mgms-1", json.dumps(measurement).encode()) == 201
    outcome = json.loads((EXAMPLES / "valid" / "control-signal.json").read_text())
    del outcome["activation"]  # not in this hub
    for number, state in enumerate(["executed", "failed", "executed"]):
        outcome |= {"id": f"outcome-{number}", "state": state}
        assert post(hub, "mgms-1", json.dumps(outcome).encode()) == 201
    found = samples(hub)
    points = [reading["point"] for reading in measurement["readings"]]
    for point in set(points):
        key = ("heila_readings_committed_total", (("point", point),))
        assert found[key] == points.count(point)
    assert found[("heila_command_outcomes_total", (("state", "executed"),))] == 2
    assert found[("heila_command_outcomes_total", (("state", "failed"),))] == 1


def test_points_past_the_bound_are_counted_together_as_other(story: list[Message]):
    measured = Metrics(open_store("memory"), LiveFeed(10), most_points=2)
    measurement = next(m for m in story if m.type == "Measurement")
    measured.commit(measurement)
    counted = {
        sample.labels["point"]: sample.value
        for family in text_string_to_metric_families(generate_latest(measured.registry).decode())
        for sample in family.samples
        if sample.name == "heila_readings_committed_total"
    }
    points = {reading["point"] for reading in measurement.to_json()["readings"]}
    assert len(points) == 9  # one reading each
    assert counted.pop("other") == 7
    assert counted.keys() <= points
    assert list(counted.values()) == [1, 1]


@pytest.fixture
def embedded(serve: Serve) -> tuple[str, int, dict[str, str]]:
    """A hub on its embedded broker: its URL, the broker's port and the actors' tokens."""
    tokens = {actor: new_token() for actor in ("spp-1", "dms-1")}
    port = free_port()
    actors = {actor: Credential(hash_token(token)) for actor, token in tokens.items()}
    settings = Settings(store="memory", mqtt=EMBEDDED, embedded_mqtt_port=port, actors=actors)
    url = serve(create_app(settings, open_store("memory")))
    wait_until_connected(url)
    return url, port, tokens


def test_the_embedded_broker_tells_what_waits_for_each_client_while_it_is_away(
    embedded: tuple[str, int, dict[str, str]], story: list[Message]
):
    url, port, tokens = embedded
    away = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        "heila-actor-dms-1",
        clean_session=False,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    subscribed = threading.Event()
    away.on_subscribe = lambda *_: subscribed.set()
    away.username_pw_set("dms-1", tokens["dms-1"])
    away.connect("127.0.0.1", port)
    away.loop_start()
    away.subscribe("heila/v1/dms-1/#", qos=1)
    assert subscribed.wait(10)
    away.disconnect()
    away.loop_stop()
    weather = next(m for m in story if m.id == "weather-1")  # to dms-1 and mgms-1
    headers = {"Authorization": f"Bearer {tokens['spp-1']}", "content-type": "application/json"}
    body = weather.serialize("application/json")
    assert httpx.post(f"{url}/messages", content=body, headers=headers).status_code == 201
    key = ("heila_mqtt_queued_messages", (("client", "heila-actor-dms-1"),))
    assert eventually(lambda: samples_at(url).get(key) == 1)


def test_every_log_line_of_serve_starts_with_its_time_the_access_log_included(mosquitto):
    process, url = start(mosquitto)
    httpx.get(f"{url}/health")
    _, log = stop(process, signal.SIGTERM)
    lines = log.strip().splitlines()
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines)
    stamped = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
    assert [line for line in lines if not stamped.match(line)] == []


def test_serve_logs_json_lines_on_request(mosquitto):
    process, url = start(mosquitto, "--log-format", "json")
    httpx.get(f"{url}/health")
    _, log = stop(process, signal.SIGTERM)
    entries = [json.loads(line) for line in log.strip().splitlines()]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["logger"] == "uvicorn.access" for entry in entries)
