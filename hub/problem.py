"""RFC 9457 problem details: the one shape every HTTP error of the hub takes.

A `Problem` is raised anywhere below a route and turned into an `application/problem+json`
answer by the handlers that hub.app installs, so no route builds error bodies by hand.
"""

from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

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
