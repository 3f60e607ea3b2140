"""The write path every interface shares (HTTP POST, MQTT inbox): one place, one order.

parse → validate (with the types of the messages it refers to, read from the store) → the
writer must be the sender → store (idempotent by id) → notify, only for a new message.
Nothing is stored unless every step before it passed.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import URIRef

from hub.errors import HubError, Invalid
from hub.message import Message, parse
from hub.store import Store, Stored
from hub.validation import validate
from hub.vocabulary import HEILA, MESSAGE

Notify = Callable[[Message, Stored], None]


class NotSender(HubError):
    """The actor who delivered the message is not the one it names as its sender."""

    def __init__(self, actor: str, message: Message) -> None:
        self.actor = actor
        self.message = message
        super().__init__(
            f"actor {actor!r} cannot send a message whose sender is {message.sender!r}"
        )


@dataclass(frozen=True)
class Accepted:
    message: Message
    stored: Stored


def _mentioned(message: Message) -> set[str]:
    """IRIs of the other messages this one points at, from itself or from its parts."""
    return {
        str(target)
        for _subject, _predicate, target in message.triples
        if isinstance(target, URIRef)
        and str(target).startswith(MESSAGE)
        and str(target).split("#", 1)[0] != message.iri
    }


class Intake:
    """Takes messages in for the store, announcing each new one through `notify`."""

    def __init__(self, store: Store, notify: Notify) -> None:
        self._store = store
        self._notify = notify

    def submit(self, data: bytes, media_type: str, actor: str) -> Accepted:
        """Take in a message from `actor`; raises ParseError, Invalid or NotSender."""
        message = parse(data, media_type)
        violations = validate(message, self._types_of(_mentioned(message)))
        if violations:
            raise Invalid(violations)
        if message.sender != actor:
            raise NotSender(actor, message)
        stored = self._store.put(message)
        if stored.created:
            self._notify(message, stored)
        return Accepted(message, stored)

    def _types_of(self, iris: set[str]) -> dict[str, str]:
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
