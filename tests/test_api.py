"""The message API over real HTTP: post, read back in every form, page in commit order."""

import httpx
import pyoxigraph as ox
import pytest
import rdflib
from rdflib.compare import isomorphic

from hub.model.message import Message
from hub.model.schema import all_schemas
from hub.model.vocabulary import INFORMATION_OBJECTS, MESSAGE
from tests.conftest import Hub

JSON = {"content-type": "application/json"}


def post(client: httpx.Client, hub: Hub, message: Message, form: str = "application/json"):
    return client.post(
        "/messages",
        content=message.serialize(form),
        headers={**hub.auth(message.sender), "content-type": form},
    )


def post_story(client: httpx.Client, hub: Hub, story: list[Message]) -> None:
    for message in story:
        assert post(client, hub, message).status_code == 201


@pytest.fixture
def client(hub: Hub):
    with httpx.Client(base_url=hub.url) as client:
        yield client


def by_id(story: list[Message], identifier: str) -> Message:
    return next(m for m in story if m.id == identifier)


def test_a_posted_message_answers_201_with_its_iri_and_location(client, hub, story):
    answer = post(client, hub, by_id(story, "weather-1"))
    assert answer.status_code == 201
    assert answer.json()["iri"] == MESSAGE + "weather-1"
    assert answer.headers["location"] == "/messages/weather-1"


def test_posting_the_same_id_again_answers_200_with_the_first_location(client, hub, story):
    weather = by_id(story, "weather-1")
    first = post(client, hub, weather)
    again = post(client, hub, weather)
    assert again.status_code == 200
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["sequence"] == first.json()["sequence"]


def test_the_same_message_in_another_form_is_the_same_message(client, hub, story):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    assert post(client, hub, weather, "text/turtle").status_code == 200


def test_the_same_id_with_other_content_answers_409_naming_the_stored_message(client, hub, story):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    changed = weather.to_json() | {"recipients": ["ams-1"]}
    answer = client.post("/messages", json=changed, headers=hub.auth(weather.sender))
    problem = answer.json()
    assert (answer.status_code, problem["field"], problem["rule"], problem["stored"]) == (
        409,
        "id",
        "unique",
        "/messages/weather-1",
    )
    assert client.get("/messages/weather-1").json() == weather.to_json()


@pytest.mark.parametrize("form", ["application/json", "application/ld+json", "text/turtle"])
def test_a_message_is_taken_in_each_written_form(client, hub, story, form):
    assert post(client, hub, by_id(story, "weather-1"), form).status_code == 201


def test_the_whole_story_is_taken_in_the_order_it_was_sent(client, hub, story):
    post_story(client, hub, story)
    assert len(client.get("/messages").json()["items"]) == len(story)


def test_a_message_referring_to_a_message_never_stored_is_refused(client, hub, story):
    answer = post(client, hub, by_id(story, "offer-1"))
    assert answer.status_code == 422
    assert {(v["field"], v["rule"]) for v in answer.json()["violations"]} == {
        ("flexibility", "class")
    }


def test_a_message_reads_back_as_the_json_it_was_sent_as(client, hub, story):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    answer = client.get("/messages/weather-1")
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == weather.to_json()


@pytest.mark.parametrize(
    ("accept", "form"),
    [("text/turtle", "turtle"), ("application/n-triples", "nt"), ("application/rdf+xml", "xml")],
)
def test_a_message_reads_back_in_the_rdf_format_asked_for(client, hub, story, accept, form):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    answer = client.get("/messages/weather-1", headers={"accept": accept})
    assert answer.headers["content-type"].startswith(accept)
    stored = hub.store.get(weather.iri)
    assert isomorphic(rdflib.Graph().parse(data=answer.text, format=form), stored.graph)


def test_a_message_reads_back_as_n_quads_in_its_own_graph(client, hub, story):
    post(client, hub, by_id(story, "weather-1"))
    answer = client.get("/messages/weather-1", headers={"accept": "application/n-quads"})
    graphs = {quad.graph_name for quad in ox.parse(answer.content, format=ox.RdfFormat.N_QUADS)}
    assert graphs == {ox.NamedNode(MESSAGE + "weather-1")}


def test_a_message_reads_back_as_json_ld(client, hub, story):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    answer = client.get("/messages/weather-1", headers={"accept": "application/ld+json"})
    assert answer.headers["content-type"] == "application/ld+json"
    assert "@context" in answer.json()


def test_an_unknown_message_is_a_404_problem(client):
    answer = client.get("/messages/nothing-here")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_message_in_no_acceptable_form_is_406(client, hub, story):
    post(client, hub, by_id(story, "weather-1"))
    answer = client.get("/messages/weather-1", headers={"accept": "image/png"})
    assert answer.status_code == 406


def test_the_list_is_in_commit_order(client, hub, story):
    post_story(client, hub, story)
    items = client.get("/messages").json()["items"]
    assert [item["id"] for item in items] == [m.id for m in story]
    assert [item["sequence"] for item in items] == list(range(1, len(story) + 1))


def test_a_listed_item_carries_the_envelope(client, hub, story):
    weather = by_id(story, "weather-1")
    post(client, hub, weather)
    (item,) = client.get("/messages").json()["items"]
    assert item == {
        "id": "weather-1",
        "iri": weather.iri,
        "type": "WeatherForecast",
        "sender": "spp-1",
        "time": "2026-11-26T04:30:00Z",
        "sequence": 1,
    }


def test_a_full_page_links_to_the_next(client, hub, story):
    post_story(client, hub, story)
    page = client.get("/messages", params={"limit": 5})
    assert page.json()["next"] == 5
    assert page.headers["link"] == '</messages?limit=5&after=5>; rel="next"'


def test_a_last_page_has_no_next_link(client, hub, story):
    post_story(client, hub, story)
    page = client.get("/messages", params={"limit": 5, "after": 10})
    assert len(page.json()["items"]) == len(story) - 10
    assert "link" not in page.headers


def test_paging_with_next_gives_every_message_exactly_once(client, hub, story):
    post_story(client, hub, story)
    seen, cursor = [], 0
    while page := client.get("/messages", params={"limit": 5, "after": cursor}).json():
        if not page["items"]:
            break
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
    assert seen == [m.id for m in story]


def test_an_actor_back_from_offline_catches_up_on_exactly_what_it_missed(client, hub, story):
    post_story(client, hub, story[:4])
    cursor = client.get("/messages", params={"recipient": "ams-1"}).json()["next"]
    post_story(client, hub, story[4:])
    missed = client.get("/messages", params={"recipient": "ams-1", "after": cursor}).json()
    expected = [m.id for m in story[4:] if "ams-1" in m.recipients]
    assert [item["id"] for item in missed["items"]] == expected


@pytest.mark.parametrize(
    ("parameter", "value", "expected"),
    [
        ("type", "Offer", {"offer-1"}),
        ("sender", "spp-1", {"weather-1", "priceforecast-1"}),
        ("recipient", "fmp-1", {"offer-1", "bid-1", "verification-1"}),
    ],
)
def test_the_list_filters_on_the_envelope(client, hub, story, parameter, value, expected):
    post_story(client, hub, story)
    items = client.get("/messages", params={parameter: value}).json()["items"]
    assert {item["id"] for item in items} == expected


def test_the_list_filters_on_time(client, hub, story):
    post_story(client, hub, story)
    since = story[-3].time.isoformat()
    items = client.get("/messages", params={"since": since}).json()["items"]
    assert [item["id"] for item in items] == [m.id for m in story[-3:]]


def test_health_reports_store_and_broker(client):
    assert client.get("/health").json() == {"status": "ok", "store": "ok", "broker": "connected"}


def test_the_json_ld_context_is_served_at_a_stable_url(client):
    answer = client.get("/context.jsonld")
    assert answer.headers["content-type"] == "application/ld+json"
    assert "@context" in answer.json()


def test_the_ontology_is_served_as_turtle(client):
    answer = client.get("/ontology")
    assert answer.headers["content-type"].startswith("text/turtle")
    assert len(rdflib.Graph().parse(data=answer.text, format="turtle")) > 0


def test_the_ontology_is_served_in_the_rdf_format_asked_for(client):
    answer = client.get("/ontology", headers={"accept": "application/rdf+xml"})
    assert answer.headers["content-type"].startswith("application/rdf+xml")
    assert len(rdflib.Graph().parse(data=answer.text, format="xml")) > 0


def test_the_api_documents_every_object_with_its_schema_and_an_example(client):
    document = client.get("/openapi.json").json()
    body = document["paths"]["/messages"]["post"]["requestBody"]["content"]["application/json"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in body["schema"]["oneOf"]} == set(
        INFORMATION_OBJECTS
    )
    assert {e["value"]["type"] for e in body["examples"].values()} == set(INFORMATION_OBJECTS)
    schemas = document["components"]["schemas"]
    assert all(schemas[name]["title"] == name for name in all_schemas())


def test_every_documented_example_is_valid_against_its_documented_schema(client):
    from jsonschema import Draft202012Validator

    document = client.get("/openapi.json").json()
    body = document["paths"]["/messages"]["post"]["requestBody"]["content"]["application/json"]
    schemas = document["components"]["schemas"]
    for example in body["examples"].values():
        schema = {**schemas[example["value"]["type"]], "components": {"schemas": schemas}}
        assert not list(Draft202012Validator(schema).iter_errors(example["value"]))


def test_the_documentation_page_is_served(client):
    assert client.get("/docs").status_code == 200


def test_a_method_a_resource_does_not_take_is_a_405_saying_which_it_takes(client):
    answer = client.request("TRACE", "/health")
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")


def test_since_must_be_a_time_as_rfc_3339_writes_it(client):
    answer = client.get("/messages", params={"since": "0.5"})
    assert (answer.status_code, answer.json()["field"]) == (400, "since")
