"""The SPARQL 1.1 Protocol at /sparql: queries by GET and POST, updates for administrators.

Queries run in the pool of query workers (hub.storage.query_pool), within its time, memory and
concurrency limits, after two checks no parser can be trusted with: how deep the text nests and
which SERVICE endpoints it calls. Results are negotiated on the Accept header (hub.storage.results).
A query or update must be UTF-8: anything else is refused, never decoded loosely.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qs

import pyoxigraph as ox
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.model.errors import Invalid, NotSender, ParseError, QueryRefused
from hub.storage.query_pool import QueryPool, QueryStopped
from hub.storage.query_worker import Query, Refusal
from hub.storage.results import TRUNCATED_HEADER
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
    lookup. Errors answer as problem reports, as the app's handlers write them. Add it
    as the innermost middleware, so that the body limit, timing and CORS layers wrap it; its
    OpenAPI description is written out whole (hub.web.openapi.OPERATIONS)."""

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
            response = await self._answer(Request(scope, receive))
        except Exception as error:  # as the app's handlers answer it
            response = problem_of(error).response(PATH)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        method = request.scope["method"]
        if method in ("GET", "HEAD"):
            parameters = _decoded(request.scope["query_string"], "query string")
            return await answer(
                self._pool, request, _one(parameters, "query"), *_dataset(parameters)
            )
        if method == "POST":
            return await self._post(request)
        raise HTTPException(405, headers={"Allow": "GET, HEAD, POST"})

    async def _post(self, request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = _utf8(await request.body(), "body")
        in_url = _decoded(request.scope["query_string"], "query string")
        if media_type == _QUERY:
            return await answer(self._pool, request, body, *_dataset(in_url))
        if media_type == _UPDATE:
            return await self._update(request, body)
        if media_type == _FORM:
            form = _decoded(body.encode(), "form")
            if "update" in form and "query" in form:
                raise bad_parameter("update", "oneOf", "give a query or an update, not both")
            if "update" in form:
                _refuse_dataset_of_update(form)
                return await self._update(request, _one(form, "update"))
            return await answer(self._pool, request, _one(form, "query"), *_dataset(form))
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
    """Percent-encoded parameters, decoded strictly as UTF-8."""
    try:
        return parse_qs(
            encoded.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError as error:
        raise _not_utf8(where, f"once percent-decoded, byte {error.start} cannot be read") from None


def _not_utf8(where: str, why: str) -> Problem:
    return Problem(
        400,
        "malformed-encoding",
        "Not UTF-8",
        f"the {where} is not UTF-8: {why}",
        field=where,
        rule="utf-8",
    )


async def answer(
    pool: QueryPool,
    request: Request,
    query: str,
    default_graph_uris: Sequence[str] = (),
    named_graph_uris: Sequence[str] = (),
) -> Response:
    """Run a query in the pool and answer in the best type the client accepts."""
    await _checked("query", query, pool.limits)
    asked = Query(
        query,
        tuple(default_graph_uris),
        tuple(named_graph_uris),
        request.headers.get("accept", ""),
        pool.limits.result_limit,
        pool.limits.timeout,
    )
    try:
        outcome = await pool.run(asked)
    except QueryStopped as error:
        raise _stopped(error.rule, str(error)) from None
    if isinstance(outcome, Refusal):
        raise _refusal(outcome)
    headers = {TRUNCATED_HEADER: "true"} if outcome.truncated else {}
    return Response(outcome.body, media_type=outcome.media_type, headers=headers)


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
