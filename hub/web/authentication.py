"""Who is asking, read off an HTTP request: the actor a client certificate (hub.trust.tls) or a
bearer token names, checked against the credentials (hub.trust.auth), for the routes that write
or administer. A request turned away is logged and answered with a problem report.
"""

import logging
from collections.abc import Callable

from starlette.requests import Request

from hub.trust.auth import Credentials
from hub.trust.tls import client_common_name
from hub.web.problem import Problem

log = logging.getLogger(__name__)


def unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Authentication required", detail, {"WWW-Authenticate": "Bearer"}
    )


def refused(request: Request, problem: Problem) -> Problem:
    """`problem`, logged with the request it refuses: the log says who was turned away."""
    client = request.client.host if request.client is not None else "?"
    log.warning(
        "refused %s %s from %s: %d %s",
        request.method,
        request.url.path,
        client,
        problem.status_code,
        problem.detail,
    )
    return problem


def authenticated_actor(credentials: Credentials) -> Callable[[Request], str]:
    """A FastAPI dependency answering the id of the actor whose certificate or token came along."""

    def dependency(request: Request) -> str:
        if not credentials:
            raise refused(
                request,
                Problem(
                    403, "read-only", "The hub is read-only", "no actor credentials are configured"
                ),
            )
        common_name = client_common_name(request.scope)
        if common_name is not None and credentials.actor_for_certificate(common_name):
            return common_name  # the TLS handshake verified it against the client CA
        header = request.headers.get("authorization")
        if header is None:
            detail = "writing needs an actor's bearer token or client certificate"
            raise refused(request, unauthorized(detail))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise refused(
                request, unauthorized("the Authorization header must be 'Bearer <token>'")
            )
        actor = credentials.actor_for(token.strip())
        if actor is None:
            raise refused(request, unauthorized("the bearer token belongs to no configured actor"))
        return actor

    return dependency


def administrator(credentials: Credentials) -> Callable[[Request], str]:
    """A FastAPI dependency answering the authenticated actor if it is an administrator."""
    actor_of = authenticated_actor(credentials)

    def dependency(request: Request) -> str:
        actor = actor_of(request)
        if not credentials.is_admin(actor):
            raise refused(
                request,
                Problem(
                    403,
                    "not-administrator",
                    "Administrators only",
                    f'{actor} is no administrator: set role = "administrator" (or admin = true) '
                    f"in its [actors.{actor}] table",
                ),
            )
        return actor

    return dependency
