"""The message API: post a message, read one back in any form, page through them in commit order.

Also the hub's stable documents: its health, the JSON-LD @context and the ontology itself.
Errors are raised (hub.model.errors, hub.web.problem) and become RFC 9457 reports in hub.app.
"""

import json
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlencode

import pyoxigraph as ox
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.intake import Intake
from hub.model import context, ontology
from hub.model.negotiation import negotiate
from hub.model.vocabulary import ACTOR, HEILA, ID_PATTERN, INFORMATION_OBJECTS, MESSAGE, SMARTAPI
from hub.mqtt.notify import rfc3339
from hub.storage.store import Store
from hub.trust.signature import HEADER
from hub.web import openapi
from hub.web.problem import Problem, bad_parameter

MESSAGE_FORMS = (
    "application/json",
    "application/ld+json",
    "text/turtle",
    "application/n-quads",
    "application/n-triples",
    "application/rdf+xml",
)
WRITE_FORMS = ("application/json", "application/ld+json", "text/turtle")
ONTOLOGY_FORMS = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
    "application/n-triples": "nt",
}
LIST_PARAMETERS = frozenset({"type", "sender", "recipient", "since", "after", "limit"})
MAX_PAGE = 1000

_ID = re.compile(ID_PATTERN)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)?")


def _not_acceptable(offered: Any) -> Problem:
    return Problem(
        406,
        "not-acceptable",
        "Not acceptable",
        f"this resource comes as {', '.join(offered)}",
    )


def _location(identifier: str) -> str:
    return f"/messages/{identifier}"


def _check_parameters(request: Request) -> None:
    unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
    if unknown:
        raise bad_parameter(
            unknown[0],
            "unknown",
            f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(LIST_PARAMETERS))}",
        )
    kind = request.query_params.get("type")
    if kind is not None and kind not in INFORMATION_OBJECTS:
        raise bad_parameter(
            "type", "in", f"unknown type {kind!r}; one of {', '.join(INFORMATION_OBJECTS)}"
        )
    for name in ("sender", "recipient"):
        value = request.query_params.get(name)
        if value is not None and not _ID.fullmatch(value):
            raise bad_parameter(name, "pattern", f"{name} must be an actor id ({ID_PATTERN})")


def _text(term: object) -> str:
    return term.value if isinstance(term, ox.NamedNode | ox.Literal) else ""


def _envelopes(store: Store, iris: list[str]) -> dict[str, dict[str, str]]:
    """Type, sender and time of each listed message, in one query."""
    if not iris:
        return {}
    values = " ".join(str(ox.NamedNode(iri)) for iri in iris)
    result = store.query(
        f"SELECT ?m ?type ?sender ?time WHERE {{ VALUES ?m {{ {values} }} GRAPH ?m {{ "
        f"?m a ?type ; <{SMARTAPI}generatedBy> ?sender ; <{SMARTAPI}generatedAt> ?time . }} }}"
    )
    found: dict[str, dict[str, str]] = {}
    for row in result.rows:
        iri, kind, sender, time = (_text(term) for term in row)
        if kind.startswith(HEILA):
            found[iri] = {
                "type": kind.removeprefix(HEILA),
                "sender": sender.removeprefix(ACTOR),
                "time": rfc3339(datetime.fromisoformat(time)),
            }
    return found


@cache
def _ontology(form: str) -> bytes:
    text = ontology.load_ontology().serialize(format=form)
    return text.encode() if isinstance(text, str) else bytes(text)


def message_router(
    store: Store,
    intake: Intake,
    writer: Callable[[Request], str],
    broker_connected: Callable[[], bool],
) -> APIRouter:
    """Routes over `store`; `writer` is the dependency that authenticates the writing actor."""
    router = APIRouter()

    async def author(request: Request) -> str:
        """The writing actor, checked in the event loop: a hash costs less than a thread hop."""
        return writer(request)

    @router.post(
        "/messages",
        status_code=201,
        summary="Send an information object",
        openapi_extra=openapi.message_request_body(),
        responses=openapi.POST_RESPONSES,
    )
    async def post_message(
        request: Request, response: Response, actor: Annotated[str, Depends(author)]
    ) -> dict[str, Any]:
        """Validate, store and announce a message; the writer must be its sender."""
        media_type = request.headers.get("content-type", "application/json")
        if media_type.split(";", 1)[0].strip().lower() not in WRITE_FORMS:
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"send a message as {', '.join(WRITE_FORMS)}",
            )
        data = await request.body()
        signature = request.headers.get(HEADER)
        accepted = await run_in_threadpool(intake.submit, data, media_type, actor, signature)
        response.headers["Location"] = _location(accepted.message.id)
        if not accepted.stored.created:
            response.status_code = 200
        return {
            "iri": accepted.stored.iri,
            "id": accepted.message.id,
            "sequence": accepted.stored.sequence,
            "created": accepted.stored.created,
        }

    @router.get(
        "/messages/{identifier}",
        summary="Read one message",
        response_class=Response,
        responses=openapi.message_responses(MESSAGE_FORMS),
    )
    def get_message(identifier: str, request: Request) -> Response:
        """The message as plain JSON (default) or in an RDF format chosen by Accept."""
        found = store.get(MESSAGE + identifier) if _ID.fullmatch(identifier) else None
        if found is None:
            raise Problem(404, "not-found", "No such message", f"no message {identifier!r}")
        form = negotiate(request.headers.get("accept"), MESSAGE_FORMS)
        if form is None:
            raise _not_acceptable(MESSAGE_FORMS)
        return Response(found.serialize(form), media_type=form)

    @router.get("/messages", summary="List messages in commit order")
    def list_messages(
        request: Request,
        response: Response,
        type: Annotated[
            str | None,
            Query(
                description="information object type",
                json_schema_extra={"enum": list(INFORMATION_OBJECTS)},
            ),
        ] = None,
        sender: Annotated[
            str | None,
            Query(
                description="sender's actor id", json_schema_extra={"pattern": f"^{ID_PATTERN}$"}
            ),
        ] = None,
        recipient: Annotated[
            str | None,
            Query(
                description="a recipient's actor id",
                json_schema_extra={"pattern": f"^{ID_PATTERN}$"},
            ),
        ] = None,
        since: Annotated[datetime | None, Query(description="generated at or after")] = None,
        after: Annotated[int, Query(ge=0, description="cursor: the `next` of a page")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        """A page of messages after the cursor `after`; `next` is the cursor to continue from.

        Keep `next` and ask again with `after=next` to receive exactly what came since.
        """
        _check_parameters(request)
        if since is not None and not _RFC3339.fullmatch(request.query_params["since"]):
            raise bad_parameter("since", "datatype", "since is a time as RFC 3339 writes it")
        if since is not None and since.tzinfo is None:
            raise bad_parameter("since", "datatype", "since needs a time zone, e.g. Z or +02:00")
        page = store.messages(
            type=type, sender=sender, recipient=recipient, since=since, after=after, limit=limit
        )
        envelopes = _envelopes(store, [stored.iri for stored in page])
        items = [
            {
                "id": stored.iri.removeprefix(MESSAGE),
                "iri": stored.iri,
                **envelopes.get(stored.iri, {}),
                "sequence": stored.sequence,
            }
            for stored in page
        ]
        cursor = page[-1].sequence if page else after
        if len(page) == limit:
            query = {k: v for k, v in request.query_params.items() if k != "after"}
            response.headers["Link"] = (
                f'</messages?{urlencode({**query, "after": cursor})}>; rel="next"'
            )
        return {"items": items, "next": cursor}

    @router.get("/health", summary="Is the hub working")
    def health(response: Response) -> dict[str, Any]:
        """The store's and the broker's state; 503 when the store cannot answer."""
        try:
            store.query("ASK {}")
            store_state = "ok"
        except Exception:  # any failure of the store means: not healthy
            store_state = "failing"
            response.status_code = 503
        return {
            "status": "ok" if store_state == "ok" else "failing",
            "store": store_state,
            "broker": "connected" if broker_connected() else "disconnected",
        }

    @router.get("/context.jsonld", summary="The JSON-LD @context of every message")
    def json_ld_context() -> Response:
        return Response(json.dumps(context.document()), media_type="application/ld+json")

    @router.get("/ontology", summary="The HEILA ontology", response_class=Response)
    def ontology_document(request: Request) -> Response:
        form = negotiate(request.headers.get("accept"), tuple(ONTOLOGY_FORMS))
        if form is None:
            raise _not_acceptable(ONTOLOGY_FORMS)
        return Response(_ontology(ONTOLOGY_FORMS[form]), media_type=form)

    return router
