"""SHACL validation names the message, the field by its JSON path and label, and the rule."""

import json
from pathlib import Path

from hub.model import message
from hub.model.validation import validate, validate_graphs

VALID = Path(__file__).resolve().parent.parent / "examples" / "valid"
FLEX = "https://w3id.org/heila/message/flex-1"


def _offer(document: dict[str, object]) -> message.Message:
    return message.from_json(document)


def test_a_valid_offer_has_no_violation(offer_document: dict[str, object]) -> None:
    assert validate(_offer(offer_document), {FLEX: "Flexibility"}) == []


def test_end_before_start_breaks_less_than(offer_document: dict[str, object]) -> None:
    offer_document["end"] = "2026-11-26T16:00:00+02:00"
    (violation,) = validate(_offer(offer_document), {FLEX: "Flexibility"})
    assert (violation.message, violation.field, violation.rule) == ("offer-1", "start", "lessThan")


def test_violation_carries_the_ontology_label(offer_document: dict[str, object]) -> None:
    offer_document["end"] = "2026-11-26T16:00:00+02:00"
    (violation,) = validate(_offer(offer_document), {FLEX: "Flexibility"})
    assert violation.label == "start time"


def test_an_unknown_reference_breaks_rule_class(offer_document: dict[str, object]) -> None:
    (violation,) = validate(_offer(offer_document))
    assert (violation.field, violation.rule, violation.value) == ("flexibility", "class", FLEX)


def test_a_reference_of_the_wrong_type_breaks_rule_class(offer_document: dict[str, object]) -> None:
    (violation,) = validate(_offer(offer_document), {FLEX: "Bid"})
    assert violation.rule == "class"


def test_a_part_field_is_named_by_its_json_path() -> None:
    document = json.loads((VALID / "measurement.json").read_text())
    document["readings"][1]["time"] = "2026-11-26T25:00:01Z"  # the JSON Schema's pattern holds
    (violation,) = validate(message.from_json(document))
    assert (violation.field, violation.rule) == ("readings[1].time", "datatype")


def test_graphs_checked_together_may_refer_to_each_other(offer_document: dict[str, object]) -> None:
    flexibility = message.parse((VALID / "flexibility.json").read_bytes(), "application/json")
    offer = _offer(offer_document)
    graphs = {offer.iri: offer.triples, flexibility.iri: flexibility.triples}
    plan = "https://w3id.org/heila/message/plan-1"
    assert validate_graphs(graphs, {plan: "OperationPlan"}) == []
