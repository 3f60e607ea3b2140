"""The OpenAPI document as an integrator uses it: "Authorize" takes a bearer token, every body
form has examples that the hub takes, and every answer the hub gives is documented."""

import json

import httpx
import pytest

from hub.model.vocabulary import INFORMATION_OBJECTS
from tests.conftest import Hub, story_messages
from tests.test_examples import kebab

WRITE_FORMS = ("application/json", "application/ld+json", "text/turtle")


@pytest.fixture
def client(hub: Hub):
    with httpx.Client(base_url=hub.url) as client:
        yield client


@pytest.fixture
def document(client: httpx.Client) -> dict:
    return client.get("/openapi.json").json()


def test_the_document_offers_a_bearer_scheme_that_writing_operations_ask_for(document):
    assert document["components"]["securitySchemes"]["bearer"] == {
        **document["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    assert document["paths"]["/messages"]["post"]["security"] == [{"bearer": []}]
    assert {"bearer": []} in document["paths"]["/sparql"]["post"]["security"]


@pytest.mark.parametrize("form", WRITE_FORMS)
def test_every_documented_example_of_a_form_is_taken_by_the_hub(client, hub, document, form):
    examples = document["paths"]["/messages"]["post"]["requestBody"]["content"][form]["examples"]
    assert len(examples) == len(INFORMATION_OBJECTS)
    for sent in story_messages():  # in the story's order: each refers only to earlier ones
        value = examples[kebab(sent.type)]["value"]
        body = value if isinstance(value, str) else json.dumps(value)
        answer = client.post(
            "/messages", content=body, headers={**hub.auth(sent.sender), "content-type": form}
        )
        assert answer.status_code == 201, answer.text


def test_the_sparql_endpoint_documents_a_query_an_update_and_a_form(document):
    body = document["paths"]["/sparql"]["post"]["requestBody"]["content"]
    assert set(body) == {
        "application/sparql-query",
        "application/sparql-update",
        "application/x-www-form-urlencoded",
    }
    assert all("example" in form for form in body.values())


ANSWERS = [
    ("get", "/queries/open-offers", {"accept": "image/png"}, None, 406),
    ("get", "/queries/feeder-measurements", {}, None, 400),
    ("post", "/sparql", {"content-type": "text/plain"}, "ASK {}", 415),
    ("post", "/sparql", {"content-type": "application/sparql-update"}, "CLEAR ALL", 401),
    ("post", "/sparql", {"content-type": "application/sparql-query"}, "SELECT", 400),
    ("get", "/sparql?query=ASK%7B%7D", {"accept": "image/png"}, None, 406),
    ("get", "/sparql", {}, None, 400),
    ("get", "/messages?colour=red", {}, None, 400),
    ("get", "/messages/no-such-message", {}, None, 404),
    ("get", "/ontology", {"accept": "image/png"}, None, 406),
    ("post", "/messages", {"content-type": "text/plain"}, "x", 401),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status"), ANSWERS)
def test_every_answer_the_hub_gives_is_documented_for_its_route(
    client, document, method, path, headers, body, status
):
    answer = client.request(method, path, headers=headers, content=body)
    assert answer.status_code == status
    template = path.split("?")[0]
    if template.startswith("/messages/"):
        template = "/messages/{identifier}"
    documented = document["paths"][template][method]["responses"][str(status)]
    assert answer.headers["content-type"] in documented["content"]


def test_each_named_query_is_an_operation_with_the_parameters_it_needs(document):
    operation = document["paths"]["/queries/merit-order"]["get"]
    assert [(p["name"], p["required"]) for p in operation["parameters"]] == [("bid", True)]


def test_an_unknown_named_query_is_a_404_problem_report(client):
    answer = client.get("/queries/no-such-query")
    assert (answer.status_code, answer.headers["content-type"]) == (404, "application/problem+json")
