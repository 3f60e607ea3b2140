"""A Measurement's readings in columns: checked in one pass over the batch, written as one chunk.

The field bridge sends Measurements of up to a thousand readings, each a point, a value, a
device time and, when not good, quality flags. Walking every reading as JSON, then as triples,
an index, the shapes node by node and Quad objects cost more than Oxigraph's own write of it.
Here each field of the readings is a column: the JSON Schema's and the reading shape's rules
are checked once per distinct value of a column (a batch has few points, instants and flags;
only its values are many), and the readings become one N-Quads chunk in the message's graph,
which Oxigraph parses itself. Python terms of the readings are made only when asked for.

Only rules that look at one value, and counts, are checked in columns. A SPARQL rule that joins
the reading's point (a power factor's range) needs the point's facts from the published point
maps: it is checked on the readings of points that have such facts (hub.model.validation), and
`ruled_quantities` says which quantities' facts are worth asking for. A reading shape that grows
another kind of rule (other SPARQL, a nested node, a reference, a comparison) sends every
Measurement the generic way, so nothing is ever checked less. A batch that breaks a rule goes
the generic way too, so its problem report is the generic one, word for word; the suite holds
the column verdict to pyshacl's.
"""

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import pyoxigraph as ox

from hub.model import json_form, schema, shacl
from hub.model import vocabulary as v
from hub.model.json_form import Writer, writers
from hub.model.shapes import Field, shapes
from hub.model.terms import Index, Term, Triple, is_well_typed, triples_of

READING_SHAPE = "https://w3id.org/heila/shapes#ReadingShape"
READING = ox.NamedNode(v.HEILA + "reading")
POINT = ox.NamedNode(v.HEILA + "point")
POINT_JOIN = "?this heila:point ?point"
"""How a reading's SPARQL rule names its point, so it can be checked by the point's facts."""
_RULED = re.compile(r"\?point heila:quantity heila:(\w+)")
"""How such a rule names the quantity it holds for."""
DOUBLE = v.XSD + "double"

Column = Sequence[Sequence[Term]]
"""The values of one property, reading by reading."""

_ABSENT = object()
_ESCAPED = re.compile(r'["\\\n\r]')
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda x: type(x) is str,
    "number": lambda x: type(x) is float or type(x) is int,
    "integer": lambda x: type(x) is int,
    "boolean": lambda x: type(x) is bool,
}


@dataclass(frozen=True)
class Readings:
    """Readings that keep the reading shape: their triples (and the message's links to them) as
    N-Quads in the message's graph."""

    nquads: bytes
    quad_count: int
    first: tuple[Triple, ...]
    """the first reading's triples and its link: what the message's own shape is checked with"""
    points: Mapping[str, int]
    """how many of the readings name each point, by its id: counted without the triples"""
    items: tuple[dict[str, Any], ...] = dataclasses.field(compare=False)
    """the readings as JSON, for `of_points`"""
    iri: str = dataclasses.field(compare=False)

    def triples(self) -> list[Triple]:
        return triples_of(ox.parse(self.nquads, ox.RdfFormat.N_QUADS))

    def of_points(self, points: Collection[str]) -> list[Triple]:
        """The triples of the readings that name these points (by id), and their links."""
        numbers = [n for n, item in enumerate(self.items) if item["point"] in points]
        forms = _forms()
        assert forms is not None  # they were read in columns
        written = _written(forms, [self.items[n] for n in numbers], numbers, self.iri)
        assert written is not None  # they kept the rules already
        return triples_of(ox.parse("".join(written[0]), ox.RdfFormat.N_QUADS))


@dataclass(frozen=True, eq=False)
class _Form:
    """A reading field with what checking and writing its values in columns needs."""

    field: Field
    check: shacl.PropertyCheck
    writer: Writer
    json_valid: Callable[[Any], bool]
    path_text: str
    plain_literal: bool
    """a literal field whose rules are of datatype and pattern only"""

    @cached_property
    def datatype_fits(self) -> bool:
        return self.check.datatype == self.writer.datatype

    @cached_property
    def literal_suffix(self) -> str:
        return f"^^<{self.writer.datatype.value}>"


def _json_check(value_schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """The JSON Schema of one value as a test, for the keywords a reading field's schema uses;
    None for any other."""
    if set(value_schema) - {"type", "pattern", "enum"}:
        return None
    is_type = _JSON_TYPES.get(value_schema.get("type", "string"))
    if is_type is None:
        return None
    if "enum" in value_schema:
        members = frozenset(value_schema["enum"])
        return lambda x: type(x) is str and x in members
    pattern = re.compile(value_schema["pattern"]) if "pattern" in value_schema else None
    if pattern is None:
        return is_type
    return lambda x: is_type(x) and pattern.search(x) is not None


def _by_column(check: shacl.PropertyCheck) -> bool:
    """Whether a property's rules look at one value at a time, so a column can be checked, but
    for SPARQL rules that join the reading's point: those need the point's facts and are
    checked on the readings of points that have some (hub.model.validation)."""
    about_points = all(POINT_JOIN in sparql.query for sparql in check.sparql)
    return about_points and not (check.node or check.refers_to or check.less_than)


@cache
def _forms() -> tuple[_Form, ...] | None:
    """The reading fields, or None when the reading shape has a rule columns cannot check."""
    fields = shapes().parts[READING_SHAPE].fields
    checks = {c.path.value: c for c in shacl.compiled()[READING_SHAPE]}
    by_path = {w.path.value: w for w in writers(READING_SHAPE)}
    forms = []
    for field in fields:
        check = checks[field.path]
        json_valid = _json_check(schema.value_schema(field))
        if field.kind == "part" or json_valid is None or not _by_column(check):
            return None
        rules = {rule for rule, _holds, _words in check.value_rules}
        plain = field.kind == "literal" and rules <= {"datatype", "pattern"}
        writer = by_path[field.path]
        forms.append(_Form(field, check, writer, json_valid, f"<{field.path}>", plain))
    if len(forms) != len(checks):
        return None
    return tuple(forms)


@cache
def ruled_quantities() -> frozenset[str]:
    """The quantities (IRIs) the reading shape's rules on a point hold for: the facts of points
    of other quantities cannot break one."""
    queries = [sparql.query for check in shacl.compiled()[READING_SHAPE] for sparql in check.sparql]
    return frozenset(v.HEILA + name for query in queries for name in _RULED.findall(query))


def _keeps(check: shacl.PropertyCheck, values: Iterable[Term]) -> bool:
    return all(shacl.keeps_value_rules(check, value) for value in values)


def conforms(columns: Mapping[ox.NamedNode, Column], count: int) -> bool | None:
    """Whether `count` readings keep the reading shape, a column (the values of one property,
    reading by reading) at a time: counts per reading, value rules once per distinct value.
    None when the shape has rules columns cannot check."""
    if _forms() is None:
        return None
    for check in shacl.compiled()[READING_SHAPE]:
        column = columns.get(check.path) or [()] * count
        sizes = set(map(len, column))
        if min(sizes, default=0) < check.min_count:
            return False
        if check.max_count is not None and max(sizes, default=0) > check.max_count:
            return False
        if not _keeps(check, {value for values in column for value in values}):
            return False
    return True


def columns_of(data: Index, nodes: Sequence[Term]) -> dict[ox.NamedNode, Column]:
    """The columns of the readings `nodes` in an index of triples."""
    paths = [check.path for check in shacl.compiled()[READING_SHAPE]]
    return {path: [data.get(node, {}).get(path, []) for node in nodes] for path in paths}


def _term(writer: Writer, value: Any) -> Term:
    if writer.kind == "literal":
        return ox.Literal(writer.lexical(value), datatype=writer.datatype)
    if writer.kind == "ref":
        return ox.NamedNode(f"{writer.base}{value}")
    return writer.members[value]


def _text(form: _Form, value: Any) -> str | None:
    """The N-Triples text of a JSON value's term, or None if the term breaks a rule."""
    if form.plain_literal:
        return _literal_text(form, form.writer.lexical(value))
    term = _term(form.writer, value)
    return str(term) if shacl.keeps_value_rules(form.check, term) else None


def _literal_text(form: _Form, lexical: str) -> str | None:
    """A literal's rules of datatype and pattern read its lexical form alone: no term is made
    for it unless its text needs escaping."""
    check = form.check
    if check.datatype is not None and not (form.datatype_fits and _well_typed(form, lexical)):
        return None
    if check.pattern is not None and check.pattern.search(lexical) is None:
        return None
    if _ESCAPED.search(lexical):
        return str(ox.Literal(lexical, datatype=form.writer.datatype))
    return f'"{lexical}"{form.literal_suffix}'


def _well_typed(form: _Form, lexical: str) -> bool:
    """A double the JSON form wrote is Python's repr of a float, which is in xsd:double's
    lexical space unless it is "inf" or "nan": a batch's values, all distinct, need no parse."""
    if form.writer.datatype.value == DOUBLE and form.writer.lexical is json_form.write_double:
        return "n" not in lexical
    return is_well_typed(form.writer.datatype.value, lexical)


def _distinct(raw: Iterable[Any]) -> set[tuple[type, Any]] | None:
    """The distinct values, told apart by type too, since JSON's true is not its 1; None if
    one is a list or an object, which no reading field takes."""
    try:
        return {(type(x), x) for x in raw}
    except TypeError:
        return None


def _texts(form: _Form, raw: Iterable[Any]) -> dict[Any, str] | None:
    """Each distinct JSON value of a column as the N-Triples text of its term; None if one
    breaks a rule."""
    distinct = _distinct(raw)
    if distinct is None:
        return None
    texts = {}
    for _kind, value in distinct:
        text = _text(form, value) if form.json_valid(value) else None
        if text is None:
            return None
        texts[value] = text
    return texts


def _single(form: _Form, items: Sequence[dict[str, Any]]) -> list[str | None] | None:
    """The texts of a field of one value at most, reading by reading (None where absent)."""
    raw = [item.get(form.field.name, _ABSENT) for item in items]
    present = [x for x in raw if x is not _ABSENT]
    if len(present) < len(raw) * form.field.min_count:
        return None
    texts = _texts(form, present)
    return None if texts is None else [None if x is _ABSENT else texts[x] for x in raw]


def _many(form: _Form, items: Sequence[dict[str, Any]]) -> list[list[str]] | None:
    """The texts of a field of several values, reading by reading."""
    field = form.field
    lists = [item.get(field.name, []) for item in items]
    if not all(type(x) is list and field.min_count <= len(x) for x in lists):
        return None
    if field.max_count is not None and any(len(x) > field.max_count for x in lists):
        return None
    flat = [x for values in lists for x in values]
    if any(len(_distinct(values) or ()) != len(values) for values in lists):
        return None
    texts = _texts(form, flat)
    return None if texts is None else [[texts[x] for x in values] for values in lists]


def _written(
    forms: Sequence[_Form], items: Sequence[dict[str, Any]], numbers: Sequence[int], iri: str
) -> tuple[list[str], list[str]] | None:
    """The N-Quads lines of readings (numbered as in their message) and of their links, and
    those of the first; None if one breaks a rule."""
    single = [form for form in forms if not form.field.many]
    many = [form for form in forms if form.field.many]
    singles = [_single(form, items) for form in single]
    manys = [_many(form, items) for form in many]
    if any(column is None for column in [*singles, *manys]):
        return None
    nodes = [f"<{iri}#reading-{n}>" for n in numbers]
    tail = f" <{iri}> .\n"
    link = f"<{iri}> {READING} "
    lines = [link + node + tail for node in nodes]
    first = lines[:1]
    for form, column in zip(single, singles, strict=True):
        assert column is not None
        path = f" {form.path_text} "
        written = [
            node + path + text + tail
            for node, text in zip(nodes, column, strict=True)
            if text is not None
        ]
        first += written[:1] if column[0] is not None else []
        lines += written
    for form, lists in zip(many, manys, strict=True):
        assert lists is not None
        path = f" {form.path_text} "
        written = [
            node + path + text + tail
            for node, texts in zip(nodes, lists, strict=True)
            for text in texts
        ]
        first += written[: len(lists[0])]
        lines += written
    return lines, first


def from_json(items: Any, iri: str) -> Readings | None:
    """The readings of a Measurement's plain JSON, if every one keeps the JSON Schema and the
    reading shape's rules of one value; None sends the message the generic way."""
    forms = _forms()
    if forms is None or type(items) is not list or not items:
        return None
    names = {form.field.name for form in forms}
    if not all(type(item) is dict and item.keys() <= names for item in items):
        return None
    written = _written(forms, items, range(len(items)), iri)
    if written is None:
        return None
    lines, first = written
    return Readings(
        nquads="".join(lines).encode(),
        quad_count=len(lines),
        first=tuple(triples_of(ox.parse("".join(first), ox.RdfFormat.N_QUADS))),
        points=Counter(item["point"] for item in items),
        items=tuple(items),
        iri=iri,
    )
