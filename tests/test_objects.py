"""The client's typed models say what the hub's shapes say, and name parts as the hub does."""

import typing
from typing import Any, get_args, get_origin

import pytest

from heila_client import objects
from heila_client.vocabulary import MESSAGE, part_iri
from hub.model import vocabulary as v
from hub.model.message import from_json
from hub.model.shapes import Field, enum_key, local_name, shapes
from hub.model.validation import validate

PARTS = {
    "PriceShape": objects.Price,
    "ReadingShape": objects.Reading,
    "PlanSlotShape": objects.PlanSlot,
    "WeatherSlotShape": objects.WeatherSlot,
    "VerificationSlotShape": objects.VerificationSlot,
    "PriceForecastSlotShape": objects.PriceSlot,
    "EntryShape": objects.Entry,
}


def _model(type_name: str) -> Any:
    return getattr(objects, type_name)


def _literal_words(hint: Any) -> set[str]:
    """The words a Literal allows, looking through list[...] and NotRequired[...]."""
    while get_origin(hint) is not typing.Literal and get_args(hint):
        hint = get_args(hint)[0]
    return set(get_args(hint))


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_model_has_the_keys_the_shapes_give(type_name: str) -> None:
    names = {f.name for f in shapes().fields_of(type_name)} | {"type"}
    assert set(typing.get_type_hints(_model(type_name))) == names


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_model_requires_what_the_shapes_require(type_name: str) -> None:
    required = {f.name for f in shapes().fields_of(type_name) if f.required} | {"type"}
    assert set(_model(type_name).__required_keys__) == required


@pytest.mark.parametrize("shape_name", sorted(PARTS))
def test_part_models_follow_their_shapes(shape_name: str) -> None:
    (part,) = [p for iri, p in shapes().parts.items() if local_name(iri) == shape_name]
    model = PARTS[shape_name]
    assert set(typing.get_type_hints(model)) == {f.name for f in part.fields}
    assert set(model.__required_keys__) == {f.name for f in part.fields if f.required}


def _enumerations() -> list[tuple[Any, Field]]:
    found = [(_model(t), f) for t in v.INFORMATION_OBJECTS for f in shapes().fields_of(t)]
    found += [(PARTS[local_name(i)], f) for i, p in shapes().parts.items() for f in p.fields]
    return [(model, f) for model, f in found if f.kind == "enum"]


@pytest.mark.parametrize("model, field", _enumerations(), ids=lambda x: getattr(x, "name", ""))
def test_enumerations_allow_the_words_the_shapes_allow(model: Any, field: Field) -> None:
    hint = typing.get_type_hints(model, include_extras=True)[field.name]
    assert _literal_words(hint) == {enum_key(c) for c in field.choices}


def test_a_typed_offer_built_from_plain_values_is_valid() -> None:
    offer: objects.Offer = {
        "type": "Offer",
        "id": "offer-9",
        "sender": "ams-1",
        "time": "2026-11-26T07:20:00+02:00",
        "flexibilityType": "up",
        "power": 120,
        "start": "2026-11-26T17:00:00+02:00",
        "end": "2026-11-26T18:00:00+02:00",
        "location": "cp-1",
        "price": {"amount": 95.5, "currency": "EUR", "per": "MWH"},
        "flexibility": "flex-1",
    }
    message = from_json(offer)
    assert validate(message, {v.MESSAGE + "flex-1": "Flexibility"}) == []


def test_the_client_names_parts_with_the_iris_the_hub_gives_them(offer_document) -> None:
    subjects = {quad.subject.value for quad in from_json(offer_document).quads()}
    assert subjects == {MESSAGE + "offer-1", part_iri("offer-1", "price")}
