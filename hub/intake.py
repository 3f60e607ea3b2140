"""The write path every interface shares (HTTP POST, MQTT inbox): one place, one order.

parse → validate (with the types of the messages it refers to, read from the store) → the
writer must be the sender → its time must lie within the window of its receipt (hub.trust.replay) →
its role must send this type to these recipients (hub.trust.roles) → a
signature that came with it must be the sender's (hub.trust.signature), and is kept with it →
commit (idempotent by id) → notify, only for a new message.
Nothing is stored unless every step before it passed.

What "commit" means is the committer's: in one process, a put into the store followed by the
notification (`StoreCommitter`); in a cluster, an entry in the replicated log (hub.cluster).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import pyoxigraph as ox

from hub.model.canonical import PROVENANCE
from hub.model.errors import HubError, NotSender
from hub.model.message import Message, accept
from hub.model.terms import Triple
from hub.model.vocabulary import HEILA
from hub.storage.store import Store, Stored, point_facts
from hub.trust.replay import ANY_TIME, TimeWindow
from hub.trust.roles import Roles
from hub.trust.signature import HEADER, SignatureRefused, Signing, provenance, verify

Notify = Callable[[Message, Stored], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    message: Message
    stored: Stored


class Committer(Protocol):
    """Where accepted messages are committed, in one order."""

    def catch_up(self) -> None:
        """Return once the store holds every message committed so far, wherever it was."""

    def commit(self, message: Message) -> Stored:
        """Commit an accepted message; a known id with other content raises Conflict."""


class StoreCommitter:
    """One process: the store is the log, and a new message is announced once stored."""

    def __init__(self, store: Store, notify: Notify) -> None:
        self._store = store
        self._notify = notify

    def catch_up(self) -> None:
        """The store is the only place messages are committed: nothing to wait for."""

    def commit(self, message: Message) -> Stored:
        stored = self._store.put(message)
        if stored.created:
            self._notify(message, stored)
        return stored


class Intake:
    """Takes messages in, reading the store for what they refer to, and commits them."""

    def __init__(
        self,
        store: Store,
        committer: Committer,
        roles: Roles,
        signing: Callable[[str], Signing],
        window: TimeWindow = ANY_TIME,
    ) -> None:
        self._store = store
        self._committer = committer
        self._roles = roles
        self._signing = signing
        self._window = window

    def submit(
        self, data: bytes, media_type: str, actor: str, signature: str | None = None
    ) -> Accepted:
        """Take in a message from `actor`, signed or not; raises ParseError, Invalid, NotSender,
        OutsideWindow, RoleRefused, SignatureRefused or Conflict, each logged with its reason:
        the log says who tried what, whichever door it came through."""
        try:
            return self._take(data, media_type, actor, signature)
        except HubError as error:
            log.warning("refused a message from %s: %s: %s", actor, type(error).__name__, error)
            raise

    def _take(self, data: bytes, media_type: str, actor: str, signature: str | None) -> Accepted:
        received = datetime.now(UTC)
        self._committer.catch_up()
        message = accept(data, media_type, self._types_of, self._facts_of)
        if message.sender != actor:
            raise NotSender(actor, message.iri, message.sender)
        self._window.check(message, received)
        self._roles.check(message)
        if any(p in PROVENANCE for _s, p, _o in message.body):  # readings hold none
            raise SignatureRefused(message.iri, "a signature is sent beside a message, not in it")
        signing = self._signing(actor)
        if signature is None and signing.required:
            text = f"{actor} signs every message: send it with a {HEADER} header"
            raise SignatureRefused(message.iri, text)
        if signature is not None:
            key = verify(message.iri, message.triples, signature, signing.keys)
            message = message.kept_with(provenance(message.iri, signature, key))
        return Accepted(message, self._committer.commit(message))

    def _facts_of(self, points: Iterable[str]) -> list[Triple]:
        return point_facts(self._store, points)

    def _types_of(self, iris: Iterable[str]) -> dict[str, str]:
        """Message IRI -> type name of each of these messages the store holds."""
        if not iris:
            return {}
        values = " ".join(str(ox.NamedNode(iri)) for iri in sorted(iris))
        result = self._store.query(
            f"SELECT ?m ?type WHERE {{ VALUES ?m {{ {values} }} GRAPH ?m {{ ?m a ?type }} }}"
        )
        return {
            m.value: kind.value.removeprefix(HEILA)
            for m, kind in result.rows
            if isinstance(m, ox.NamedNode)
            and isinstance(kind, ox.NamedNode)
            and kind.value.startswith(HEILA)
        }
