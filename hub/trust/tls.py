"""HTTPS, and client certificates as an actor's credential.

uvicorn does not hand the peer's certificate to the application, so `ClientCertificateH11`
reads it once per connection from the TLS session and adds it to every request's scope as the
ASGI TLS extension's `client_cert_name` (RFC 4514). A certificate is optional: a client without
one can still present a bearer token over the same listener.
"""

import asyncio
import re
import ssl
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.config import Settings

_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
}
_COMMON_NAME = re.compile(r"(?:^|,)CN=([^,]+)")


def subject_name(certificate: dict[str, Any] | None) -> str | None:
    """The subject of a verified peer certificate (as `ssl` decodes it) in RFC 4514 order."""
    if not certificate or "subject" not in certificate:
        return None
    parts = [
        f"{_SHORT_NAMES.get(key, key)}={value}"
        for relative_name in reversed(certificate["subject"])
        for key, value in relative_name
    ]
    return ",".join(parts)


def client_common_name(scope: Scope) -> str | None:
    """The common name of the client certificate this request came with, if any."""
    name = scope.get("extensions", {}).get("tls", {}).get("client_cert_name")
    found = _COMMON_NAME.search(name) if isinstance(name, str) else None
    return found.group(1) if found else None


class ClientCertificateH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, telling the app which certificate the client presented."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        name = subject_name(transport.get_extra_info("peercert"))
        if name is None:
            return
        inner = self.app

        async def with_certificate(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_name": name}
            await inner(scope, receive, send)

        self.app = with_certificate  # type: ignore[assignment]


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.Config arguments that serve over TLS, asking for client certificates when a
    client CA is configured; none when no server certificate is."""
    if settings.tls_certfile is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": settings.tls_certfile,
        "ssl_keyfile": settings.tls_keyfile,
    }
    if settings.tls_client_ca is not None:
        options |= {
            "ssl_ca_certs": settings.tls_client_ca,
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": ClientCertificateH11,
        }
    return options
