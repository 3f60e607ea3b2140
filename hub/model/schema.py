"""JSON Schemas of the plain-JSON form, generated from the shapes, and the check against them.

A compiled schema (fastjsonschema) answers the common case, a valid message, in microseconds;
only a failing message goes through jsonschema, which names every broken rule, not the first.

A JSON Schema failure is reported in the words of the shape rule it stands for (a missing
required property is a `minCount`, a number below its floor a `minInclusive`), so that a
violation reads the same whichever form the message came in.
"""

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, ValidationError
from rdflib import XSD

from hub.model import vocabulary as v
from hub.model.errors import Violation
from hub.model.shapes import Field, NodeShape, enum_key, local_name, shapes

JSON = dict[str, Any]
SCHEMA_BASE = v.BASE + "schema/"
DATETIME_PATTERN = (
    r"^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
DURATION_PATTERN = (
    r"^-?P(?=.)([0-9]+Y)?([0-9]+M)?([0-9]+D)?(T(?=.)([0-9]+H)?([0-9]+M)?([0-9]+(\.[0-9]+)?S)?)?$"
)
_ID = f"^{v.ID_PATTERN}$"

_LITERALS: dict[str, JSON] = {
    str(XSD.decimal): {"type": "number"},
    str(XSD.double): {"type": "number"},
    str(XSD.integer): {"type": "integer"},
    str(XSD.boolean): {"type": "boolean"},
    str(XSD.dateTime): {"type": "string", "pattern": DATETIME_PATTERN},
    str(XSD.duration): {"type": "string", "pattern": DURATION_PATTERN},
    str(XSD.string): {"type": "string"},
}

_RULES = {
    "required": "minCount",
    "minItems": "minCount",
    "maxItems": "maxCount",
    "type": "datatype",
    "enum": "in",
    "const": "in",
    "minimum": "minInclusive",
    "maximum": "maxInclusive",
    "exclusiveMinimum": "minExclusive",
    "exclusiveMaximum": "maxExclusive",
    "pattern": "pattern",
    "additionalProperties": "closed",
}


def value_schema(field: Field) -> JSON:
    if field.kind == "enum":
        return {"enum": [enum_key(c) for c in field.choices]}
    if field.kind == "ref":
        return {"type": "string", "pattern": _ID}
    if field.kind == "part":
        return {"$ref": f"#/$defs/{local_name(field.node or '')}"}
    schema = dict(_LITERALS.get(field.datatype or "", {"type": "string"}))
    if field.pattern and field.datatype in (str(XSD.string), str(XSD.duration)):
        schema["pattern"] = field.pattern
    if field.minimum is not None:
        schema["minimum"] = field.minimum
    if field.maximum is not None:
        schema["maximum"] = field.maximum
    return schema


def _field_schema(field: Field) -> JSON:
    schema = value_schema(field)
    if field.many:
        schema = {"type": "array", "items": schema, "uniqueItems": field.kind != "part"}
        if field.min_count:
            schema["minItems"] = field.min_count
        if field.max_count is not None:
            schema["maxItems"] = field.max_count
    if field.description:
        schema["description"] = field.description
    return schema


def _object_schema(fields: tuple[Field, ...], extra: JSON | None = None) -> JSON:
    properties = {**(extra or {}), **{f.name: _field_schema(f) for f in fields}}
    required = [*(extra or {}), *(f.name for f in fields if f.required)]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _part_shapes(shape: NodeShape) -> dict[str, NodeShape]:
    found: dict[str, NodeShape] = {}
    for field in shape.fields:
        if field.node and field.node not in found:
            part = shapes().parts[field.node]
            found[field.node] = part
            found.update(_part_shapes(part))
    return found


@cache
def json_schema(type_name: str) -> JSON:
    """The JSON Schema of one information object's plain-JSON form."""
    catalogue = shapes()
    fields = catalogue.fields_of(type_name)
    schema = _object_schema(fields, {"type": {"const": type_name}})
    parts = _part_shapes(catalogue.objects[type_name])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{type_name}.json",
        "title": type_name,
        **schema,
        "$defs": {local_name(iri): _object_schema(p.fields) for iri, p in parts.items()},
    }


def all_schemas() -> dict[str, JSON]:
    return {name: json_schema(name) for name in v.INFORMATION_OBJECTS}


@cache
def _validator(type_name: str) -> Draft202012Validator:
    return Draft202012Validator(json_schema(type_name))


@cache
def _fast_check(type_name: str) -> Callable[[JSON], object]:
    # compile a copy: fastjsonschema rewrites the references of the schema it is given
    return fastjsonschema.compile(copy.deepcopy(json_schema(type_name)))  # type: ignore[no-any-return]


def _field_path(error: ValidationError) -> str:
    path = ""
    for step in error.absolute_path:
        path += f"[{step}]" if isinstance(step, int) else f".{step}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        path += f".{missing[0]}"
    return path.lstrip(".")


def _violation(document: JSON, error: ValidationError) -> Violation:
    field = _field_path(error)
    value = None if error.validator == "required" else str(error.instance)
    return Violation(
        message=str(document.get("id", "")),
        focus=v.MESSAGE + str(document.get("id", "")),
        field=field,
        label=field.rsplit(".", 1)[-1],
        rule=_RULES.get(str(error.validator), str(error.validator)),
        value=value,
        text=error.message,
    )


def check(document: JSON) -> list[Violation]:
    """Violations of the plain-JSON form, the type checked first since it picks the schema."""
    type_name = document.get("type")
    if type_name not in v.INFORMATION_OBJECTS:
        return [
            Violation(
                message=str(document.get("id", "")),
                focus="",
                field="type",
                label="type",
                rule="in",
                value=None if type_name is None else str(type_name),
                text=f"type must be one of: {', '.join(v.INFORMATION_OBJECTS)}",
            )
        ]
    try:
        _fast_check(str(type_name))(document)
        return []
    except fastjsonschema.JsonSchemaException:
        errors = _validator(str(type_name)).iter_errors(document)  # slow, but names them all
        return sorted((_violation(document, e) for e in errors), key=lambda x: x.field)
