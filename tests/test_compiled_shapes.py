"""The compiled validator gives pyshacl's verdict on every example and on generated messages."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from rdflib import Graph, URIRef

from hub.model import message
from hub.model.errors import Invalid, Violation
from hub.model.shacl import UnsupportedShape, _property
from hub.model.validation import reference_violations, validate
from tests.conftest import story_messages
from tests.strategies import documents

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MEDIA_TYPES = {".json": "application/json", ".ttl": "text/turtle"}


def _verdict(found: list[Violation]) -> set[tuple[str, str, str, str | None]]:
    return {(x.message, x.field, x.rule, x.value) for x in found}


def _known() -> dict[str, str]:
    return {m.iri: m.type for m in story_messages()}


def _parsed_invalid_examples() -> list[Path]:
    found = []
    for path in sorted((EXAMPLES / "invalid").glob("*/*")):
        try:
            message.parse(path.read_bytes(), MEDIA_TYPES[path.suffix])
        except Invalid:
            continue  # refused by the JSON Schema before any SHACL runs
        found.append(path)
    return found


@pytest.mark.parametrize(
    "path", _parsed_invalid_examples(), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_compiled_verdict_equals_pyshacl_on_invalid_examples(path: Path) -> None:
    broken = message.parse(path.read_bytes(), MEDIA_TYPES[path.suffix])
    known = _known()
    assert _verdict(validate(broken, known)) == _verdict(reference_violations(broken, known))


@pytest.mark.parametrize("story_message", story_messages(), ids=lambda m: m.id)
def test_compiled_verdict_equals_pyshacl_on_the_story(story_message: message.Message) -> None:
    known = _known()
    assert validate(story_message, known) == [] == reference_violations(story_message, known)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_compiled_verdict_equals_pyshacl_on_generated_messages(document: dict[str, object]) -> None:
    generated = message.from_json(document)
    assert _verdict(validate(generated)) == _verdict(reference_violations(generated))


def test_a_sparql_violation_quotes_the_value_as_the_message_wrote_it() -> None:
    plan = (EXAMPLES / "valid" / "operation-plan.ttl").read_text()
    twice = plan.replace(":slot-1 heila:index 1 ;", ':slot-1 heila:index "+0"^^xsd:integer ;')
    found = validate(message.parse(twice.encode(), "text/turtle"))
    assert [(x.rule, x.value) for x in found] == [("distinctSlotIndex", "+0")]


def test_a_shape_feature_it_lacks_is_refused() -> None:
    graph = Graph().parse(
        data="""@prefix sh: <http://www.w3.org/ns/shacl#> .
        <urn:s> sh:path <urn:p> ; sh:qualifiedMinCount 1 .""",
        format="turtle",
    )
    with pytest.raises(UnsupportedShape, match="qualifiedMinCount"):
        _property(graph, URIRef("urn:s"))
