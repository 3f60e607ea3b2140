"""Hypothesis strategies for messages, derived from the shapes like everything else."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from rdflib import XSD

from hub.model import vocabulary as v
from hub.model.shapes import Field, NodeShape, enum_key, shapes

IDS = st.from_regex(r"\A[A-Za-z0-9._~-]{1,24}\Z")
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
TIMES = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone).isoformat(timespec="seconds"),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    OFFSETS,
)
DURATIONS = st.sampled_from(["PT15M", "PT1H", "P1D", "PT30S", "P1DT12H"])


def _bounds(field: Field, low: float, high: float) -> tuple[float, float]:
    return (
        low if field.minimum is None else field.minimum,
        high if field.maximum is None else field.maximum,
    )


def _literal(field: Field) -> st.SearchStrategy[Any]:
    low, high = _bounds(field, -1e6, 1e6)
    datatype = field.datatype
    if datatype == str(XSD.decimal):
        places = st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=3)
        return st.one_of(st.integers(int(low), int(high)), places.map(float))
    if datatype == str(XSD.double):
        return st.floats(min_value=low, max_value=high, allow_nan=False)
    if datatype == str(XSD.integer):
        return st.integers(int(max(low, -1e6)), int(min(high, 1e6)))
    if datatype == str(XSD.boolean):
        return st.booleans()
    if datatype == str(XSD.dateTime):
        return TIMES
    if datatype == str(XSD.duration):
        return DURATIONS
    if field.pattern:
        return st.from_regex(field.pattern.replace("^", r"\A").replace("$", r"\Z"))
    return st.text(min_size=1, max_size=20)


def _value(field: Field) -> st.SearchStrategy[Any]:
    if field.kind == "enum":
        return st.sampled_from([enum_key(c) for c in field.choices])
    if field.kind == "ref":
        return IDS
    if field.kind == "part":
        return fields(shapes().parts[field.node or ""].fields)
    return _literal(field)


def _field(field: Field) -> st.SearchStrategy[Any]:
    if not field.many:
        return _value(field)
    unique = field.kind != "part"
    return st.lists(_value(field), min_size=max(field.min_count, 1), max_size=3, unique=unique)


def fields(of: tuple[Field, ...]) -> st.SearchStrategy[dict[str, Any]]:
    required = {f.name: _field(f) for f in of if f.required}
    optional = {f.name: _field(f) for f in of if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def shape_of(type_name: str) -> NodeShape:
    return shapes().objects[type_name]


@st.composite
def documents(draw: st.DrawFn, type_name: str | None = None) -> dict[str, Any]:
    """A plain-JSON message of the given (or any) type that passes its JSON Schema."""
    name = type_name or draw(st.sampled_from(v.INFORMATION_OBJECTS))
    body = draw(fields(shapes().fields_of(name)))
    return {"type": name, **body}
