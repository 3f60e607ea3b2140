"""The write path every interface shares (HTTP POST, MQTT inbox): one place, one order.

parse → validate (with the types of the messages it refers to, read from the store) → the
writer must be the sender → store (idempotent by id) → notify, only for a new message.
Nothing is stored unless every step before it passed.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyoxigraph as ox

from hub.errors import NotSender
from hub.message import Message, accept
from hub.store import Store, Stored
from hub.vocabulary import HEILA

Notify = Callable[[Message, Stored], None]


@dataclass(frozen=True)
class Accepted:
    message: Message
    stored: Stored


class Intake:
    """Takes messages in for the store, announcing each new one through `notify`."""

    def __init__(self, store: Store, notify: Notify) -> None:
        self._store = store
        self._notify = notify

    def submit(self, data: bytes, media_type: str, actor: str) -> Accepted:
        """Take in a message from `actor`; raises ParseError, Invalid or NotSender."""
        message = accept(data, media_type, self._types_of)
        if message.sender != actor:
            raise NotSender(actor, message.iri, message.sender)
        stored = self._store.put(message)
        if stored.created:
            self._notify(message, stored)
        return Accepted(message, stored)

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
