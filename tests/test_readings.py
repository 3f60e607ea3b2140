"""Readings in columns: the batch verdict is pyshacl's on the same data, valid or not, and a
Measurement read in columns is the message the generic path reads."""

import json
from typing import Any

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.model import message, readings
from hub.model import vocabulary as v
from hub.model.errors import Invalid, Violation
from hub.model.json_form import to_triples
from hub.model.schema import check
from hub.model.terms import Triple, index
from hub.model.validation import reference_violations, validate
from tests.conftest import EXAMPLES
from tests.strategies import documents

POINT, VALUE, TIME = (
    ox.NamedNode(v.HEILA + "point"),
    ox.NamedNode(v.RDF + "value"),
    ox.NamedNode(v.HEILA + "measuredAt"),
)
QUALITY = ox.NamedNode(v.HEILA + "quality")
DOUBLE, DATETIME = (ox.NamedNode(v.XSD + name) for name in ("double", "dateTime"))
MOMENT = "2026-11-26T15:00:00Z"
BREAKS: dict[str, Any] = {
    "no point": lambda node: [],
    "a second value": lambda node: [(node, VALUE, ox.Literal("1.5", datatype=DOUBLE))],
    "a value as text": lambda node: [(node, VALUE, ox.Literal("231.4 V"))],
    "an ill-typed double": lambda node: [(node, VALUE, ox.Literal("2,5", datatype=DOUBLE))],
    "a time without zone": lambda node: [
        (node, TIME, ox.Literal("2026-11-26T15:00:00", datatype=DATETIME))
    ],
    "a time that is no instant": lambda node: [
        (node, TIME, ox.Literal("2026-11-26T25:00:00Z", datatype=DATETIME))
    ],
    "a point as text": lambda node: [(node, POINT, ox.Literal("q1-voltage-l1"))],
    "a point outside the point namespace": lambda node: [
        (node, POINT, ox.NamedNode(v.DEVICE + "x"))
    ],
    "a flag outside the list": lambda node: [(node, QUALITY, ox.NamedNode(v.HEILA + "Good"))],
}
"""Ways to break a reading: what replaces (or joins) its triples of one property."""
REPLACED = {
    "no point": POINT,
    "a point as text": POINT,
    "a point outside the point namespace": POINT,
    "a value as text": VALUE,
    "an ill-typed double": VALUE,
    "a time without zone": TIME,
    "a time that is no instant": TIME,
}


def _reading_nodes(triples: list[Triple], iri: str) -> list[ox.NamedNode]:
    link = ox.NamedNode(v.HEILA + "reading")
    return [
        o for s, p, o in triples if s.value == iri and p == link and isinstance(o, ox.NamedNode)
    ]


def _broken(triples: list[Triple], node: ox.NamedNode, how: str) -> list[Triple]:
    replaced = REPLACED.get(how)
    kept = [t for t in triples if not (t[0] == node and t[1] == replaced)]
    return kept + BREAKS[how](node)


def _verdicts(triples: list[Triple], iri: str) -> tuple[bool | None, bool]:
    """The column verdict on the readings, and pyshacl's (no violation on any reading)."""
    nodes = _reading_nodes(triples, iri)
    in_columns = readings.conforms(readings.columns_of(index(triples), nodes), len(nodes))
    found = reference_violations(message.from_triples(triples))
    return in_columns, not any("#reading-" in x.focus for x in found)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents("Measurement"), st.data())
def test_the_column_verdict_is_pyshacls_on_generated_measurements(document, data) -> None:
    iri = v.MESSAGE + document["id"]
    triples = to_triples(document)
    nodes = _reading_nodes(triples, iri)
    for node in data.draw(st.lists(st.sampled_from(nodes), max_size=2, unique=True)):
        triples = _broken(triples, node, data.draw(st.sampled_from(sorted(BREAKS))))
    in_columns, by_pyshacl = _verdicts(triples, iri)
    assert in_columns == by_pyshacl


@pytest.mark.parametrize("how", sorted(BREAKS))
def test_each_way_to_break_a_reading_is_found_in_columns_as_pyshacl_finds_it(how: str) -> None:
    document = json.loads((EXAMPLES / "valid" / "measurement.json").read_text())
    iri = v.MESSAGE + document["id"]
    triples = to_triples(document)
    broken = _broken(triples, _reading_nodes(triples, iri)[3], how)
    assert _verdicts(broken, iri) == (False, False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents("Measurement"))
def test_a_measurement_read_in_columns_is_the_message_the_generic_path_reads(document) -> None:
    in_columns = message.from_json(document)
    assert in_columns.readings is not None
    assert set(in_columns.triples) == set(message.from_triples(to_triples(document)).triples)


def _generic(document: dict[str, Any]) -> list[Violation]:
    """What the generic path finds: the JSON Schema, then the compiled shapes on every node."""
    return check(document) or validate(message.from_triples(to_triples(document)))


@pytest.mark.parametrize(
    ("reading", "rule"),
    [
        ({"point": "p-1", "value": True, "time": MOMENT}, "datatype"),
        ({"point": "p-1", "value": 1.0, "time": MOMENT, "unit": "V"}, "closed"),
        ({"point": "p 1", "value": 1.0, "time": MOMENT}, "pattern"),
        ({"point": "p-1", "value": 1.0, "time": "2026-11-26T25:00:00Z"}, "datatype"),
        ({"point": "p-1", "value": 1.0, "time": MOMENT, "quality": ["bad"]}, "in"),
        ({"point": "p-1", "value": 1.0, "time": MOMENT, "quality": [["x"]]}, "in"),
        ({"point": "p-1", "value": 1.0}, "minCount"),
    ],
    ids=[
        "boolean value",
        "unit",
        "bad point id",
        "no instant",
        "bad flag",
        "nested flag",
        "no time",
    ],
)
def test_a_batch_with_a_broken_reading_is_refused_as_the_generic_path_refuses_it(
    reading: dict[str, Any], rule: str
) -> None:
    document = json.loads((EXAMPLES / "valid" / "measurement.json").read_text())
    document["readings"].append(reading)
    with pytest.raises(Invalid) as refused:
        message.accept(json.dumps(document).encode(), "application/json")
    assert refused.value.violations == _generic(document)
    assert [x.rule for x in refused.value.violations] == [rule]


POWER_FACTOR = "q1-power-factor"
"""The example Measurement's power factor point, its sixth reading."""
POINT_FACTS = [
    (
        ox.NamedNode(v.POINT + POWER_FACTOR),
        ox.NamedNode(v.HEILA + "quantity"),
        ox.NamedNode(v.HEILA + "PowerFactor"),
    )
]
"""What a published point map (examples/pointmap.ttl) states of it that a rule needs."""


def _power_factor_reading(value: float) -> bytes:
    document = json.loads((EXAMPLES / "valid" / "measurement.json").read_text())
    reading = next(r for r in document["readings"] if r["point"] == POWER_FACTOR)
    reading["value"] = value
    return json.dumps(document).encode()


def test_a_power_factor_past_one_is_refused_by_name() -> None:
    with pytest.raises(Invalid) as refused:
        message.accept(
            _power_factor_reading(1.2), "application/json", facts_of=lambda _: POINT_FACTS
        )
    assert [(x.rule, x.field) for x in refused.value.violations] == [
        ("powerFactorRange", "readings[5].value")
    ]


def test_a_value_past_one_of_a_point_of_another_quantity_is_kept() -> None:
    message.accept(_power_factor_reading(1.2), "application/json")


@pytest.mark.parametrize("value", [-1.5, -1.0, -0.97, 0.0, 1.0, 1.000001, 231.4])
@pytest.mark.parametrize("media_type", ["application/json", "text/turtle"])
def test_the_power_factor_verdict_is_pyshacls(value: float, media_type: str) -> None:
    document = message.from_json(json.loads(_power_factor_reading(value)))
    body = (
        _power_factor_reading(value)
        if media_type == "application/json"
        else document.serialize(media_type)
    )
    try:
        message.accept(body, media_type, facts_of=lambda _: POINT_FACTS)
        found = []
    except Invalid as error:
        found = error.violations
    assert found == reference_violations(document, facts=POINT_FACTS)
