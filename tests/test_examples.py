"""The example messages as a specification: the valid story passes every rule, in JSON and in
Turtle alike, and each invalid example breaks exactly the rule on the field its name states
(examples/invalid/{type}/{rule}-{field}.json or .ttl).
"""

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib.compare import isomorphic

from hub.model import message
from hub.model.errors import Invalid, Violation
from hub.model.terms import Triple
from hub.model.vocabulary import HEILA, INFORMATION_OBJECTS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.*"))
INVALID = sorted(p for p in (EXAMPLES / "invalid").rglob("*.*") if p.is_file())
MEDIA_TYPES = {".json": "application/json", ".jsonld": "application/ld+json", ".ttl": "text/turtle"}


def kebab(type_name: str) -> str:
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in type_name).lstrip("-")


@cache
def story_types() -> dict[str, str]:
    """Message IRI -> type of every valid example: what the references may point to."""
    found = (message.parse(p.read_bytes(), MEDIA_TYPES[p.suffix]) for p in VALID)
    return {m.iri: m.type for m in found}


@cache
def quantities() -> dict[str, Triple]:
    """Point IRI -> its quantity, as the example point map, once published, states it."""
    quantity = ox.NamedNode(HEILA + "quantity")
    parsed = ox.parse(path=EXAMPLES / "pointmap.ttl", format=ox.RdfFormat.TURTLE)
    return {
        t.subject.value: (t.subject, t.predicate, t.object)
        for t in parsed
        if t.predicate == quantity
    }


def point_facts(points: Iterable[str]) -> list[Triple]:
    return [quantities()[point] for point in points if point in quantities()]


@cache
def violations_of(path: Path) -> list[Violation]:
    try:
        message.accept(
            path.read_bytes(), MEDIA_TYPES[path.suffix], lambda _: story_types(), point_facts
        )
    except Invalid as invalid:
        return invalid.violations
    return []


def rule_and_field(path: Path) -> tuple[str, str]:
    rule, field = path.stem.split("-", 1)
    return rule, field


def label(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def test_every_information_object_has_a_valid_example_in_json_json_ld_and_turtle() -> None:
    names = {p.name for p in VALID}
    for type_name in INFORMATION_OBJECTS:
        assert {f"{kebab(type_name)}.{form}" for form in ("json", "jsonld", "ttl")} <= names


@pytest.mark.parametrize("path", VALID, ids=label)
def test_valid_example_has_no_violation(path: Path) -> None:
    assert violations_of(path) == []


@pytest.mark.parametrize("path", VALID, ids=label)
def test_valid_example_is_named_for_its_type(path: Path) -> None:
    parsed = message.parse(path.read_bytes(), MEDIA_TYPES[path.suffix])
    assert path.stem == kebab(parsed.type)


@pytest.mark.parametrize("form", [".ttl", ".jsonld"])
@pytest.mark.parametrize("path", sorted((EXAMPLES / "valid").glob("*.json")), ids=label)
def test_every_form_of_an_example_is_the_graph_of_its_json(path: Path, form: str) -> None:
    from_json = message.parse(path.read_bytes(), "application/json")
    other = message.parse(path.with_suffix(form).read_bytes(), MEDIA_TYPES[form])
    assert isomorphic(from_json.graph, other.graph)


def test_the_story_refers_only_to_messages_sent_before() -> None:
    story = {m.id: m for m in (message.parse(p.read_bytes(), MEDIA_TYPES[p.suffix]) for p in VALID)}
    for sent in story.values():
        assert all(story[earlier].time < sent.time for earlier in sent.references)


@pytest.mark.parametrize("path", INVALID, ids=label)
def test_invalid_example_breaks_the_rule_on_the_field_its_name_states(path: Path) -> None:
    found = {(v.rule, v.field) for v in violations_of(path)}
    assert rule_and_field(path) in found


@pytest.mark.parametrize("path", INVALID, ids=label)
def test_invalid_example_breaks_nothing_else(path: Path) -> None:
    found = {(v.rule, v.field) for v in violations_of(path)}
    assert found <= {rule_and_field(path)}


@pytest.mark.parametrize("path", INVALID, ids=label)
def test_invalid_example_is_filed_under_its_type(path: Path) -> None:
    if path.suffix == ".json":
        document = json.loads(path.read_bytes())
        assert path.parent.name == kebab(document["type"])
    else:
        parsed = message.parse(path.read_bytes(), "text/turtle")
        assert path.parent.name == kebab(parsed.type)


@pytest.mark.parametrize("type_name", INFORMATION_OBJECTS)
def test_every_information_object_has_three_invalid_examples_of_different_rules(
    type_name: str,
) -> None:
    rules = {rule_and_field(p)[0] for p in INVALID if p.parent.name == kebab(type_name)}
    assert len(rules) >= 3


def test_the_message_model_shows_the_story_offer_in_each_form_as_it_is() -> None:
    model = (EXAMPLES.parent / "docs" / "messages.md").read_text()
    blocks = re.findall(r"^```(?:json|turtle)\n(.*?)^```$", model, re.MULTILINE | re.DOTALL)
    forms = [(EXAMPLES / "valid" / f"offer.{s}").read_text() for s in ("json", "jsonld", "ttl")]
    assert blocks == forms
