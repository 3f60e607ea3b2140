"""The MQTT inbox: actors publish messages to `heila/v1/inbox/{actor}`, the hub takes them in.

A message from the inbox goes through the same intake as a posted one. On MQTT the broker's
ACL is the authentication (docs/mqtt.md): only `{actor}` may publish to its inbox, so the
topic names the writer, who must be the message's sender. The outcome goes back on
`heila/v1/{actor}/outcome` as {id, status: stored|duplicate|rejected, iri?, violations?}.

Messages are handed from paho's network thread to a worker of their own, so validation never
holds up the notifications the network thread sends. The worker acknowledges a message only
once its outcome is decided (stored, or refused and the refusal published): a hub that dies
before has the broker deliver the message again to its persistent session, and the store,
idempotent by id, keeps it once.

A signed message carries its signature as on HTTP: in the MQTT v5 user property
`Heila-Signature`, or, over MQTT 3.1.1 (the embedded broker), which has no properties, in a
first line `Heila-Signature: JWS` before the message itself (hub.trust.signature).

The broker checked the login when the client connected; an actor revoked since (hub.trust.registry)
may still hold that connection, so the inbox takes nothing from an actor revoked while the hub
runs. (An external broker's own logins are its own: revoke them there too, docs/mqtt.md.)
"""

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from hub.intake import Intake
from hub.model.errors import Conflict, Invalid, NotSender, ParseError, RoleRefused
from hub.mqtt.notify import PREFIX, Notifier, topic
from hub.trust.replay import OutsideWindow
from hub.trust.signature import HEADER, SignatureRefused

log = logging.getLogger(__name__)

INBOX = f"{PREFIX}/inbox/+"
_SIGNATURE_LINE = f"{HEADER}:".encode()
_STOP = None


def guessed_type(payload: bytes) -> str:
    """What MQTT 3.1.1 cannot say: JSON-LD has @context, JSON a brace, else Turtle."""
    body = payload.lstrip()
    if not body.startswith(b"{"):
        return "text/turtle"
    return "application/ld+json" if b'"@context"' in body else "application/json"


def content_type(received: mqtt.MQTTMessage, body: bytes) -> str:
    """The MQTT v5 content type, else a guess from the message's body."""
    declared = getattr(received.properties, "ContentType", None)
    return str(declared) if declared else guessed_type(body)


def split_signature(payload: bytes) -> tuple[bytes, str | None]:
    """The message and the signature of a first line `Heila-Signature: JWS`, if it has one."""
    if not payload.startswith(_SIGNATURE_LINE):
        return payload, None
    line, _, body = payload.partition(b"\n")
    return body, line.removeprefix(_SIGNATURE_LINE).strip().decode("ascii", "replace")


def signed_body(received: mqtt.MQTTMessage) -> tuple[bytes, str | None]:
    """The message and its signature: from the user property, else from a first line."""
    properties = getattr(received.properties, "UserProperty", None) or []
    signature = next((value for name, value in properties if name == HEADER), None)
    if signature is not None:
        return bytes(received.payload), signature
    return split_signature(bytes(received.payload))


def _parse_violation(error: ParseError) -> dict[str, Any]:
    where = {"line": error.line, "column": error.column} if error.line is not None else {}
    return {"rule": "parse", "text": error.reason, **where}


class Inbox:
    """Takes in what actors publish to their inboxes, one message at a time, in arrival order:
    from the hub's own MQTT subscription (`start`), or on a cluster node from the inbox
    consumer the nodes share (hub.cluster.inbox calls `take`)."""

    def __init__(self, notifier: Notifier, intake: Intake, revoked: Callable[[str], bool]) -> None:
        self._notifier = notifier
        self._intake = intake
        self._revoked = revoked
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="mqtt-inbox", daemon=True)

    def start(self) -> None:
        self._worker.start()
        self._notifier.subscribe(INBOX, self._queue.put)

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._worker.join()

    def take(self, actor: str, body: bytes, media_type: str, signature: str | None = None) -> None:
        """Take in one message from `actor`'s inbox and publish what became of it."""
        outcome = self._take(actor, body, media_type, signature)
        self._notifier.publish(topic(actor, "outcome"), outcome)

    def _work(self) -> None:
        while (received := self._queue.get()) is not _STOP:
            actor = received.topic.rsplit("/", 1)[-1]
            body, signature = signed_body(received)
            self.take(actor, body, content_type(received, body), signature)
            self._notifier.acknowledge(received)

    def _take(
        self, actor: str, body: bytes, media_type: str, signature: str | None
    ) -> dict[str, Any]:
        """Take in one message from `actor` and say what became of it."""
        if self._revoked(actor):
            text = f"{actor} was revoked: its messages are not taken in"
            return {
                "id": None,
                "status": "rejected",
                "violations": [{"rule": "revoked", "text": text}],
            }
        try:
            accepted = self._intake.submit(body, media_type, actor, signature)
        except ParseError as error:
            return {"id": None, "status": "rejected", "violations": [_parse_violation(error)]}
        except Invalid as error:
            violations = [v.as_dict() for v in error.violations]
            identifier = error.violations[0].message if error.violations else None
            return {"id": identifier, "status": "rejected", "violations": violations}
        except (NotSender, OutsideWindow, RoleRefused, SignatureRefused, Conflict) as error:
            violation = error.violation()
            return {
                "id": violation.message,
                "status": "rejected",
                "violations": [violation.as_dict()],
            }
        except Exception:  # the inbox must outlive any one message; the log keeps the trace
            log.exception("inbox of %s: a message could not be taken in", actor)
            return {"id": None, "status": "rejected", "violations": [{"rule": "internal"}]}
        status = "stored" if accepted.stored.created else "duplicate"
        return {"id": accepted.message.id, "status": status, "iri": accepted.stored.iri}
