"""The SPARQL 1.1 Protocol at /sparql: queries by GET and POST, updates for authorised writers.

Results are negotiated on the Accept header (q-values honoured): SELECT and ASK as SPARQL JSON
(the default), XML, CSV or TSV; CONSTRUCT and DESCRIBE as Turtle (the default), N-Triples,
N-Quads, JSON-LD or RDF/XML. A result cut at the configured limit carries the header
`Heila-Truncated: true`; a query past the timeout answers 503.
"""

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.errors import Invalid, NotSender, ParseError, QueryRefused
from hub.negotiation import negotiate
from hub.problem import Problem, problem_of
from hub.store import QueryResult, QueryTimeout, Store, Term
from hub.vocabulary import XSD

TRUNCATED_HEADER = "Heila-Truncated"

_RESULTS_JSON = "application/sparql-results+json"
_RESULTS_XML = "application/sparql-results+xml"
_CSV = "text/csv"
_TSV = "text/tab-separated-values"
_FORM = "application/x-www-form-urlencoded"
_QUERY = "application/sparql-query"
_UPDATE = "application/sparql-update"

# What each result form can be written as, the default first; aliases answer in their own type.
_TABLE_TYPES = (_RESULTS_JSON, _RESULTS_XML, _CSV, _TSV, "application/json", "application/xml")
_BOOLEAN_TYPES = (_RESULTS_JSON, _RESULTS_XML, "application/json", "application/xml")
_GRAPH_FORMATS = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "text/plain": ox.RdfFormat.N_TRIPLES,
}
_XSD_STRING = XSD + "string"


def sparql_router(store: Store, authorise_writer: Callable[[Request], str]) -> APIRouter:
    """The /sparql routes over `store`; `authorise_writer` raises a Problem unless a writer asks."""
    router = APIRouter(tags=["SPARQL"])

    @router.get("/sparql", summary="SPARQL 1.1 query")
    async def get_query(request: Request) -> Response:
        parameters = {key: request.query_params.getlist(key) for key in request.query_params}
        return await answer(store, request, _one(parameters, "query"), *_dataset(parameters))

    @router.post("/sparql", summary="SPARQL 1.1 query or update")
    async def post(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = (await request.body()).decode("utf-8", errors="replace")
        in_url = {key: request.query_params.getlist(key) for key in request.query_params}
        if media_type == _QUERY:
            return await answer(store, request, body, *_dataset(in_url))
        if media_type == _UPDATE:
            return await _update(store, request, authorise_writer, body)
        if media_type == _FORM:
            form = parse_qs(body, keep_blank_values=True)
            if "update" in form:
                return await _update(store, request, authorise_writer, _one(form, "update"))
            return await answer(store, request, _one(form, "query"), *_dataset(form))
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"post a query as {_QUERY} or {_FORM}, an update as {_UPDATE} or {_FORM}",
        )

    return router


async def answer(
    store: Store,
    request: Request,
    query: str,
    default_graph_uris: Sequence[str] = (),
    named_graph_uris: Sequence[str] = (),
) -> Response:
    """Run a query and write its result in the best type the client accepts."""
    try:
        result = await run_in_threadpool(
            store.query,
            query,
            default_graph_uris=default_graph_uris,
            named_graph_uris=named_graph_uris,
        )
    except ParseError as error:
        raise _malformed("query", error) from None
    except QueryRefused as error:
        raise Problem(400, "refused-query", "Query refused", str(error)) from None
    except QueryTimeout as error:
        raise Problem(
            503, "query-timeout", "Query took too long", str(error), {"Retry-After": "60"}
        ) from None
    return render(result, request.headers.get("accept", ""))


def render(result: QueryResult, accept: str) -> Response:
    """The result in the most acceptable of the types its form can take; 406 if none is."""
    offered = {"select": _TABLE_TYPES, "ask": _BOOLEAN_TYPES, "graph": tuple(_GRAPH_FORMATS)}
    media_type = negotiate(accept, offered[result.form])
    if media_type is None:
        raise Problem(
            406,
            "not-acceptable",
            "Not acceptable",
            f"this result can be had as {', '.join(offered[result.form])}",
        )
    headers = {TRUNCATED_HEADER: "true"} if result.truncated else {}
    return Response(_write(result, media_type), media_type=media_type, headers=headers)


def _write(result: QueryResult, media_type: str) -> bytes:
    if result.form == "graph":
        return _write_graph(result.triples, _GRAPH_FORMATS[media_type])
    if media_type in (_RESULTS_XML, "application/xml"):
        return _results_xml(result)
    if media_type == _CSV:
        return _results_csv(result)
    if media_type == _TSV:
        return _results_tsv(result)
    return _results_json(result)


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
    document = {"head": {"vars": list(result.variables)}, "results": {"bindings": bindings}}
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


async def _update(
    store: Store, request: Request, authorise_writer: Callable[[Request], str], update: str
) -> Response:
    actor = authorise_writer(request)
    try:
        await run_in_threadpool(store.update, update, sender=actor)
    except ParseError as error:
        raise _malformed("update", error) from None
    except (NotSender, Invalid) as error:  # answered as a POSTed message would be
        raise problem_of(error) from None
    except QueryRefused as error:
        raise Problem(400, "refused-update", "Update refused", str(error)) from None
    return Response(status_code=204)


def _malformed(what: str, error: ParseError) -> Problem:
    return Problem(
        400,
        f"malformed-{what}",
        f"Malformed {what}",
        str(error),
        line=error.line,
        column=error.column,
    )


def _one(parameters: Mapping[str, list[str]], name: str) -> str:
    values = parameters.get(name, [])
    if len(values) != 1:
        rule = "required" if not values else "maxCount"
        raise _bad_parameter(name, rule, f"give exactly one {name} parameter")
    return values[0]


def _dataset(parameters: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """The default-graph-uri and named-graph-uri parameters, each checked to be an IRI."""
    dataset = []
    for name in ("default-graph-uri", "named-graph-uri"):
        for value in parameters.get(name, []):
            try:
                ox.NamedNode(value)
            except ValueError as error:
                raise _bad_parameter(name, "iri", f"{value!r} is not an IRI: {error}") from None
        dataset.append(parameters.get(name, []))
    return dataset[0], dataset[1]


def _bad_parameter(name: str, rule: str, detail: str) -> Problem:
    return Problem(400, "bad-parameter", "Bad query parameter", detail, field=name, rule=rule)
