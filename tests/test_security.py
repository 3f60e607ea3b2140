"""Attacks on a running hub, over real HTTP and a real Mosquitto: each is refused with a reason
that names what was wrong, leaves a line in the hub's log, and leaves the store as it was (its
dump before and after is the same).

Over the broker itself, with the rules `heila actor broker-config` makes, an actor subscribing
to another's topics or publishing into another's inbox is refused in tests/test_broker_rules.py
(Mosquitto) and tests/test_broker_access.py (the embedded broker).
"""

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from joserfc.jwk import OKPKey

from hub.commands.bench import Subscriber
from hub.config import Credential
from hub.model.json_form import to_triples
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import Store
from hub.trust.auth import hash_token, new_token
from hub.trust.signature import HEADER, private_key, public_jwk, sign
from tests.conftest import STORY_ACTORS, Hub, Serve, running_hub

KEY = OKPKey.generate_key("Ed25519")
ROLES = {"cems-1": "CEMS", "reader": "researcher", "operator": "administrator"}
WINDOW = 300


@dataclass(frozen=True)
class Refusal:
    """What the hub answered: an HTTP status (or "rejected" on the inbox), its rule, its text."""

    status: int | str
    rule: str
    text: str


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve, story: list[Message]) -> Iterator[Hub]:
    """The story's actors (spp-1 with a signing key), a CEMS, a researcher and an
    administrator, a replay window of five minutes, and the story already in the store."""
    tokens = {actor: new_token() for actor in (*STORY_ACTORS, *ROLES)}
    actors = {
        actor: Credential(
            hash_token(token),
            role=ROLES.get(actor),
            keys=(public_jwk(KEY),) if actor == "spp-1" else (),
        )
        for actor, token in tokens.items()
    }
    with running_hub(mosquitto, serve, tokens, actors=actors, trust_window=WINDOW) as hub:
        for message in story:
            hub.store.put(message)
        yield hub


def fresh(story: list[Message], identifier: str, **changes: object) -> dict[str, object]:
    """A story message made now, under a new id, with `changes`."""
    document = next(m for m in story if m.id == identifier).to_json()
    now = datetime.now(UTC).isoformat()
    return {**document, "id": f"attack-{identifier}", "time": now, **changes}


def answered(response: httpx.Response) -> Refusal:
    problem = response.json()
    rule = problem.get("rule") or problem["type"].rsplit("/", 1)[-1]
    return Refusal(response.status_code, rule, problem["detail"])


def post(hub: Hub, document: dict[str, object], token: str | None, **headers: str) -> Refusal:
    auth = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = json.dumps(document).encode()
    sent = {**auth, **headers, "content-type": "application/json"}
    return answered(httpx.post(f"{hub.url}/messages", content=body, headers=sent))


def anonymous_write(hub: Hub, story: list[Message]) -> Refusal:
    return post(hub, fresh(story, "weather-1"), None)


def forged_sender(hub: Hub, story: list[Message]) -> Refusal:
    return post(hub, fresh(story, "bid-1"), hub.tokens["spp-1"])


def cems_sends_a_reserve_notification(hub: Hub, story: list[Message]) -> Refusal:
    document = fresh(story, "reserve-1", sender="cems-1")
    return post(hub, document, hub.tokens["cems-1"])


def ams_places_a_bid(hub: Hub, story: list[Message]) -> Refusal:
    return post(hub, fresh(story, "bid-1", sender="ams-1"), hub.tokens["ams-1"])


def admin(hub: Hub) -> dict[str, str]:
    return hub.auth("operator")


def revoked_token(hub: Hub, story: list[Message]) -> Refusal:
    httpx.delete(f"{hub.url}/actors/dms-1", headers=admin(hub)).raise_for_status()
    return post(hub, fresh(story, "bid-1"), hub.tokens["dms-1"])


def rotated_out_token(hub: Hub, story: list[Message]) -> Refusal:
    httpx.post(f"{hub.url}/actors/spp-1/rotate", headers=admin(hub)).raise_for_status()
    return post(hub, fresh(story, "weather-1"), hub.tokens["spp-1"])


def signed(hub: Hub, document: dict[str, object], over: dict[str, object], key: OKPKey) -> Refusal:
    """Post `document` as spp-1 with a signature made by `key` over `over`."""
    signature = sign(to_triples(over), private_key(key))
    return post(hub, document, hub.tokens["spp-1"], **{HEADER: signature})


def key_never_registered(hub: Hub, story: list[Message]) -> Refusal:
    document = fresh(story, "weather-1")
    return signed(hub, document, document, OKPKey.generate_key("Ed25519"))


def rotated_out_key(hub: Hub, story: list[Message]) -> Refusal:
    new = {"keys": [public_jwk(OKPKey.generate_key("Ed25519"))]}
    httpx.put(f"{hub.url}/actors/spp-1/keys", json=new, headers=admin(hub)).raise_for_status()
    document = fresh(story, "weather-1")
    return signed(hub, document, document, KEY)


def tampered_signature(hub: Hub, story: list[Message]) -> Refusal:
    document = fresh(story, "weather-1")
    changed = {**document, "recipients": ["dms-1"]}  # one triple fewer after signing
    return signed(hub, changed, document, KEY)


def replayed_message(hub: Hub, story: list[Message]) -> Refusal:
    captured = next(m for m in story if m.id == "offer-1")
    return post(hub, captured.to_json(), hub.tokens["ams-1"])


def id_used_again_with_other_content(hub: Hub, story: list[Message]) -> Refusal:
    """The stored offer's id, on an offer made now."""
    return post(hub, fresh(story, "offer-1", id="offer-1"), hub.tokens["ams-1"])


def far_outside_the_window(hub: Hub, story: list[Message]) -> Refusal:
    ahead = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    return post(hub, fresh(story, "weather-1", time=ahead), hub.tokens["spp-1"])


def into_another_actors_inbox(hub: Hub, story: list[Message]) -> Refusal:
    ear = Subscriber(hub.broker.host, hub.broker.port, "heila/v1/dms-1/outcome")
    try:
        ear.publish("heila/v1/inbox/dms-1", json.dumps(fresh(story, "weather-1")).encode())
        outcome = ear.next().body
    finally:
        ear.stop()
    violation = outcome["violations"][0]
    return Refusal(outcome["status"], violation["rule"], violation["text"])


def researchers_sparql_update(hub: Hub, story: list[Message]) -> Refusal:
    update = "DROP GRAPH <https://w3id.org/heila/message/offer-1>"
    answer = httpx.post(f"{hub.url}/sparql", data={"update": update}, headers=hub.auth("reader"))
    return answered(answer)


def service_call_to_an_unlisted_host(hub: Hub, story: list[Message]) -> Refusal:
    query = "SELECT * WHERE { SERVICE <http://attacker.example/sparql> { ?s ?p ?o } }"
    return answered(httpx.get(f"{hub.url}/sparql", params={"query": query}))


ATTACKS: dict[Callable[[Hub, list[Message]], Refusal], tuple[int | str, str, str]] = {
    anonymous_write: (401, "unauthorized", "needs an actor's bearer token"),
    forged_sender: (403, "sender", "cannot write"),
    cems_sends_a_reserve_notification: (403, "role", "not ReserveNotification"),
    ams_places_a_bid: (403, "role", "not Bid"),
    revoked_token: (401, "unauthorized", "belongs to no configured actor"),
    rotated_out_token: (401, "unauthorized", "belongs to no configured actor"),
    key_never_registered: (403, "signature", "none the sender registered"),
    rotated_out_key: (403, "signature", "none the sender registered"),
    tampered_signature: (403, "signature", "does not match the message"),
    replayed_message: (403, "window", "behind the hub's clock"),
    id_used_again_with_other_content: (409, "unique", "stored already with other content"),
    far_outside_the_window: (403, "window", "ahead of the hub's clock"),
    into_another_actors_inbox: ("rejected", "sender", "cannot write"),
    researchers_sparql_update: (403, "not-administrator", "reader is no administrator"),
    service_call_to_an_unlisted_host: (400, "refused-query", "attacker.example"),
}


def dumped(store: Store) -> bytes:
    out = io.BytesIO()
    store.dump(out)
    return b"\n".join(sorted(out.getvalue().splitlines()))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.__name__)
def test_an_attack_is_refused_with_its_reason_logged_and_the_store_unchanged(
    hub: Hub, story: list[Message], attack, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING)
    before = dumped(hub.store)
    refusal = attack(hub, story)
    status, rule, reason = ATTACKS[attack]
    assert (refusal.status, refusal.rule) == (status, rule), refusal.text
    assert reason in refusal.text
    assert any(reason in record.getMessage() for record in caplog.records), caplog.text
    assert dumped(hub.store) == before
