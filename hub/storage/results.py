"""SPARQL results as the protocol writes them: read up to the limit, then negotiated and written.

SELECT and ASK answer as SPARQL JSON (the default), XML, CSV or TSV; CONSTRUCT and DESCRIBE as
Turtle (the default), N-Triples, N-Quads, JSON-LD or RDF/XML. A result cut at the limit says so
inside the document where its format has room for it (a `link` in the JSON and XML heads) and
in the `Heila-Truncated` header. This module needs only pyoxigraph, so a query worker process
can write results without loading the rest of the hub.

`answer` writes SELECT results (but TSV) with pyoxigraph's own serializers, as fast as
Oxigraph's server writes them, counting rows as the bytes come; only a result that may pass the
limit is read again row by row here, to be cut (`read`, `write`).
"""

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

from hub.model.negotiation import negotiate

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple

TRUNCATED_HEADER = "Heila-Truncated"
TRUNCATED_LINK = "https://w3id.org/heila/hub/doc/dataset#result-limit"
"""Where the result limit and the way to page past it are explained; a truncated result's
JSON and XML heads link here."""

RESULTS_JSON = "application/sparql-results+json"
RESULTS_XML = "application/sparql-results+xml"
CSV = "text/csv"
TSV = "text/tab-separated-values"

# What each result form can be written as, the default first; aliases answer in their own type.
TABLE_TYPES = (RESULTS_JSON, RESULTS_XML, CSV, TSV, "application/json", "application/xml")
BOOLEAN_TYPES = (RESULTS_JSON, RESULTS_XML, "application/json", "application/xml")
GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "text/plain": ox.RdfFormat.N_TRIPLES,
}
OFFERED = {"select": TABLE_TYPES, "ask": BOOLEAN_TYPES, "graph": tuple(GRAPH_FORMATS)}
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

Evaluated = ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples
"""What pyoxigraph answers a query: rows, a boolean or triples, not yet read."""


@dataclass(frozen=True)
class _Rows:
    """How pyoxigraph writes a table in one format: the bytes that come once per row (or more
    often, inside a value), and what to add to their count for a bound on the rows."""

    format: ox.QueryResultsFormat
    marker: bytes
    offset: int


_JSON_ROWS = _Rows(ox.QueryResultsFormat.JSON, b",{", 1)
"""Rows are objects separated by `,{`; a string can hold those bytes too, never fewer."""
_XML_ROWS = _Rows(ox.QueryResultsFormat.XML, b"<result>", 0)
"""Text escapes `<`, so each `<result>` is a row."""
_CSV_ROWS = _Rows(ox.QueryResultsFormat.CSV, b"\n", -1)
"""One line per row after the header (a quoted value may hold a line break)."""
_WRITTEN_BY_PYOXIGRAPH = {
    RESULTS_JSON: _JSON_ROWS,
    "application/json": _JSON_ROWS,
    RESULTS_XML: _XML_ROWS,
    "application/xml": _XML_ROWS,
    CSV: _CSV_ROWS,
}
"""Table formats pyoxigraph writes as the hub does. Not TSV: pyoxigraph writes numbers bare,
where the hub keeps every term in its N-Triples form (docs/dataset.md)."""


@dataclass(frozen=True)
class QueryResult:
    """The answer of a query: rows (SELECT), a boolean (ASK) or triples (CONSTRUCT, DESCRIBE)."""

    form: Literal["select", "ask", "graph"]
    variables: tuple[str, ...] = ()
    rows: tuple[tuple[Term | None, ...], ...] = ()
    boolean: bool = False
    triples: tuple[ox.Triple, ...] = ()
    truncated: bool = False


class NotAcceptable(Exception):
    """None of the types the client accepts can carry this result's form."""

    def __init__(self, offered: Sequence[str]) -> None:
        self.offered = tuple(offered)
        super().__init__(f"this result can be had as {', '.join(offered)}")


_OXIGRAPH_POSITION = re.compile(r"error at (\d+):(\d+)")


def syntax_error_position(error: SyntaxError) -> tuple[str, int | None, int | None]:
    """The parser's own message, with its line and column when it gives them."""
    reason = str(error.msg)
    if error.lineno is not None:
        return reason, error.lineno, error.offset
    found = _OXIGRAPH_POSITION.search(reason)
    if found is None:
        return reason, None, None
    return reason, int(found.group(1)), int(found.group(2))


class _PastLimit(Exception):
    """The rows written may be more than the limit: the result is to be cut."""


class _PastDeadline(Exception):
    """The query ran past its deadline while its rows were written."""


class _CountedRows(io.BytesIO):
    """The bytes pyoxigraph writes (in chunks of a few kilobytes), with a running bound on the
    rows in them; it stops the writing once that bound passes the limit or time runs out."""

    def __init__(self, rows: _Rows, limit: int, deadline: float) -> None:
        super().__init__()
        self._rows = rows
        self._bound = rows.offset
        self._tail = b""
        self._limit = limit
        self._deadline = deadline

    def write(self, data: "Buffer") -> int:
        seam = self._tail + bytes(data)  # a marker may straddle two chunks
        self._bound += seam.count(self._rows.marker)
        self._tail = seam[len(seam) - len(self._rows.marker) + 1 :]
        if self._bound > self._limit:
            raise _PastLimit
        if time.monotonic() > self._deadline:
            raise _PastDeadline
        return super().write(data)


def _solutions_written(
    solutions: ox.QuerySolutions, rows: _Rows, limit: int, deadline: float
) -> bytes | None:
    """The rows written by pyoxigraph's serializer; None when they may pass the limit.

    Raises _PastDeadline when the query outlives its deadline."""
    written = _CountedRows(rows, limit, deadline)
    try:
        solutions.serialize(written, format=rows.format)
    except _PastLimit:
        return None
    return written.getvalue()


def _bounded_written(solutions: ox.QuerySolutions, rows: _Rows, limit: int) -> bytes | None:
    """The rows written by pyoxigraph's serializer at once; None when they may pass the limit."""
    body = solutions.serialize(format=rows.format) or b""
    return body if rows.offset + body.count(rows.marker) <= limit else None


@dataclass(frozen=True)
class Answer:
    """A result written for the client."""

    media_type: str
    body: bytes
    truncated: bool


def answer(
    run: Callable[[], Evaluated], accept: str, limit: int, deadline: float, *, bounded: bool = False
) -> Answer | None:
    """The answer of `run` (a query) in the type the client prefers, cut at the limit; None once
    the deadline has passed, NotAcceptable when no accepted type fits its form.

    SELECT results that stay within the limit are written by pyoxigraph (but TSV); one that may
    pass it is asked again and read here, to be cut. When `bounded`, `run` gives at most one
    row past the limit (its text has a LIMIT), so its rows are written whole and counted after,
    which saves a call into Python for each chunk pyoxigraph writes."""
    result = run()
    if isinstance(result, ox.QuerySolutions):
        media_type = _negotiated(accept, "select")
        rows = _WRITTEN_BY_PYOXIGRAPH.get(media_type)
        if rows is not None:
            try:
                body = (
                    _bounded_written(result, rows, limit)
                    if bounded
                    else _solutions_written(result, rows, limit, deadline)
                )
            except _PastDeadline:
                return None
            if body is not None:
                return Answer(media_type, body, False)
            result = run()
    read_result = read(result, limit, deadline)
    if read_result is None:
        return None
    media_type, body = write(read_result, accept)
    return Answer(media_type, body, read_result.truncated)


def _negotiated(accept: str, form: str) -> str:
    media_type = negotiate(accept, OFFERED[form])
    if media_type is None:
        raise NotAcceptable(OFFERED[form])
    return media_type


def read(answer: Evaluated, limit: int, deadline: float) -> QueryResult | None:
    """The answer read up to the result limit; None once the deadline has passed."""
    if isinstance(answer, ox.QueryBoolean):
        return QueryResult("ask", boolean=bool(answer))
    if isinstance(answer, ox.QuerySolutions):
        variables = tuple(variable.value for variable in answer.variables)
        rows = _take((tuple(row[name] for name in variables) for row in answer), limit, deadline)
        if rows is None:
            return None
        return QueryResult(
            "select", variables=variables, rows=tuple(rows[:limit]), truncated=len(rows) > limit
        )
    triples = _take(iter(answer), limit, deadline)
    if triples is None:
        return None
    return QueryResult("graph", triples=tuple(triples[:limit]), truncated=len(triples) > limit)


def _take(items: Iterator[Any], limit: int, deadline: float) -> list[Any] | None:
    """At most limit + 1 items (one more tells of truncation); None once the deadline passed."""
    taken: list[Any] = []
    for item in items:
        if time.monotonic() > deadline:
            return None
        taken.append(item)
        if len(taken) > limit:
            break
    return taken


def write(result: QueryResult, accept: str) -> tuple[str, bytes]:
    """The result in the most acceptable type its form can take, or NotAcceptable."""
    media_type = _negotiated(accept, result.form)
    if result.form == "graph":
        return media_type, _write_graph(result.triples, GRAPH_FORMATS[media_type])
    if media_type in (RESULTS_XML, "application/xml"):
        return media_type, _results_xml(result)
    if media_type == CSV:
        return media_type, _results_csv(result)
    if media_type == TSV:
        return media_type, _results_tsv(result)
    return media_type, _results_json(result)


def _write_graph(triples: Sequence[ox.Triple], format: ox.RdfFormat) -> bytes:
    if format == ox.RdfFormat.N_QUADS:
        quads = [ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples]
        return ox.serialize(quads, format=format) or b""
    return ox.serialize(triples, format=format) or b""


def _results_json(result: QueryResult) -> bytes:
    if result.form == "ask":
        return json.dumps({"head": {}, "boolean": result.boolean}).encode()
    bindings = [
        {name: _json_term(term) for name, term in zip(result.variables, row, strict=True) if term}
        for row in result.rows
    ]
    head: dict[str, Any] = {"vars": list(result.variables)}
    if result.truncated:
        head["link"] = [TRUNCATED_LINK]
    document = {"head": head, "results": {"bindings": bindings}}
    return json.dumps(document, ensure_ascii=False).encode()


def _json_term(term: Term) -> dict[str, Any]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        written: dict[str, Any] = {"type": "literal", "value": term.value}
        if term.language:
            written["xml:lang"] = term.language
        elif term.datatype.value != _XSD_STRING:
            written["datatype"] = term.datatype.value
        return written
    parts = {"subject": term.subject, "predicate": term.predicate, "object": term.object}
    return {"type": "triple", "value": {key: _json_term(part) for key, part in parts.items()}}


def _results_xml(result: QueryResult) -> bytes:
    head = "".join(f"<variable name={quoteattr(name)}/>" for name in result.variables)
    if result.truncated:
        head += f"<link href={quoteattr(TRUNCATED_LINK)}/>"
    if result.form == "ask":
        body = f"<boolean>{'true' if result.boolean else 'false'}</boolean>"
    else:
        rows = "".join(
            "<result>"
            + "".join(
                f"<binding name={quoteattr(name)}>{_xml_term(term)}</binding>"
                for name, term in zip(result.variables, row, strict=True)
                if term is not None
            )
            + "</result>"
            for row in result.rows
        )
        body = f"<results>{rows}</results>"
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sparql xmlns="http://www.w3.org/2005/sparql-results#"><head>{head}</head>{body}</sparql>'
    )
    return document.encode()


def _xml_term(term: Term) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype.value != _XSD_STRING:
            return (
                f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
            )
        return f"<literal>{escape(term.value)}</literal>"
    return (
        f"<triple><subject>{_xml_term(term.subject)}</subject>"
        f"<predicate>{_xml_term(term.predicate)}</predicate>"
        f"<object>{_xml_term(term.object)}</object></triple>"
    )


def _results_csv(result: QueryResult) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(result.variables)
    for row in result.rows:
        writer.writerow([plain(term) for term in row])
    return out.getvalue().encode()


def plain(term: Term | None) -> str:
    """A term as people read it: the IRI, the literal's text, `_:id` for a blank node."""
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode | ox.Literal):
        return term.value
    return str(term)


def _results_tsv(result: QueryResult) -> bytes:
    lines = ["\t".join(f"?{name}" for name in result.variables)]
    for row in result.rows:
        lines.append("\t".join("" if t is None else str(t).replace("\t", "\\t") for t in row))
    return ("\n".join(lines) + "\n").encode()
