"""The commit log of a cluster: one JetStream stream whose sequence is the commit order.

An entry is one accepted message: its quads as sorted N-Quads lines (the same message gives the
same bytes, whatever form it was posted in) with the message IRI as `Nats-Msg-Id`, so the
stream drops a repeat within its de-duplication window and answers with the first one's
sequence. A repeat after the window is a second entry, which every node's store recognises as
known when it applies it (hub.cluster.replica).

A change to the actor registry (hub.trust.registry) is an entry too, so that every node makes it in
the same place of the same order: the actor's id and its credential after the change (none
once revoked) as JSON, marked by the header `Heila-Entry: actor`.
"""

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

import nats.errors
import nats.js.errors
import pyoxigraph as ox
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from hub.config import Credential
from hub.model import message as message_model
from hub.model.errors import LogUnavailable
from hub.model.message import Message

STREAM = "HEILA_LOG"
SUBJECT = "heila.log"
DUPLICATE_WINDOW = 120.0
"""Seconds in which the stream drops a repeated message id (NATS's default)."""
_RETRY = 0.25
T = TypeVar("T")
_REQUEST_TIMEOUT = 2.0
KIND = "Heila-Entry"
ACTOR_CHANGE = "actor"


@dataclass(frozen=True)
class Entry:
    """Where a published message went in the log, and whether it was there already."""

    sequence: int
    duplicate: bool


def entry_of(message: Message) -> bytes:
    """The log entry of a message: its quads, one N-Quads line each, sorted."""
    lines = sorted(f"{quad} .\n" for quad in message.quads())
    return "".join(lines).encode()


def message_of(entry: bytes) -> Message:
    return message_model.from_quads(ox.parse(entry, ox.RdfFormat.N_QUADS))


def actor_change(actor: str, credential: Credential | None) -> bytes:
    """The log entry of a registry change: `actor`'s credential from now on (None: revoked)."""
    return json.dumps({"actor": actor, "credential": credential and asdict(credential)}).encode()


def actor_change_of(entry: bytes) -> tuple[str, Credential | None]:
    change = json.loads(entry)
    fields = change["credential"]
    if fields is None:
        return change["actor"], None
    return change["actor"], Credential(**{**fields, "keys": tuple(fields["keys"])})


def is_actor_change(headers: dict[str, str] | None) -> bool:
    return (headers or {}).get(KIND) == ACTOR_CHANGE


def digest(entry: bytes) -> bytes:
    return hashlib.sha256(entry).digest()


async def open_log(js: JetStreamContext, replicas: int) -> None:
    """Make the stream if no node has yet; retried until the NATS cluster has elected its
    leaders, however long that takes."""
    config = StreamConfig(
        name=STREAM,
        subjects=[SUBJECT],
        num_replicas=replicas,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW,
    )
    while True:
        try:
            await js.add_stream(config)
            return
        except nats.js.errors.BadRequestError:  # made by another node, perhaps otherwise
            await js.stream_info(STREAM)
            return
        except (nats.errors.Error, nats.js.errors.Error):
            await asyncio.sleep(_RETRY)


async def _patiently(request: Callable[[], Awaitable[T]], patience: float, failure: str) -> T:
    """The request's answer, asked again while the cluster has no quorum, for `patience`
    seconds; then a 503 saying `failure`."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await request()
        except (nats.errors.Error, nats.js.errors.Error):
            if time.monotonic() > deadline:
                raise LogUnavailable(f"{failure} within {patience:g} s") from None
            await asyncio.sleep(_RETRY)


async def publish(js: JetStreamContext, message: Message, entry: bytes, patience: float) -> Entry:
    """Append the entry; asked again with the same id, so it is in the log at most once."""
    return await _append(js, entry, {"Nats-Msg-Id": message.iri}, patience, message.iri)


async def publish_actor_change(js: JetStreamContext, entry: bytes, patience: float) -> Entry:
    """Append a registry change, with an id of its own so that a retry is no second entry."""
    headers = {"Nats-Msg-Id": f"actor-change-{secrets.token_hex(16)}", KIND: ACTOR_CHANGE}
    return await _append(js, entry, headers, patience, "the registry change")


async def _append(
    js: JetStreamContext, entry: bytes, headers: dict[str, str], patience: float, what: str
) -> Entry:
    async def append() -> Entry:
        ack = await js.publish(SUBJECT, entry, timeout=_REQUEST_TIMEOUT, headers=headers)
        return Entry(ack.seq, bool(ack.duplicate))

    return await _patiently(append, patience, f"the commit log did not acknowledge {what}")


async def last_sequence(js: JetStreamContext, patience: float) -> int:
    """The sequence of the log's last entry, as its leader knows it."""

    async def ask() -> int:
        return int((await js.stream_info(STREAM)).state.last_seq)

    return await _patiently(ask, patience, "the commit log did not answer")
