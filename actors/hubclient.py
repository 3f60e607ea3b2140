"""The one way an actor talks to the hub over HTTP: send a message, read one, ask a named query.

Every call carries the actor's bearer token, and a message it sends its signature when the
actor signs. A refusal (4xx) raises `Refused` with the hub's
problem report, so an actor's log says which rule and field; an unreachable hub raises
`Unavailable` after a few quick retries.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from actors.objects import Message

_TRIES = 3
_PAUSE = 0.2
_RESULTS = {"Accept": "application/sparql-results+json"}


class Refused(Exception):
    """The hub refused a request; `problem` is its RFC 9457 report."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"HTTP {status}: {problem.get('detail') or problem.get('title')}")


class Unavailable(Exception):
    """The hub did not answer."""


Sign = Callable[[Message], Mapping[str, str]]
"""The headers that carry a message's signature (actors.signing.Signer)."""


class HubClient:
    def __init__(
        self, url: str, token: str, timeout: float = 10.0, sign: Sign | None = None
    ) -> None:
        self._sign = sign
        self.url = url.rstrip("/")
        self.token = token
        """the actor's bearer token, which is also its password at the hub's broker"""
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def send(self, message: Message) -> None:
        """Store a message in the hub (idempotent by id, so a retry never doubles it)."""
        headers = self._sign(message) if self._sign is not None else None
        self._request("POST", "/messages", json=message, headers=headers)

    def get(self, identifier: str) -> Message:
        """A stored message in plain JSON."""
        found: Message = self._request("GET", f"/messages/{identifier}").json()
        return found

    def named(self, name: str, **parameters: str) -> list[dict[str, str]]:
        """The rows of a named query (GET /queries/{name}), each value as plain text."""
        return _rows(self._request("GET", f"/queries/{name}", params=parameters, headers=_RESULTS))

    def select(self, sparql: str) -> list[dict[str, str]]:
        """The rows of a SPARQL SELECT at /sparql, each value as plain text."""
        return _rows(self._request("POST", "/sparql", data={"query": sparql}, headers=_RESULTS))

    def listed(self, **filters: str) -> list[dict[str, Any]]:
        """Every entry of the message log that matches the filters (GET /messages), in order."""
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self._request(
                "GET", "/messages", params={**filters, "after": str(after), "limit": "1000"}
            ).json()
            items.extend(page["items"])
            if len(page["items"]) < 1000:
                return items
            after = page["next"]

    def addressed_to(self, actor: str, after: int, page: int = 500) -> Iterator[dict[str, Any]]:
        """The log's entries for `actor` committed after the sequence `after`, in commit order,
        `page` at a time until a page comes back empty."""
        while True:
            query = {"recipient": actor, "after": str(after), "limit": str(page)}
            found = self._request("GET", "/messages", params=query).json()
            if not found["items"]:
                return
            yield from found["items"]
            after = found["next"]

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, path, **options)
            except httpx.TransportError as error:
                if attempt >= _TRIES:
                    raise Unavailable(f"{self.url}{path}: {error}") from error
                time.sleep(_PAUSE * attempt)
                continue
            if response.is_success:
                return response
            if response.status_code < 500 or attempt >= _TRIES:
                raise Refused(response.status_code, _problem(response))
            time.sleep(_PAUSE * attempt)


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    bindings = response.json()["results"]["bindings"]
    return [{key: value["value"] for key, value in row.items()} for row in bindings]


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        found: dict[str, Any] = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:200]}
    return found
