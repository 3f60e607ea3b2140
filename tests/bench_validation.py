"""Figures for the message model: `pytest tests/bench_validation.py --benchmark-enable`."""

from pathlib import Path
from typing import Any

from hub.model import message
from hub.model.validation import reference_violations, validate

VALID = Path(__file__).resolve().parent.parent / "examples" / "valid"
FLEX = {"https://w3id.org/heila/message/flex-1": "Flexibility"}


def _offer() -> message.Message:
    return message.parse((VALID / "offer.json").read_bytes(), "application/json")


def test_validate_one_offer(benchmark: Any) -> None:
    offer = _offer()
    assert benchmark(validate, offer, FLEX) == []


def test_validate_one_operation_plan_of_22_triples(benchmark: Any) -> None:
    plan = message.parse((VALID / "operation-plan.json").read_bytes(), "application/json")
    assert benchmark(validate, plan, {}) == []


def test_pyshacl_validates_the_same_plan(benchmark: Any) -> None:
    plan = message.parse((VALID / "operation-plan.json").read_bytes(), "application/json")
    assert benchmark.pedantic(reference_violations, (plan, {}), rounds=20) == []


def test_parse_plain_json(benchmark: Any) -> None:
    body = (VALID / "offer.json").read_bytes()
    benchmark(message.parse, body, "application/json")


def test_parse_turtle(benchmark: Any) -> None:
    body = (VALID / "offer.ttl").read_bytes()
    benchmark(message.parse, body, "text/turtle")


def test_accept_plain_json(benchmark: Any) -> None:
    body = (VALID / "offer.json").read_bytes()
    benchmark(message.accept, body, "application/json", lambda _iris: FLEX)
