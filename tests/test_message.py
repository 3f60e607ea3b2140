"""The message model: every form of a message says the same thing, and bad bodies are named."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from rdflib.compare import isomorphic

from hub.model import message
from hub.model.context import CONTEXT_URL
from hub.model.errors import Invalid, ParseError
from hub.model.vocabulary import MESSAGE
from tests.conftest import EXAMPLES
from tests.strategies import documents

RDF_FORMATS = ["text/turtle", "application/ld+json", "application/n-quads", "application/rdf+xml"]
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(documents())
def test_plain_json_round_trip_is_lossless(document: dict[str, object]) -> None:
    first = message.from_json(document)
    again = message.parse(first.serialize("application/json"), "application/json")
    assert again.to_json() == first.to_json()
    assert isomorphic(again.graph, first.graph)


@pytest.mark.parametrize("media_type", RDF_FORMATS)
@ROUND_TRIP
@given(document=documents())
def test_rdf_round_trip_is_lossless(media_type: str, document: dict[str, object]) -> None:
    first = message.from_json(document)
    again = message.parse(first.serialize(media_type), media_type)
    assert isomorphic(again.graph, first.graph)
    assert again.to_json() == first.to_json()


def test_json_form_puts_the_envelope_first(offer_document: dict[str, object]) -> None:
    keys = list(message.from_json(offer_document).to_json())
    assert keys[:4] == ["type", "id", "sender", "time"]


def test_envelope_is_read_from_the_graph(offer_document: dict[str, object]) -> None:
    offer = message.from_json(offer_document)
    assert (offer.id, offer.type, offer.sender) == ("offer-1", "Offer", "ams-1")
    assert offer.iri == "https://w3id.org/heila/message/offer-1"
    assert offer.recipients == ("fmp-1",)
    assert "flex-1" in offer.references


def test_a_triple_written_twice_names_its_recipient_once() -> None:
    turtle = (EXAMPLES / "valid" / "weather-forecast.ttl").read_text()
    recipients = "actor:dms-1, actor:mgms-1"
    twice = turtle.replace(f"{recipients} ;", f"{recipients}, actor:dms-1 ;")
    assert twice != turtle
    assert message.parse(twice.encode(), "text/turtle").recipients == ("dms-1", "mgms-1")


def test_parts_are_named_after_their_property(offer_document: dict[str, object]) -> None:
    offer = message.from_json(offer_document)
    subjects = {str(s) for s in offer.graph.subjects()}
    assert subjects == {offer.iri, offer.iri + "#price"}


def test_quads_sit_in_the_message_graph(offer_document: dict[str, object]) -> None:
    offer = message.from_json(offer_document)
    assert {q.graph_name.value for q in offer.quads()} == {offer.iri}
    assert len(offer.quads()) == len(offer.graph)


def test_jsonld_refers_to_the_published_context(offer_document: dict[str, object]) -> None:
    body = json.loads(message.from_json(offer_document).serialize("application/ld+json"))
    assert body["@context"] == CONTEXT_URL


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(ParseError) as caught:
        message.parse(b'{"type": "Offer",\n "id": }', "application/json")
    assert (caught.value.line, caught.value.column) == (2, 8)


def test_malformed_turtle_names_its_line() -> None:
    with pytest.raises(ParseError) as caught:
        message.parse(b"@prefix h: <https://w3id.org/heila/ontology#> .\nh:a h:b", "text/turtle")
    assert caught.value.line == 2


def test_remote_jsonld_context_is_not_fetched() -> None:
    body = json.dumps({"@context": "http://example.org/context.jsonld", "@id": "x"}).encode()
    with pytest.raises(ParseError, match="remote"):
        message.parse(body, "application/ld+json")


def test_unknown_media_type_is_refused() -> None:
    with pytest.raises(ParseError, match="unsupported media type"):
        message.parse(b"<x/>", "application/xml")


def test_unknown_type_breaks_rule_in() -> None:
    with pytest.raises(Invalid) as caught:
        message.parse(b'{"type": "Gossip", "id": "g-1"}', "application/json")
    (violation,) = caught.value.violations
    assert (violation.field, violation.rule, violation.value) == ("type", "in", "Gossip")


def test_a_json_array_is_not_a_message() -> None:
    with pytest.raises(Invalid) as caught:
        message.parse(b"[]", "application/json")
    assert caught.value.violations[0].rule == "datatype"


def test_a_graph_without_information_object_is_refused() -> None:
    body = b'<https://w3id.org/heila/message/x> <http://example.org/p> "1" .'
    with pytest.raises(Invalid) as caught:
        message.parse(body, "application/n-triples")
    assert caught.value.violations[0].rule == "type"


def test_a_message_may_not_describe_another(offer_document: dict[str, object]) -> None:
    turtle = message.from_json(offer_document).serialize("text/turtle")
    turtle += b"\n<https://w3id.org/heila/message/flex-1> <http://example.org/p> 1 .\n"
    with pytest.raises(Invalid) as caught:
        message.parse(turtle, "text/turtle")
    assert caught.value.violations[0].rule == "scope"


def test_message_iri_must_end_in_its_id(offer_document: dict[str, object]) -> None:
    turtle = message.from_json(offer_document).serialize("text/turtle")
    renamed = turtle.replace(b'"offer-1"', b'"offer-2"')
    with pytest.raises(Invalid) as caught:
        message.parse(renamed, "text/turtle")
    assert caught.value.violations[0].rule == "messageIri"


def test_a_blank_node_part_is_refused_naming_its_field_and_the_iri_it_must_have():
    offer = (EXAMPLES / "valid" / "offer.ttl").read_text()
    blank = offer.replace("heila:price :price ;", 'heila:price [ gr:hasCurrency "EUR" ] ;')
    with pytest.raises(Invalid) as refused:
        message.parse(blank.encode(), "text/turtle")
    violation = refused.value.violations[0]
    assert (violation.field, violation.rule) == ("price", "scope")
    assert f"<{MESSAGE}offer-1#price>" in violation.text


def test_a_blank_node_among_several_parts_is_told_the_numbered_iri_of_its_kind():
    measurement = (EXAMPLES / "valid" / "measurement.ttl").read_text()
    blank = measurement.replace(
        "heila:reading :reading-0,", "heila:reading [ rdf:value 1.0E0 ], :reading-0,"
    )
    with pytest.raises(Invalid) as refused:
        message.parse(blank.encode(), "text/turtle")
    violation = refused.value.violations[0]
    assert violation.field == "readings"
    assert f"<{MESSAGE}measurement-1#reading-0>" in violation.text
