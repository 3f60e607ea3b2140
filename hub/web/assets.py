"""The browser files the hub serves itself: its pages' script and style and the vendored
libraries (scripts/vendor-assets), so that the console and the API docs work offline.

They are served under one prefix that carries a fingerprint of every file: a changed file makes
a new URL, so browsers may keep each answer as immutable and never ask twice.
"""

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"

# The vendored libraries' folders, as scripts/vendor-assets names them
YASGUI = "vendor/yasgui-4.6.2"
SWAGGER_UI = "vendor/swagger-ui-dist-5.35.0"
REDOC = "vendor/redoc-2.5.2"


@cache
def fingerprint() -> str:
    """A digest of every static file's path and bytes, read once per process."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def prefix() -> str:
    return f"/static/{fingerprint()}"


def url(path: str) -> str:
    """The URL of a file under hub/web/static, e.g. url("console.js")."""
    return f"{prefix()}/{path}"


class ImmutableFiles(StaticFiles):
    """Static files whose answers may be cached for a year: their URL changes with them."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def files() -> ImmutableFiles:
    return ImmutableFiles(directory=STATIC)
