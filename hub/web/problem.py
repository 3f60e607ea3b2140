"""RFC 9457 problem details: the one shape every HTTP error of the hub takes.

A `Problem` is raised anywhere below a route and turned into an `application/problem+json`
answer by the handlers that hub.app installs, so no route builds error bodies by hand.
"""

import logging
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from hub.model.errors import (
    Conflict,
    Invalid,
    LogUnavailable,
    NotApplied,
    NotSender,
    ParseError,
    RoleRefused,
)
from hub.storage.store import QueryTimeout
from hub.trust.replay import OutsideWindow
from hub.trust.signature import SignatureRefused

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://w3id.org/heila/problem/"


class Problem(HTTPException):
    """An error answer: `kind` names the problem type, `extra` adds members (field, rule, ...)."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.kind = kind
        self.title = title
        self.extra = extra

    def body(self, instance: str) -> dict[str, Any]:
        return {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            "instance": instance,
            **{name: value for name, value in self.extra.items() if value is not None},
        }

    def response(self, instance: str) -> JSONResponse:
        return JSONResponse(
            self.body(instance),
            status_code=self.status_code,
            headers=self.headers,
            media_type=MEDIA_TYPE,
        )


def bad_parameter(name: str, rule: str, detail: str) -> Problem:
    """A query parameter the route cannot use: names the parameter and the rule it breaks."""
    return Problem(400, "bad-parameter", "Bad query parameter", detail, field=name, rule=rule)


def problem_of(error: Exception) -> Problem:
    """The problem report for an error raised below a route."""
    if isinstance(error, Problem):
        return error
    if isinstance(error, ParseError):
        return Problem(
            400,
            "parse-error",
            "Body does not parse",
            str(error),
            rule="parse",
            line=error.line,
            column=error.column,
        )
    if isinstance(error, Invalid):
        return Problem(
            422,
            "invalid-message",
            "The message breaks rules",
            str(error),
            violations=[violation.as_dict() for violation in error.violations],
        )
    if isinstance(error, NotSender):
        return Problem(
            403, "not-sender", "Not the sender", str(error), field="sender", rule="sender"
        )
    if isinstance(error, RoleRefused):
        return Problem(
            403, "role", "Not sent by this role", str(error), field=error.field, rule="role"
        )
    if isinstance(error, SignatureRefused):
        return Problem(
            403, "signature", "Signature refused", str(error), field="signature", rule="signature"
        )
    if isinstance(error, OutsideWindow):
        return Problem(
            403, "window", "Outside the time window", str(error), field="time", rule="window"
        )
    if isinstance(error, Conflict):
        return Problem(
            409,
            "conflict",
            "Another message has this id",
            str(error),
            field="id",
            rule="unique",
            stored=f"/messages/{error.id}",
        )
    if isinstance(error, LogUnavailable):
        return Problem(503, "log-unavailable", "Commit log unavailable", str(error), rule="quorum")
    if isinstance(error, NotApplied):
        return Problem(
            503, "not-applied", "Not applied yet", str(error), field=error.field, rule="applied"
        )
    if isinstance(error, QueryTimeout):
        return Problem(503, "query-timeout", "Query too long", str(error))
    if isinstance(error, RequestValidationError):
        first = error.errors()[0]
        name = str(first["loc"][-1])
        return Problem(
            400,
            "bad-parameter",
            "Bad request",
            f"{name}: {first['msg']}",
            field=name,
            rule=str(first["type"]),
        )
    if isinstance(error, HTTPException):  # keeps its headers: a 405 must say what is Allowed
        detail = str(error.detail)
        return Problem(error.status_code, "http", detail, detail, dict(error.headers or {}))
    log.error("unexpected error", exc_info=error)
    return Problem(500, "internal", "Internal error", "the hub failed; its log says why")
