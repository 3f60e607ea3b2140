"""Confidential parts: a part sealed for the recipients is stored and forwarded unread, the rest
of the message is validated, and only a recipient's key opens the part again."""

from collections.abc import Iterator

import httpx
import pyoxigraph as ox
import pytest
from joserfc.jwk import ECKey, OKPKey

from hub.model.canonical import canonical
from hub.model.confidential import CannotUnseal, seal, unseal
from hub.model.message import Message, parse
from hub.model.terms import Triple
from hub.mqtt.broker import Mosquitto
from hub.trust.auth import new_token
from tests.conftest import STORY_ACTORS, Hub, Serve, running_hub

FMP = OKPKey.generate_key("X25519")
DMS = ECKey.generate_key("P-256")


@pytest.fixture
def offer(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "offer-1")


@pytest.fixture
def price(offer: Message) -> str:
    return f"{offer.iri}#price"


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve, story: list[Message]) -> Iterator[Hub]:
    """A running hub holding the story up to the offer, which the tests send."""
    tokens = {actor: new_token() for actor in STORY_ACTORS}
    with running_hub(mosquitto, serve, tokens) as hub:
        for message in story[: [m.id for m in story].index("offer-1")]:
            hub.store.put(message)
        yield hub


def turtle(triples: list[Triple]) -> bytes:
    return ox.serialize([ox.Triple(*t) for t in triples], format=ox.RdfFormat.TURTLE) or b""


def post(hub: Hub, triples: list[Triple]) -> httpx.Response:
    headers = {**hub.auth("ams-1"), "content-type": "text/turtle"}
    return httpx.post(f"{hub.url}/messages", content=turtle(triples), headers=headers)


@pytest.mark.parametrize("key", [FMP, DMS], ids=["X25519", "P-256"])
def test_a_sealed_part_opens_with_each_recipients_key(offer: Message, price: str, key):
    sealed = seal(offer.triples, price, [FMP, DMS])
    assert set(unseal(sealed, price, key)) == set(offer.triples)


def test_a_sealed_part_does_not_open_with_another_key(offer: Message, price: str):
    sealed = seal(offer.triples, price, [FMP])
    with pytest.raises(CannotUnseal, match="not sealed for the key"):
        unseal(sealed, price, OKPKey.generate_key("X25519"))


def test_a_message_with_a_sealed_part_is_stored_and_read_back_sealed(
    hub: Hub, offer: Message, price: str
):
    assert post(hub, seal(offer.triples, price, [FMP, DMS])).status_code == 201
    shown = httpx.get(f"{hub.url}/messages/offer-1").json()
    assert set(shown["price"]) == {"sealed"}
    assert shown["power"] == offer.to_json()["power"]


def test_a_recipient_opens_the_part_from_what_the_hub_forwards(
    hub: Hub, offer: Message, price: str
):
    post(hub, seal(offer.triples, price, [FMP, DMS])).raise_for_status()
    answer = httpx.get(f"{hub.url}/messages/offer-1", headers={"accept": "text/turtle"})
    forwarded = parse(answer.content, "text/turtle")
    assert canonical(unseal(forwarded.triples, price, FMP)) == canonical(offer.triples)


def test_what_the_hub_can_see_of_a_message_with_a_sealed_part_is_validated(
    hub: Hub, offer: Message, price: str
):
    power = ox.NamedNode("https://w3id.org/heila/ontology#power")
    negative = ox.Literal("-5.0", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal"))
    broken = [(s, p, negative if p == power else o) for s, p, o in offer.triples]
    answer = post(hub, seal(broken, price, [FMP]))
    assert answer.status_code == 422
    assert [v["field"] for v in answer.json()["violations"]] == ["power"]
