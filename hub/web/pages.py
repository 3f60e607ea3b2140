"""The frame of every page the hub writes for people, and the routes only a browser reaches.

A page route sits in front of an API route on the same path (`/sparql`, `/ontology`,
`/queries`) and matches only when the client asks for HTML first, so programs keep the API's
answers and never pay for the page. Every page carries a content security policy that lets
the browser fetch nothing from outside the hub.
"""

from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse
from starlette.routing import Match
from starlette.types import Scope

from hub.model.negotiation import negotiate
from hub.web import assets

NAVIGATION = (
    ("/", "Console"),
    ("/ontology", "Ontology"),
    ("/guide/messages", "Messages"),
    ("/guide/dataset", "Dataset"),
    ("/guide/queries", "Named queries"),
    ("/docs", "HTTP API"),
    ("/redoc", "API reference"),
)
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'self'"
)
HTML = "text/html"


def page(
    title: str,
    body: str,
    *,
    scripts: Sequence[str] = (),
    styles: Sequence[str] = (),
    data: str | None = None,
) -> HTMLResponse:
    """A whole page: `body` is HTML already escaped; scripts and styles are static files;
    `data` is JSON handed to the scripts in a non-executed script element."""
    links = "".join(
        f'<link rel="stylesheet" href="{assets.url(path)}">' for path in ("hub.css", *styles)
    )
    tags = "".join(f'<script src="{assets.url(path)}" defer></script>' for path in scripts)
    handed = (
        f'<script type="application/json" id="page-data">{_in_script(data)}</script>'
        if data is not None
        else ""
    )
    navigation = "".join(f'<a href="{href}">{escape(text)}</a>' for href, text in NAVIGATION)
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="{assets.url("favicon.svg")}" type="image/svg+xml">'
        f"<title>{escape(title)} · HEILA hub</title>{links}{tags}</head>"
        f"<body><header><strong>HEILA hub</strong><nav>{navigation}</nav></header>"
        f"<main>{body}</main>{handed}</body></html>"
    )
    return HTMLResponse(document, headers={"Content-Security-Policy": POLICY})


def _in_script(data: str) -> str:
    """JSON that cannot close its script element early."""
    return data.replace("<", "\\u003c")


def asks_for_page(accept: str | None, answers: Sequence[str]) -> bool:
    """True when the Accept header names HTML and prefers it to every one of `answers`."""
    if not accept or HTML not in accept.lower():
        return False
    return negotiate(accept, (HTML, *answers)) == HTML


class PageRoute(APIRoute):
    """A route reached only by a client that asks for HTML before `answers` (and, when `bare`,
    sends no query string); any other request goes on to the routes after it."""

    answers: tuple[str, ...] = ()
    bare: bool = False

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
        if path != self.path or (self.bare and scope.get("query_string")):
            return Match.NONE, {}  # a page's path has no parameters
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return match, child
        headers = dict(scope.get("headers", []))
        accept = headers.get(b"accept", b"").decode("latin-1")
        if not asks_for_page(accept, self.answers):
            return Match.NONE, {}
        return match, child

    def claims(self, scope: Scope) -> bool:
        """Whether this page answers the request."""
        return self.matches(scope)[0] is Match.FULL


def add_page(
    router: APIRouter,
    path: str,
    endpoint: Callable[..., Any],
    answers: Sequence[str],
    *,
    bare: bool = False,
) -> PageRoute:
    """A page at `path` in front of the API's answers there (see PageRoute)."""
    kind = type("PageRoute", (PageRoute,), {"answers": tuple(answers), "bare": bare})
    router.add_api_route(
        path, endpoint, methods=["GET"], include_in_schema=False, route_class_override=kind
    )
    route = router.routes[-1]
    assert isinstance(route, PageRoute)
    return route
