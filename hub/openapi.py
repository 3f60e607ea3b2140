"""The OpenAPI document's share of the message model: every object's JSON Schema, with examples.

The schemas come from hub.schema (derived from the shapes); their `$defs` become OpenAPI
components so that /docs shows each object and its parts by name.
"""

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from hub.resources import examples_dir
from hub.schema import all_schemas

JSON = dict[str, Any]
_COMPONENTS = "#/components/schemas/"

PROBLEM_SCHEMA: JSON = {
    "type": "object",
    "description": "RFC 9457 problem details; `violations` lists each broken rule",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string"},
        "rule": {"type": "string"},
        "line": {"type": "integer"},
        "column": {"type": "integer"},
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    name: {"type": "string"}
                    for name in ("message", "focus", "field", "label", "rule", "value", "text")
                },
            },
        },
    },
}


def _problem(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _COMPONENTS + "Problem"}}},
    }


POST_RESPONSES: dict[int | str, JSON] = {
    200: {"description": "A message with this id was already stored; nothing changed"},
    400: _problem("The body does not parse (line and column given)"),
    401: _problem("No valid bearer token"),
    403: _problem("The authenticated actor is not the message's sender, or the hub is read-only"),
    413: _problem("The body is larger than the configured limit"),
    415: _problem("The body is in a form the hub does not take"),
    422: _problem("The message breaks rules of its shape: every violation is listed"),
}


def message_responses(forms: Iterable[str]) -> dict[int | str, JSON]:
    return {
        200: {"description": "The message", "content": {form: {} for form in forms}},
        404: _problem("No message with this id"),
        406: _problem("None of the accepted forms can be given"),
    }


def _relocate(node: Any) -> Any:
    """The schema with its references to parts (`…#/$defs/X`) pointing at component X."""
    if isinstance(node, dict):
        return {
            key: _COMPONENTS + value.rsplit("/", 1)[-1]
            if key == "$ref" and isinstance(value, str)
            else _relocate(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_relocate(item) for item in node]
    return node


@cache
def components() -> JSON:
    """Every information object and every part it uses, by name, plus the problem report."""
    found: JSON = {"Problem": PROBLEM_SCHEMA}
    for name, schema in all_schemas().items():
        body = {k: v for k, v in schema.items() if k not in ("$defs", "$schema", "$id")}
        parts = {name: body, **schema.get("$defs", {})}
        for part_name, part in parts.items():
            part = _relocate(part)
            if found.setdefault(part_name, part) != part:
                raise ValueError(f"two schemas are both named {part_name}")
    return found


def _examples() -> JSON:
    """The valid example of every information object, shipped with the hub."""
    examples = {}
    for path in sorted((examples_dir() / "valid").glob("*.json")):
        value = json.loads(path.read_text(encoding="utf-8"))
        examples[path.stem] = {"summary": value.get("type", path.stem), "value": value}
    return examples


def message_request_body() -> JSON:
    """POST /messages takes one of the twelve objects as JSON, or any message as RDF."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [{"$ref": _COMPONENTS + n} for n in all_schemas()]},
                    "examples": _examples(),
                },
                "application/ld+json": {"schema": {"type": "object"}},
                "text/turtle": {"schema": {"type": "string"}},
            },
        }
    }


def with_components(document: JSON) -> JSON:
    """An OpenAPI document with the message model's schemas added to its components."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components())
    return document
