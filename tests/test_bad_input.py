"""Bad input gets a clear 4xx problem report, never a 500 or a trace, nor a half-written store."""

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import Store, open_store
from hub.trust.auth import new_token
from tests.conftest import Hub, Serve, hub_settings, wait_until_connected

PROBLEM = "application/problem+json"


def quad_count(store: Store) -> int:
    return store.dump(io.BytesIO())


@pytest.fixture
def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


EXAMPLE_MEASUREMENT = (
    Path(__file__).resolve().parent.parent / "examples" / "valid" / "measurement.json"
)


@pytest.fixture
def refused(hub: Hub) -> Iterator[Hub]:
    """The hub, checked after the test to hold exactly what it held before."""
    before = quad_count(hub.store)
    yield hub
    assert quad_count(hub.store) == before


def post(hub: Hub, body: bytes, form: str = "application/json") -> httpx.Response:
    headers = {**hub.auth("spp-1"), "content-type": form}
    return httpx.post(f"{hub.url}/messages", content=body, headers=headers)


def problem(answer: httpx.Response, status: int) -> dict[str, object]:
    assert answer.status_code == status
    assert answer.headers["content-type"] == PROBLEM
    assert "Traceback" not in answer.text
    body: dict[str, object] = answer.json()
    return body


def test_malformed_json_is_a_400_naming_line_and_column(refused):
    report = problem(post(refused, b'{"type": "WeatherForecast",\n "id": }'), 400)
    assert (report["line"], report["column"]) == (2, 8)


def test_malformed_json_ld_is_a_400(refused):
    problem(post(refused, b'{"@context": 5, "@id": "x"}', "application/ld+json"), 400)


def test_malformed_turtle_is_a_400_naming_its_line(refused):
    report = problem(
        post(refused, b"@prefix h: <http://x/> .\n<http://a> <http://b> .\n", "text/turtle"), 400
    )
    assert report["line"] == 2


def test_a_body_that_is_not_utf8_is_a_400(refused):
    problem(post(refused, b'{"type": "\xff"}'), 400)


def test_a_value_of_the_wrong_type_is_a_422_naming_field_and_rule(refused, weather):
    body = json.dumps(weather.to_json() | {"slots": [{"index": "first"}]}).encode()
    report = problem(post(refused, body), 422)
    assert ("slots[0].index", "datatype") in {(v["field"], v["rule"]) for v in report["violations"]}


@pytest.mark.parametrize("number", ["1e400", str(10**400)])
def test_a_number_beyond_a_double_is_a_422_naming_its_field(refused, number):
    document = json.loads(EXAMPLE_MEASUREMENT.read_text())
    document["readings"][0]["value"] = 0.0
    body = json.dumps(document).encode().replace(b'"value": 0.0', f'"value": {number}'.encode(), 1)
    headers = {**refused.auth("mgms-1"), "content-type": "application/json"}
    answer = httpx.post(f"{refused.url}/messages", content=body, headers=headers)
    report = problem(answer, 422)
    assert ("readings[0].value", "datatype") in {
        (v["field"], v["rule"]) for v in report["violations"]
    }


def test_an_unknown_object_type_is_a_422_naming_the_type_field(refused, weather):
    body = json.dumps(weather.to_json() | {"type": "Horoscope"}).encode()
    report = problem(post(refused, body), 422)
    assert [(v["field"], v["rule"]) for v in report["violations"]] == [("type", "in")]


def test_a_json_array_is_refused(refused):
    problem(post(refused, b"[]"), 422)


def test_a_body_in_a_form_the_hub_does_not_take_is_a_415(refused, weather):
    problem(post(refused, weather.serialize("application/n-triples"), "application/xml"), 415)


def test_a_body_over_the_size_limit_is_a_413(refused):
    report = problem(post(refused, b" " * (1_048_576 + 1)), 413)
    assert (report["field"], report["rule"]) == ("body", "maxBytes")


def test_a_streamed_body_over_the_size_limit_is_a_413(refused):
    chunks = (b" " * 65536 for _ in range(17))
    headers = {**refused.auth("spp-1"), "content-type": "application/json"}
    answer = httpx.post(f"{refused.url}/messages", content=chunks, headers=headers)
    problem(answer, 413)


def test_an_unknown_list_parameter_is_a_400_naming_it(hub):
    report = problem(httpx.get(f"{hub.url}/messages", params={"colour": "red"}), 400)
    assert (report["field"], report["rule"]) == ("colour", "unknown")


def test_an_unknown_type_in_the_list_is_a_400_naming_it(hub):
    report = problem(httpx.get(f"{hub.url}/messages", params={"type": "Horoscope"}), 400)
    assert report["field"] == "type"
    assert "Horoscope" in str(report["detail"])


def test_a_time_without_zone_is_a_400(hub):
    report = problem(httpx.get(f"{hub.url}/messages", params={"since": "2026-11-26T10:00"}), 400)
    assert report["field"] == "since"


@pytest.mark.parametrize(("name", "value"), [("limit", "0"), ("limit", "5000"), ("after", "x")])
def test_a_cursor_or_limit_out_of_range_is_a_400_naming_it(hub, name, value):
    report = problem(httpx.get(f"{hub.url}/messages", params={name: value}), 400)
    assert report["field"] == name


def test_a_sparql_syntax_error_is_a_400(hub):
    problem(httpx.get(f"{hub.url}/sparql", params={"query": "SELECT WHERE {"}), 400)


def test_an_unknown_named_query_is_a_404_naming_it(hub):
    report = problem(httpx.get(f"{hub.url}/queries/horoscope"), 404)
    assert "horoscope" in str(report["detail"])


def test_an_unknown_parameter_of_a_named_query_is_a_400_naming_it(hub):
    report = problem(httpx.get(f"{hub.url}/queries/open-offers", params={"colour": "red"}), 400)
    assert report["field"] == "colour"


def test_an_unknown_path_is_a_404_problem(hub):
    problem(httpx.get(f"{hub.url}/horoscopes"), 404)


def test_a_broker_that_goes_away_costs_no_message_and_health_says_so(
    serve: Serve, own_broker: Mosquitto, weather: Message
):
    token = new_token()
    url = serve(create_app(hub_settings(own_broker, {"spp-1": token}), open_store("memory")))
    wait_until_connected(url)
    own_broker.stop()
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    answer = httpx.post(
        f"{url}/messages", content=weather.serialize("application/json"), headers=headers
    )
    assert answer.status_code == 201
    assert httpx.get(f"{url}/health").json()["broker"] == "disconnected"
    own_broker.start()
    wait_until_connected(url, timeout=35)
