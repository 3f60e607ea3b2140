"""Operators' view: /metrics in Prometheus's form over real HTTP, and time-stamped logs."""

import json
import re
import signal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hub.message import Message
from tests.conftest import EXAMPLES, Hub
from tests.test_server import start, stop


def samples(hub: Hub) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    answer = httpx.get(f"{hub.url}/metrics")
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
