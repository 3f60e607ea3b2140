"""JSON and JSON-LD as hostile input: bounded before anything recursive reads them, and nothing
they name is fetched (the attacks over HTTP are in test_hostile_input.py)."""

import json

import pytest

from hub.model import jsonld
from hub.model.context import CONTEXT_URL
from hub.model.errors import ParseError


def test_json_nested_just_within_the_limit_is_read():
    body = b"[" * jsonld.MAX_DEPTH + b"]" * jsonld.MAX_DEPTH
    assert jsonld.load_json(body) is not None


def test_json_nested_past_the_limit_is_refused_before_it_is_walked():
    depth = jsonld.MAX_DEPTH + 1
    with pytest.raises(ParseError, match="nests deeper than 32"):
        jsonld.load_json(b"[" * depth + b"]" * depth)


def test_json_nested_past_pythons_own_recursion_is_refused_the_same_way():
    with pytest.raises(ParseError, match="nests deeper than 32"):
        jsonld.load_json(b"[" * 200_000 + b"]" * 200_000)


def test_the_hubs_context_url_is_read_from_the_hub_itself():
    body = {"@context": CONTEXT_URL, "@id": "urn:x:a", "@type": "heila:Offer"}
    assert len(jsonld.triples(json.dumps(body).encode())) == 1


@pytest.mark.parametrize(
    "context",
    [
        "http://127.0.0.1:9/context.jsonld",
        [CONTEXT_URL, "file:///etc/hostname"],
        {"@import": "http://127.0.0.1:9/c"},
        {"p": {"@id": "urn:p", "@context": {"q": "urn:q"}}},
    ],
    ids=["remote", "file in a list", "import", "scoped"],
)
def test_a_context_the_hub_does_not_take_is_refused_without_fetching(context):
    with pytest.raises(ParseError):
        jsonld.triples(json.dumps({"@context": context, "@id": "urn:x:a"}).encode())


def test_a_relative_iri_is_refused_by_name():
    body = {"@context": CONTEXT_URL, "@id": "up", "@type": "heila:Offer"}
    with pytest.raises(ParseError, match="'up' is a relative IRI"):
        jsonld.triples(json.dumps(body).encode())


def test_more_term_definitions_than_allowed_are_refused():
    context = {f"t{n}": f"urn:t{n}" for n in range(jsonld.MAX_TERMS + 1)}
    with pytest.raises(ParseError, match="at most 256 terms"):
        jsonld.triples(json.dumps({"@context": context, "@id": "urn:x:a"}).encode())
