"""The JSON Schemas come from the shapes and speak their rules' names."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from hub.model import vocabulary as v
from hub.model.schema import all_schemas, check, json_schema
from hub.model.shapes import shapes

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "valid").glob("*.json"))


def test_every_information_object_has_a_schema() -> None:
    assert sorted(all_schemas()) == sorted(v.INFORMATION_OBJECTS)


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_schema_is_valid_json_schema(type_name: str) -> None:
    Draft202012Validator.check_schema(json_schema(type_name))


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_schema_requires_exactly_what_the_shapes_require(type_name: str) -> None:
    required = {f.name for f in shapes().fields_of(type_name) if f.min_count > 0}
    assert set(json_schema(type_name)["required"]) == required | {"type"}


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_schema_has_a_property_for_every_field(type_name: str) -> None:
    names = {f.name for f in shapes().fields_of(type_name)}
    assert set(json_schema(type_name)["properties"]) == names | {"type"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_valid_examples_pass_their_schema(example: Path) -> None:
    assert check(json.loads(example.read_text())) == []


def test_a_missing_field_is_a_min_count(offer_document: dict[str, object]) -> None:
    del offer_document["price"]
    (violation,) = check(offer_document)
    assert (violation.field, violation.rule, violation.value) == ("price", "minCount", None)


def test_a_nested_bound_names_its_path(offer_document: dict[str, object]) -> None:
    offer_document["price"] = {"amount": -1, "currency": "EUR", "per": "MWH"}
    (violation,) = check(offer_document)
    assert (violation.field, violation.rule, violation.value) == (
        "price.amount",
        "minInclusive",
        "-1",
    )


def test_an_unknown_key_is_refused_as_closed(offer_document: dict[str, object]) -> None:
    offer_document["colour"] = "green"
    (violation,) = check(offer_document)
    assert violation.rule == "closed"


def test_a_time_without_zone_breaks_the_pattern(offer_document: dict[str, object]) -> None:
    offer_document["start"] = "2026-11-26T17:00:00"
    (violation,) = check(offer_document)
    assert (violation.field, violation.rule) == ("start", "pattern")
