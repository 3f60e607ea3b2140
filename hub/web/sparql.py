"""The SPARQL 1.1 Protocol at /sparql: queries by GET and POST, updates for administrators.

Queries run in the pool of query workers (hub.storage.query_pool), within its time, memory and
concurrency limits, after two checks no parser can be trusted with: how deep the text nests and
which SERVICE endpoints it calls. Results are negotiated on the Accept header (hub.storage.results).
A query or update must be UTF-8: anything else is refused, never decoded loosely.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from urllib.parse import unquote_to_bytes

import pyoxigraph as ox
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.model.errors import Invalid, NotSender, ParseError, QueryRefused
from hub.storage.query_pool import QueryPool, QueryStopped
from hub.storage.query_worker import Query, Refusal
from hub.storage.results import TRUNCATED_HEADER, Answer
from hub.storage.sparql_scope import refuse_deep_nesting, refuse_unlisted_services
from hub.storage.store import GraphCheck, QueryLimits, Store
from hub.trust.signature import SignatureRefused
from hub.web.problem import Problem, bad_parameter, problem_of

log = logging.getLogger(__name__)

PATH = "/sparql"
_FORM = "application/x-www-form-urlencoded"
_QUERY = "application/sparql-query"
_UPDATE = "application/sparql-update"


class SparqlEndpoint:
    """The /sparql protocol as an ASGI layer in front of the framework: queries through `pool`,
    updates into `store` for the administrators that `authorise_administrator` admits (it
    raises a Problem for anyone else): raw updates pass by the roles' check of each message, so
    only an administrator may make them. Without `updates` (a cluster node, whose writes all go
    through the commit log) every update is refused. `check` judges the message graphs an
    update writes (their signatures). Requests `page` claims (the console's, for a browser) and
    every other path go on to `app`.

    A query costs one path comparison here, and no routing, dependency injection or exception
    middleware: called in process, that machinery took a quarter of the hub's CPU time for a
    lookup. Errors answer as problem reports, as the app's handlers write them. Put it inside
    the body limit, timing and CORS layers, so that they wrap it (the hub puts all four in
    front of the framework's own: hub.app.HubApplication); its OpenAPI description is written
    out whole (hub.web.openapi.OPERATIONS)."""

    def __init__(
        self,
        app: ASGIApp,
        store: Store,
        pool: QueryPool,
        authorise_administrator: Callable[[Request], str],
        *,
        page: Callable[[Scope], bool],
        updates: bool = True,
        check: GraphCheck | None = None,
    ) -> None:
        self.app = app
        self._store = store
        self._pool = pool
        self._authorise_administrator = authorise_administrator
        self._page = page
        self._updates = updates
        self._check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or self._page(scope):
            await self.app(scope, receive, send)
            return
        try:
            response = await self._answer(scope, receive)
        except Exception as error:  # as the app's handlers answer it
            response = problem_of(error).response(PATH)
        if isinstance(response, Answer):
            await _send_answer(send, response)
        else:
            await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Answer | Response:
        method = scope["method"]
        if method in ("GET", "HEAD"):
            parameters = _decoded(scope["query_string"], "query string")
            return await answer_of(
                self._pool, _accepted(scope), _one(parameters, "query"), *_dataset(parameters)
            )
        if method == "POST":
            return await self._post(Request(scope, receive))
        raise HTTPException(405, headers={"Allow": "GET, HEAD, POST"})

    async def _post(self, request: Request) -> Answer | Response:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = _utf8(await request.body(), "body")
        in_url = _decoded(request.scope["query_string"], "query string")
        accept = _accepted(request.scope)
        if media_type == _QUERY:
            return await answer_of(self._pool, accept, body, *_dataset(in_url))
        if media_type == _UPDATE:
            return await self._update(request, body)
        if media_type == _FORM:
            form = _decoded(body.encode(), "form")
            if "update" in form and "query" in form:
                raise bad_parameter("update", "oneOf", "give a query or an update, not both")
            if "update" in form:
                _refuse_dataset_of_update(form)
                return await self._update(request, _one(form, "update"))
            return await answer_of(self._pool, accept, _one(form, "query"), *_dataset(form))
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"post a query as {_QUERY} or {_FORM}, an update as {_UPDATE} or {_FORM}",
        )

    async def _update(self, request: Request, text: str) -> Response:
        if not self._updates:
            raise Problem(
                400,
                "refused-update",
                "Update refused",
                "a cluster commits messages only: POST them to /messages",
                field="update",
                rule="cluster",
            )
        return await _update(
            self._store, self._pool, request, self._authorise_administrator, text, self._check
        )


def _refuse_dataset_of_update(form: Mapping[str, list[str]]) -> None:
    """An update names its graphs itself (WITH, USING, GRAPH), which the hub needs to see
    before it runs; dataset parameters beside it are refused, not ignored."""
    for name in (
        "default-graph-uri",
        "named-graph-uri",
        "using-graph-uri",
        "using-named-graph-uri",
    ):
        if name in form:
            raise bad_parameter(
                name,
                "update",
                f"an update names its graphs in its text (WITH, USING), not in {name}",
            )


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(where, f"byte {error.start} cannot be read") from None


def _decoded(encoded: bytes, where: str) -> dict[str, list[str]]:
    """Percent-encoded parameters, decoded strictly as UTF-8 (raw bytes too), as `parse_qs`
    with blank values kept reads them: on bytes, a third of its time for a lookup's query."""
    parameters: dict[str, list[str]] = {}
    for field in encoded.split(b"&"):
        if field:
            name, _, value = field.partition(b"=")
            parameters.setdefault(_unquoted(name, where), []).append(_unquoted(value, where))
    return parameters


def _unquoted(encoded: bytes, where: str) -> str:
    try:
        return unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(where, f"once percent-decoded, byte {error.start} cannot be read") from None


def _accepted(scope: Scope) -> str:
    """The request's (first) Accept header, read from the raw headers."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return str(value.decode("latin-1"))
    return ""


def _not_utf8(where: str, why: str) -> Problem:
    return Problem(
        400,
        "malformed-encoding",
        "Not UTF-8",
        f"the {where} is not UTF-8: {why}",
        field=where,
        rule="utf-8",
    )


async def answer_of(
    pool: QueryPool,
    accept: str,
    query: str,
    default_graph_uris: Sequence[str] = (),
    named_graph_uris: Sequence[str] = (),
) -> Answer:
    """Run a query in the pool and answer in the best type the client accepts."""
    await _checked("query", query, pool.limits)
    asked = Query(
        query,
        tuple(default_graph_uris),
        tuple(named_graph_uris),
        accept,
        pool.limits.result_limit,
        pool.limits.timeout,
    )
    try:
        outcome = await pool.run(asked)
    except QueryStopped as error:
        raise _stopped(error.rule, str(error)) from None
    if isinstance(outcome, Refusal):
        raise _refusal(outcome)
    return outcome


def response_of(answer: Answer) -> Response:
    """The answer as a framework response, for a route to return."""
    response = Response(answer.body)
    response.raw_headers = _headers(answer)
    return response


async def _send_answer(send: Send, answer: Answer) -> None:
    """Send the answer as `response_of(answer)` would, without building the response: on the
    path of every lookup, that object and its headers' mapping cost as much as the rest."""
    await send({"type": "http.response.start", "status": 200, "headers": _headers(answer)})
    await send({"type": "http.response.body", "body": answer.body})


_TRUNCATED = (TRUNCATED_HEADER.lower().encode("latin-1"), b"true")


def _headers(answer: Answer) -> list[tuple[bytes, bytes]]:
    """The answer's headers as Starlette writes them: its length and type, and whether it was
    cut at the result limit."""
    headers = [
        (b"content-length", str(len(answer.body)).encode("latin-1")),
        (b"content-type", _content_type(answer.media_type)),
    ]
    if answer.truncated:
        headers.append(_TRUNCATED)
    return headers


@lru_cache(maxsize=32)
def _content_type(media_type: str) -> bytes:
    """The Content-Type header of a media type: text says it is in UTF-8, as Starlette's does."""
    charset = "; charset=utf-8" if media_type.startswith("text/") else ""
    return (media_type + charset).encode("latin-1")


_STOPPED = {
    "timeout": "Query took too long",
    "memory": "Query needed too much memory",
    "busy": "Too many queries",
    "worker": "Query failed",
}


def _stopped(rule: str, text: str) -> Problem:
    return Problem(503, f"query-{rule}", _STOPPED[rule], text, {"Retry-After": "10"}, rule=rule)


_CHECKED_INLINE = 16_384
"""Texts up to this length are checked on the event loop (tens of microseconds); longer ones,
up to the body limit, in a thread, so that no client holds the loop for milliseconds."""


async def _checked(what: str, text: str, limits: QueryLimits) -> None:
    if len(text) <= _CHECKED_INLINE:
        _check(what, text, limits)
    else:
        await run_in_threadpool(_check, what, text, limits)


def _check(what: str, text: str, limits: QueryLimits) -> None:
    """What must hold before any parser sees a query or update: bounded nesting, and SERVICE
    calls only to the endpoints configured."""
    try:
        refuse_deep_nesting(text, limits.max_nesting)
        refuse_unlisted_services(text, limits.service_endpoints)
    except QueryRefused as error:
        log.warning("refused a %s: %s", what, error)
        raise Problem(
            400, f"refused-{what}", f"{what.title()} refused", str(error), field=what
        ) from None


def _refusal(refusal: Refusal) -> Problem:
    if refusal.kind == "parse":
        return _malformed("query", ParseError(refusal.text, refusal.line, refusal.column))
    if refusal.kind == "not-acceptable":
        return Problem(406, "not-acceptable", "Not acceptable", refusal.text)
    if refusal.kind == "timeout":
        return _stopped("timeout", refusal.text)
    return Problem(400, "refused-query", "Query refused", refusal.text)


async def _update(
    store: Store,
    pool: QueryPool,
    request: Request,
    authorise_administrator: Callable[[Request], str],
    update: str,
    check: GraphCheck | None,
) -> Response:
    actor = authorise_administrator(request)
    await _checked("update", update, pool.limits)
    try:
        await run_in_threadpool(
            store.update, update, sender=actor, trial=pool.try_update, check=check
        )
    except QueryStopped as error:
        raise _stopped(error.rule, str(error)) from None
    except ParseError as error:
        raise _malformed("update", error) from None
    except (NotSender, Invalid, SignatureRefused) as error:  # answered as a POST would be
        log.warning("refused an update by %s: %s", actor, error)
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
        raise bad_parameter(name, rule, f"give exactly one {name} parameter")
    return values[0]


def _dataset(parameters: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """The default-graph-uri and named-graph-uri parameters, each checked to be an IRI."""
    dataset = []
    for name in ("default-graph-uri", "named-graph-uri"):
        for value in parameters.get(name, []):
            try:
                ox.NamedNode(value)
            except ValueError as error:
                raise bad_parameter(name, "iri", f"{value!r} is not an IRI: {error}") from None
        dataset.append(parameters.get(name, []))
    return dataset[0], dataset[1]
