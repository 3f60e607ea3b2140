"""A remote SPARQL 1.1 store as one more replica, for labs that already run one (Virtuoso,
GraphDB, an Oxigraph server).

It follows the node's own store rather than the log: whatever the node stored, in its order
and with its sequences, goes on, so repeats and refused entries never reach it. Each message
is one Graph Store Protocol PUT of its graph, then one SPARQL Update adding its log entry:
no remote store offers a transaction over both (reference/GROWTH.md), so the graph comes
first and the log entry second, and a copy cut between the two is done again, harmlessly, from
the last logged sequence. Remote stores write at a fraction of the embedded store's rate, so
the replica may lag; it never slows the node's writes.

A store that asks for a login gets the configured one, in the scheme its challenge names:
Virtuoso takes updates only at `/sparql-auth` and `/sparql-graph-crud-auth`, with HTTP Digest;
GraphDB and Fuseki ask for Basic.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from hub.model.vocabulary import HEILA
from hub.storage.store import LOG_GRAPH, Store, Stored

log = logging.getLogger(__name__)

BATCH = 100
_RETRY = 1.0
_TIMEOUT = 30.0

WaitFor = Callable[[int], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Endpoints:
    """The remote store's SPARQL 1.1 query, update and Graph Store Protocol URLs, and the
    user name and password it asks for, if any."""

    query: str
    update: str
    graph_store: str
    login: tuple[str, str] | None = None


class Challenged(httpx.Auth):
    """A login sent only once the store asks for it, in the scheme it asks for (Digest,
    else Basic), and from then on in that scheme."""

    requires_request_body = True

    def __init__(self, username: str, password: str) -> None:
        self._digest = httpx.DigestAuth(username, password)
        self._basic = httpx.BasicAuth(username, password)
        self._scheme: httpx.Auth | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._scheme is None:
            response = yield request
            if response.status_code != 401:
                return
            challenges = response.headers.get_list("www-authenticate")
            digest = any(challenge.lower().startswith("digest ") for challenge in challenges)
            self._scheme = self._digest if digest else self._basic
        yield from self._scheme.auth_flow(request)


class RemoteReplica:
    """Copies what the node's store holds to a remote store, for as long as `run` runs."""

    def __init__(self, endpoints: Endpoints, store: Store, applied: WaitFor) -> None:
        self._endpoints = endpoints
        self._store = store
        self._applied = applied

    async def run(self) -> None:
        login = self._endpoints.login
        auth = Challenged(*login) if login is not None else None
        async with httpx.AsyncClient(timeout=_TIMEOUT, auth=auth) as client:
            while True:
                try:
                    await self._follow(client)
                except httpx.HTTPError as error:
                    log.warning("remote store %s: %s; again", self._endpoints.update, error)
                    await asyncio.sleep(_RETRY)

    async def _follow(self, client: httpx.AsyncClient) -> None:
        copied = await self._last_sequence(client)
        while True:
            await self._applied(copied + 1)
            for stored in self._store.messages(after=copied, limit=BATCH):
                await self._copy(client, stored)
                copied = stored.sequence

    async def _last_sequence(self, client: httpx.AsyncClient) -> int:
        answer = await client.post(
            self._endpoints.query,
            data={
                "query": f"SELECT (MAX(?n) AS ?last) WHERE "
                f"{{ GRAPH <{LOG_GRAPH}> {{ ?m <{HEILA}sequence> ?n }} }}"
            },
            headers={"accept": "application/sparql-results+json"},
        )
        answer.raise_for_status()
        bindings = answer.json()["results"]["bindings"]
        last = bindings[0].get("last") if bindings else None
        return int(last["value"]) if last else 0

    async def _copy(self, client: httpx.AsyncClient, stored: Stored) -> None:
        message = self._store.get(stored.iri)
        if message is None:
            return
        put = await client.put(
            self._endpoints.graph_store,
            params={"graph": stored.iri},
            content=message.serialize("application/n-triples"),
            headers={"content-type": "application/n-triples"},
        )
        put.raise_for_status()
        logged = await client.post(
            self._endpoints.update,
            data={
                "update": f"INSERT DATA {{ GRAPH <{LOG_GRAPH}> {{ <{stored.iri}> "
                f"<{HEILA}sequence> {stored.sequence} }} }}"
            },
        )
        logged.raise_for_status()
