"""The SPARQL console: YASGUI on the hub's own /sparql, at `/`, `/console`, and on /sparql for a
browser that asks with no query, as Oxigraph's and Fuseki's servers offer one.

It comes from the vendored YASGUI (hub.web.assets), so it works without internet. The HEILA
prefixes are preset in the first tab and every named query is one click from a tab of its own,
with its documentation beside it. The page is written once per process: it reads nothing from
the store, so it adds no work to the write path.
"""

import json
from collections.abc import Callable
from functools import cache
from html import escape

from fastapi import APIRouter
from starlette.responses import HTMLResponse
from starlette.types import Scope

from hub.model import context
from hub.model import vocabulary as v
from hub.web import assets
from hub.web.pages import add_page, page
from hub.web.queries import NamedQuery, named_queries

PREFIXES = {
    **{name: iri for name, iri in context.PREFIXES.items() if name != "message"},
    "rdfs": v.RDFS,
    "msg": v.MESSAGE,
}
"""The prefixes preset in the console: the JSON-LD context's, with `msg:` for messages as the
named queries write it, and RDFS for the ontology."""

FIRST_QUERY = """
# The messages in the store, by type. Each message is a named graph; the default graph is
# the union of them all. Pick a named query on the left for more.
SELECT ?type (COUNT(?message) AS ?messages)
WHERE { ?message a ?type ; smartapi:generatedBy ?sender . }
GROUP BY ?type
ORDER BY DESC(?messages)
"""

SPARQL_ANSWERS = (
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
    "application/json",
    "application/xml",
    "text/turtle",
)
"""What /sparql answers a program: a client that prefers any of them gets no console."""


def prologue() -> str:
    return "".join(f"PREFIX {name}: <{iri}>\n" for name, iri in PREFIXES.items())


def _entry(query: NamedQuery) -> str:
    parameters = "".join(
        f"<li><code>{escape(p.name)}</code> ({escape(p.type)}): {escape(p.description)}</li>"
        for p in query.parameters
    )
    bound = (
        f"<p>Parameters, bound with a VALUES block here or given to "
        f'<a href="/queries/{escape(query.name)}">/queries/{escape(query.name)}</a>:</p>'
        f"<ul>{parameters}</ul>"
        if query.parameters
        else f'<p>Also at <a href="/queries/{escape(query.name)}">'
        f"/queries/{escape(query.name)}</a> (JSON, CSV, TSV).</p>"
    )
    return (
        f'<li><button type="button" data-query="{escape(query.name)}">'
        f"{escape(query.title)}</button>"
        f"<details><summary>about</summary><p>{escape(query.description)}</p>{bound}</details></li>"
    )


@cache
def _console() -> HTMLResponse:
    queries = named_queries()
    data = {
        "endpoint": "/sparql",
        "first": prologue() + FIRST_QUERY,
        "queries": {name: {"title": q.title, "sparql": q.sparql} for name, q in queries.items()},
    }
    body = (
        '<div class="console"><aside><h2>Named queries</h2>'
        "<p>Each opens in a tab of its own.</p>"
        f'<ul class="queries">{"".join(_entry(q) for q in queries.values())}</ul>'
        '<p><a href="/guide/dataset">How the dataset is laid out</a>, and the result limit.</p>'
        '</aside><section><p id="truncated" class="notice" role="status" hidden>'
        "This result was cut at the hub's result limit: only its first rows are shown. "
        "Page through it with ORDER BY, LIMIT and OFFSET "
        '(<a href="/guide/dataset">how</a>), or count with an aggregate.</p>'
        '<div id="yasgui"></div></section></div>'
    )
    return page(
        "SPARQL console",
        body,
        scripts=(f"{assets.YASGUI}/yasgui.min.js", "console.js"),
        styles=(f"{assets.YASGUI}/yasgui.min.css",),
        data=json.dumps(data),
    )


def console() -> HTMLResponse:
    return _console()


def console_router() -> APIRouter:
    """`/` and `/console`."""
    router = APIRouter()
    for path in ("/", "/console"):
        router.add_api_route(path, console, include_in_schema=False)
    return router


def add_pages(router: APIRouter) -> Callable[[Scope], bool]:
    """The console on /sparql for a browser; whether a request to /sparql is the console's."""
    return add_page(router, "/sparql", console, SPARQL_ANSWERS, bare=True).claims
