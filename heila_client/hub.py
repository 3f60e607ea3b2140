"""The one way a program talks to the hub over HTTP: send a message, read one, ask a named
query or any SELECT, read the log and follow it as it grows.

Every call carries the actor's bearer token, and a message it sends its signature when the
actor signs. A refusal (4xx) raises `Refused` with the hub's problem report, so the caller's
log says which rule and field; an unreachable hub raises
`Unavailable` after a few quick retries.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from heila_client.log import Commit, commits
from heila_client.objects import InformationObject
from heila_client.parts import Message

_TRIES = 3
_PAUSE = 0.2
_RESULTS = {"Accept": "application/sparql-results+json"}
_SILENCE = 60.0
"""Seconds without a byte after which a followed stream counts as lost (the hub writes a
keep-alive line every 15 s)."""


class Refused(Exception):
    """The hub refused a request; `problem` is its RFC 9457 report."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"HTTP {status}: {problem.get('detail') or problem.get('title')}")


class Unavailable(Exception):
    """The hub did not answer."""


Sign = Callable[[Mapping[str, Any]], Mapping[str, str]]
"""The headers that carry a message's signature (actors.signing.Signer)."""


class HubClient:
    """A client of one hub, as one actor (whose bearer token it carries)."""

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

    def __enter__(self) -> "HubClient":
        return self

    def __exit__(self, *_exception: object) -> None:
        self.close()

    def send(self, message: InformationObject) -> None:
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
        return list(self.log(0, 1000, **filters))

    def addressed_to(self, actor: str, after: int, page: int = 500) -> Iterator[dict[str, Any]]:
        """The log's entries for `actor` committed after the sequence `after`, in commit order."""
        return self.log(after, page, recipient=actor)

    def log(self, after: int = 0, page: int = 500, **filters: str) -> Iterator[dict[str, Any]]:
        """The log's entries that match the filters (`type`, `sender`, `recipient`, `since`)
        committed after the sequence `after`, in commit order, `page` at a time until a page
        comes back empty. Each entry is the message's envelope and its `sequence`."""
        while True:
            query = {**filters, "after": str(after), "limit": str(page)}
            found = self._request("GET", "/messages", params=query).json()
            if not found["items"]:
                return
            yield from found["items"]
            after = found["next"]

    def follow(self, after: int = 0) -> Iterator[Commit]:
        """Every message committed after the sequence `after`, in commit order, for as long as
        the caller reads on: the log up to now, then each commit as the hub makes it (GET
        /events). A lost stream is taken up again from the last commit seen, so none is missed
        or repeated."""
        failures = 0
        while True:
            try:
                for commit in self._caught_up(after):
                    failures = 0
                    if commit.sequence > after:  # a replay may overlap what the pages gave
                        after = commit.sequence
                        yield commit
            except (httpx.TransportError, Unavailable) as error:
                failures += 1
                if failures >= _TRIES:
                    raise Unavailable(f"{self.url}/events: {error}") from error
                time.sleep(_PAUSE * failures)

    def _caught_up(self, after: int) -> Iterator[Commit]:
        """The log's pages after `after`, then the live stream from where they end."""
        for entry in self.log(after):
            after = entry["sequence"]
            yield Commit.of(entry)
        timeout = httpx.Timeout(self._http.timeout.connect, read=_SILENCE)
        query = {"after": str(after)}
        with self._http.stream("GET", "/events", params=query, timeout=timeout) as response:
            if response.status_code >= 500:
                raise Unavailable(f"{self.url}/events: HTTP {response.status_code}")
            if not response.is_success:
                response.read()
                raise Refused(response.status_code, _problem(response))
            yield from commits(response.iter_lines())

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
