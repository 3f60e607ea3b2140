"""Signed messages: verified on POST against the sender's registered keys, kept in the graph,
and verifiable again from a store alone, after a dump and load into another."""

import base64
import io
import json
import math
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from hub.config import Credential, load_settings
from hub.model.canonical import canonical
from hub.model.message import Message, parse
from hub.model.terms import Triple
from hub.model.vocabulary import XSD
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from hub.trust.signature import (
    HEADER,
    Key,
    SignatureRefused,
    private_key,
    provenance,
    public_jwk,
    public_key,
    sign,
    verify,
    verify_stored,
)
from hub.web.queries import run_query
from tests.conftest import Hub, Serve, running_hub

ADMIN = "operator"


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve) -> Iterator[Hub]:
    """A running hub that knows only its administrator; actors are registered by the tests."""
    tokens = {ADMIN: new_token()}
    actors = {ADMIN: Credential(hash_token(tokens[ADMIN]), admin=True)}
    with running_hub(mosquitto, serve, tokens, actors=actors) as hub:
        yield hub


@pytest.fixture
def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


def register(hub: Hub, key: Key) -> str:
    """Register spp-1 with `key`'s public half; its token."""
    body = {"id": "spp-1", "role": "SPP", "keys": [public_jwk(key)]}
    answer = httpx.post(f"{hub.url}/actors", json=body, headers=hub.auth(ADMIN))
    assert answer.status_code == 201
    return str(answer.json()["token"])


def post(hub: Hub, token: str, body: bytes, signature: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", HEADER: signature}
    return httpx.post(
        f"{hub.url}/messages", content=body, headers={**headers, "content-type": "text/turtle"}
    )


@pytest.mark.parametrize("make_key", [OKPKey.generate_key, ECKey.generate_key])
def test_a_message_signed_with_a_registered_key_is_stored_with_its_signature(
    hub: Hub, weather: Message, make_key
):
    key = make_key("Ed25519") if make_key == OKPKey.generate_key else make_key("P-256")
    token = register(hub, key)
    answer = post(
        hub, token, weather.serialize("text/turtle"), sign(weather.triples, private_key(key))
    )
    assert answer.status_code == 201
    stored = hub.store.get(weather.iri)
    assert stored is not None
    predicates = {p.value.rsplit("#", 1)[-1] for _s, p, _o in stored.triples}
    assert {"signature", "signingKey"} <= predicates


def rdfc(triples: Iterable[Triple]) -> bytes:
    """The reference: Oxigraph's own RDFC-1.0 of the graph as a store gives it back."""
    stored = ox.Store()
    stored.extend(ox.Quad(s, p, o) for s, p, o in triples)
    dataset = ox.Dataset(stored)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    lines = (ox.serialize(dataset, format=ox.RdfFormat.N_QUADS) or b"").splitlines(keepends=True)
    return b"".join(sorted(lines))


def test_the_canonical_form_of_every_story_message_is_its_rdfc_form(story: list[Message]):
    for message in story:
        assert canonical(message.triples) == rdfc(message.triples), message.id


LEXICAL_FORMS = {
    "decimal": r"[+-]?[0-9]{0,22}(\.[0-9]{0,22})?",
    "integer": r"[+-]?[0-9]{1,21}",
    "boolean": r"true|false|1|0",
    "double": r"[+-]?[0-9]{0,20}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?|[+-]?(INF|inf)|NaN",
    "dateTime": r"(19|20)[0-9]{2}-(0[1-9]|1[0-3])-(0[1-9]|[12][0-9]|3[0-2])"
    r"T([01][0-9]|2[0-4]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,10})?(Z|[+-](0[0-9]|1[0-5]):[0-5][0-9])?",
    "duration": r"-?P([0-9]{1,10}Y)?([0-9]{1,10}M)?([0-9]{1,10}D)?"
    r"(T([0-9]{1,10}H)?([0-9]{1,10}M)?([0-9]{1,10}(\.[0-9]{0,10})?S)?)?",
    "long": r"[+-]?[0-9]{1,20}",
    "string": r".{0,8}",
}


@given(
    st.sampled_from(sorted(LEXICAL_FORMS)).flatmap(
        lambda name: st.tuples(st.just(name), st.from_regex(LEXICAL_FORMS[name], fullmatch=True))
    )
)
def test_a_literal_is_signed_in_the_form_a_store_gives_it_back(typed: tuple[str, str]):
    """8.0 is signed as 8, +00:00 as Z, an xsd:long as an xsd:integer, and text that is no
    value of its datatype as it came."""
    datatype, text = typed
    node = ox.NamedNode("https://w3id.org/heila/message/m")
    triples = [
        (node, ox.NamedNode(XSD + "x"), ox.Literal(text, datatype=ox.NamedNode(XSD + datatype)))
    ]
    assert canonical(triples) == rdfc(triples)


@given(st.floats() | st.builds(math.ldexp, st.integers(-(2**53), 2**53), st.integers(-40, 90)))
def test_a_double_is_signed_in_the_form_a_store_gives_it_back(value: float):
    """Shortest digits, never an exponent: 1e+20 is signed as 100000000000000000000; and a
    value with few binary digits, halfway between two shortest texts, as Rust writes it."""
    node = ox.NamedNode("https://w3id.org/heila/message/m")
    double = ox.Literal(repr(value), datatype=ox.NamedNode(XSD + "double"))
    triples = [(node, ox.NamedNode(XSD + "x"), double)]
    assert canonical(triples) == rdfc(triples)


def test_the_story_messages_are_put_in_canonical_form_without_a_store(
    story: list[Message], monkeypatch: pytest.MonkeyPatch
):
    """Every datatype the messages use has its stored form worked out without a store, which
    would cost a signed message more than its signature does."""
    monkeypatch.setattr(ox, "Store", None)
    for message in story:
        canonical(message.triples)


def test_two_literals_of_one_value_are_signed_as_one_triple():
    node = ox.NamedNode("https://w3id.org/heila/message/m")
    power, decimal = ox.NamedNode(XSD + "x"), ox.NamedNode(XSD + "decimal")
    eight = [(node, power, ox.Literal(text, datatype=decimal)) for text in ("8.0", "8", "08.00")]
    assert canonical(eight) == canonical(eight[1:2])


@pytest.mark.parametrize(
    "make_key", [lambda: OKPKey.generate_key("Ed25519"), lambda: ECKey.generate_key("P-256")]
)
def test_a_signature_made_by_a_jws_library_verifies(weather: Message, make_key):
    """Signatures made before the hub signed without joserfc, or by any sender's library."""
    key = make_key()
    alg = "Ed25519" if isinstance(key, OKPKey) else "ES256"
    header = {"alg": alg, "kid": key.thumbprint()}
    made = jws.serialize_compact(header, canonical(weather.triples), key, [alg])
    held = public_key(key)
    assert verify(weather.iri, weather.triples, jws.detach_content(made), [held]) == held


def test_a_signature_over_the_unencoded_payload_verifies(weather: Message):
    """RFC 7797: the canonical form signed as it is, not in base64url."""
    key = OKPKey.generate_key("Ed25519")
    header = {"alg": "Ed25519", "kid": key.thumbprint(), "b64": False, "crit": ["b64"]}
    made = jws.serialize_compact(header, canonical(weather.triples), key, ["Ed25519"])
    held = public_key(key)
    assert verify(weather.iri, weather.triples, jws.detach_content(made), [held]) == held


def test_a_signature_naming_another_algorithm_than_its_keys_is_refused(weather: Message):
    key = OKPKey.generate_key("Ed25519")
    _, _, value = sign(weather.triples, private_key(key)).split(".")
    header = json.dumps({"alg": "ES256", "kid": key.thumbprint()}).encode()
    claimed = f"{base64url(header)}..{value}"
    with pytest.raises(SignatureRefused, match="does not match the message"):
        verify(weather.iri, weather.triples, claimed, [public_key(key)])


def test_an_unencoded_payload_not_named_critical_is_refused_each_time_it_comes(
    weather: Message,
):
    """RFC 7797: a header with `b64` false must name it in `crit`."""
    key = OKPKey.generate_key("Ed25519")
    _, _, value = sign(weather.triples, private_key(key)).split(".")
    header = json.dumps({"alg": "Ed25519", "kid": key.thumbprint(), "b64": False}).encode()
    for _ in range(2):
        with pytest.raises(SignatureRefused, match="no compact JWS"):
            verify(weather.iri, weather.triples, f"{base64url(header)}..{value}", [public_key(key)])


def test_a_header_joserfc_does_not_accept_is_refused_each_time_it_comes(weather: Message):
    key = OKPKey.generate_key("Ed25519")
    _, _, value = sign(weather.triples, private_key(key)).split(".")
    header = json.dumps({"alg": "Ed25519", "kid": key.thumbprint(), "crit": ["exp"]}).encode()
    for _ in range(2):
        with pytest.raises(SignatureRefused, match="does not match the message"):
            verify(weather.iri, weather.triples, f"{base64url(header)}..{value}", [public_key(key)])


def tampered(weather: Message) -> bytes:
    """The forecast with one value changed after it was signed."""
    document = weather.to_json()
    return json.dumps({**document, "recipients": ["dms-1"]}).encode()


def test_a_message_changed_after_signing_is_refused_and_nothing_is_stored(
    hub: Hub, weather: Message
):
    key = OKPKey.generate_key("Ed25519")
    token = register(hub, key)
    body = tampered(weather)
    changed = parse(body, "application/json")
    assert changed.triples != weather.triples
    headers = {"Authorization": f"Bearer {token}", HEADER: sign(weather.triples, private_key(key))}
    answer = httpx.post(f"{hub.url}/messages", content=body, headers=headers)
    assert answer.status_code == 403
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("signature", "signature")
    assert problem["detail"] == "the signature does not match the message"
    assert hub.store.get(weather.iri) is None


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_signature_carrying_the_payload_it_was_made_over_is_refused(hub: Hub, weather: Message):
    """A JWS with its payload attached vouches for that payload: the signature of the forecast
    as it was signed must not pass for the forecast changed since."""
    key = OKPKey.generate_key("Ed25519")
    token = register(hub, key)
    header, _, signature = sign(weather.triples, private_key(key)).split(".")
    attached = ".".join((header, base64url(canonical(weather.triples)), signature))
    headers = {"Authorization": f"Bearer {token}", HEADER: attached}
    answer = httpx.post(f"{hub.url}/messages", content=tampered(weather), headers=headers)
    assert answer.status_code == 403
    assert answer.json()["detail"] == "the signature is no compact JWS with a detached payload"
    assert hub.store.get(weather.iri) is None


def test_a_signature_by_a_key_the_sender_never_registered_is_refused(hub: Hub, weather: Message):
    token = register(hub, OKPKey.generate_key("Ed25519"))
    other = OKPKey.generate_key("Ed25519")
    answer = post(
        hub, token, weather.serialize("text/turtle"), sign(weather.triples, private_key(other))
    )
    assert answer.status_code == 403
    assert "none the sender registered" in answer.json()["detail"]
    assert hub.store.get(weather.iri) is None


def test_a_signed_message_dumped_and_loaded_into_a_fresh_store_verifies_there(
    hub: Hub, weather: Message, tmp_path: Path
):
    key = OKPKey.generate_key("Ed25519")
    post(
        hub,
        register(hub, key),
        weather.serialize("text/turtle"),
        sign(weather.triples, private_key(key)),
    )
    dump = io.BytesIO()
    hub.store.dump(dump)
    fresh = open_store(str(tmp_path / "fresh"))
    fresh.load(io.BytesIO(dump.getvalue()))
    fresh.close()
    command = [sys.executable, "-m", "hub.commands.cli", "verify", "weather-1", "--store"]
    answer = subprocess.run(
        [*command, str(tmp_path / "fresh")], capture_output=True, text=True, timeout=120
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == f"weather-1: signature verified, key {key.thumbprint()}\n"


def test_the_named_query_lists_a_signed_message_with_its_key_id_and_signature(
    hub: Hub, weather: Message, story: list[Message]
):
    key = ECKey.generate_key("P-256")
    signature = sign(weather.triples, private_key(key))
    post(hub, register(hub, key), weather.serialize("text/turtle"), signature)
    hub.store.put(next(m for m in story if m.id == "priceforecast-1"))
    result = run_query(hub.store, "signed-messages", {})
    found = [
        dict(zip(result.variables, (t.value for t in row), strict=True)) for row in result.rows
    ]
    assert [(r["message"], r["keyId"], r["signature"]) for r in found] == [
        (weather.iri, key.thumbprint(), signature)
    ]


def test_verify_says_in_one_line_that_a_message_is_not_signed(tmp_path: Path, weather: Message):
    store = open_store(str(tmp_path / "store"))
    store.put(weather)
    store.close()
    command = [sys.executable, "-m", "hub.commands.cli", "verify", "weather-1", "--store"]
    answer = subprocess.run(
        [*command, str(tmp_path / "store")], capture_output=True, text=True, timeout=120
    )
    assert (answer.returncode, answer.stderr) == (2, "heila verify: weather-1 is not signed\n")


def test_an_actor_that_must_sign_is_refused_an_unsigned_message(hub: Hub, weather: Message):
    key = OKPKey.generate_key("Ed25519")
    body = {"id": "spp-1", "role": "SPP", "keys": [public_jwk(key)], "signed": True}
    token = httpx.post(f"{hub.url}/actors", json=body, headers=hub.auth(ADMIN)).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "content-type": "text/turtle"}
    answer = httpx.post(
        f"{hub.url}/messages", content=weather.serialize("text/turtle"), headers=headers
    )
    assert answer.status_code == 403
    assert (
        answer.json()["detail"]
        == "spp-1 signs every message: send it with a Heila-Signature header"
    )
    assert hub.store.get(weather.iri) is None


def test_signing_keys_and_the_policy_come_from_the_configuration(tmp_path: Path):
    key = public_jwk(OKPKey.generate_key("Ed25519"))
    config = tmp_path / "hub.toml"
    config.write_text(
        f"[actors.spp-1]\ntoken_hash = {json.dumps(hash_token('t'))}\n"
        f"keys = [{json.dumps(key)}]\nsigned = true\n"
    )
    credential = load_settings(config).actors["spp-1"]
    assert (credential.keys, credential.signed) == ((key,), True)


def published(subscribe, body: bytes, signature: str | None = None) -> dict:
    """Publish `body` to spp-1's inbox, the signature in the v5 user property; the outcome."""
    spp = subscribe("heila/v1/spp-1/outcome")
    spp.publish("heila/v1/inbox/spp-1", body, signature=signature)
    return dict(spp.next().body)


def test_a_message_signed_in_the_mqtt_user_property_is_stored_with_its_signature(
    hub: Hub, weather: Message, subscribe
):
    key = OKPKey.generate_key("Ed25519")
    register(hub, key)
    body = weather.serialize("application/json")
    outcome = published(subscribe, body, sign(weather.triples, private_key(key)))
    assert outcome["status"] == "stored"
    stored = hub.store.get(weather.iri)
    assert stored is not None and verify_stored(weather.iri, stored.triples) == key.thumbprint()


def test_a_message_signed_in_a_first_line_over_mqtt_3_is_stored_with_its_signature(
    hub: Hub, weather: Message, subscribe
):
    key = OKPKey.generate_key("Ed25519")
    register(hub, key)
    line = f"{HEADER}: {sign(weather.triples, private_key(key))}\n".encode()
    outcome = published(subscribe, line + weather.serialize("application/json"))
    assert outcome["status"] == "stored"
    stored = hub.store.get(weather.iri)
    assert stored is not None and verify_stored(weather.iri, stored.triples) == key.thumbprint()


def test_a_message_changed_after_signing_is_rejected_on_the_inbox(
    hub: Hub, weather: Message, subscribe
):
    key = OKPKey.generate_key("Ed25519")
    register(hub, key)
    outcome = published(subscribe, tampered(weather), sign(weather.triples, private_key(key)))
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "signature")
    assert hub.store.get(weather.iri) is None


def test_an_actor_that_must_sign_is_rejected_an_unsigned_message_on_the_inbox(
    hub: Hub, weather: Message, subscribe
):
    key = public_jwk(OKPKey.generate_key("Ed25519"))
    body = {"id": "spp-1", "role": "SPP", "keys": [key], "signed": True}
    assert httpx.post(f"{hub.url}/actors", json=body, headers=hub.auth(ADMIN)).status_code == 201
    outcome = published(subscribe, weather.serialize("application/json"))
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "signature")


@pytest.fixture
def administrator_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


@pytest.fixture
def keyed_hub(mosquitto: Mosquitto, serve: Serve, administrator_key: OKPKey) -> Iterator[Hub]:
    """A running hub whose administrator signs with `administrator_key`."""
    tokens = {ADMIN: new_token()}
    keys = (public_jwk(administrator_key),)
    actors = {ADMIN: Credential(hash_token(tokens[ADMIN]), admin=True, keys=keys)}
    with running_hub(mosquitto, serve, tokens, actors=actors) as hub:
        yield hub


def administrators(weather: Message) -> Message:
    """The forecast, sent by the administrator: the only one whose messages it may update."""
    return parse(json.dumps({**weather.to_json(), "sender": ADMIN}).encode(), "application/json")


def inserted(hub: Hub, message: Message, signed: Message, key: Key) -> httpx.Response:
    """INSERT DATA of `message`'s graph keeping a signature made over `signed`."""
    triples = [
        *message.triples,
        *provenance(message.iri, sign(signed.triples, private_key(key)), public_key(key)),
    ]
    text = " ".join(f"{s} {p} {o} ." for s, p, o in triples)
    update = f"INSERT DATA {{ GRAPH <{message.iri}> {{ {text} }} }}"
    return httpx.post(f"{hub.url}/sparql", data={"update": update}, headers=hub.auth(ADMIN))


def test_a_signed_message_written_by_sparql_update_is_stored_when_it_verifies(
    keyed_hub: Hub, weather: Message, administrator_key: OKPKey
):
    message = administrators(weather)
    assert inserted(keyed_hub, message, message, administrator_key).status_code == 204
    stored = keyed_hub.store.get(message.iri)
    assert stored is not None
    assert verify_stored(message.iri, stored.triples) == administrator_key.thumbprint()


def test_a_signed_message_changed_after_signing_is_refused_by_sparql_update(
    keyed_hub: Hub, weather: Message, administrator_key: OKPKey
):
    message = administrators(weather)
    changed = parse(tampered(message), "application/json")
    answer = inserted(keyed_hub, changed, message, administrator_key)
    assert (answer.status_code, answer.json()["rule"]) == (403, "signature")
    assert keyed_hub.store.get(message.iri) is None


def test_a_message_signed_by_an_unregistered_key_is_refused_by_sparql_update(
    keyed_hub: Hub, weather: Message
):
    message = administrators(weather)
    answer = inserted(keyed_hub, message, message, OKPKey.generate_key("Ed25519"))
    assert answer.status_code == 403
    assert "none operator registered" in answer.json()["detail"]
    assert keyed_hub.store.get(message.iri) is None


def test_a_key_rotated_out_is_refused_while_what_it_signed_before_still_verifies(
    hub: Hub, story: list[Message], weather: Message
):
    old = OKPKey.generate_key("Ed25519")
    token = register(hub, old)
    post(hub, token, weather.serialize("text/turtle"), sign(weather.triples, private_key(old)))
    new = {"keys": [public_jwk(OKPKey.generate_key("Ed25519"))]}
    answer = httpx.put(f"{hub.url}/actors/spp-1/keys", json=new, headers=hub.auth(ADMIN))
    assert answer.status_code == 204
    price = next(m for m in story if m.id == "priceforecast-1")
    refused = post(
        hub, token, price.serialize("text/turtle"), sign(price.triples, private_key(old))
    )
    assert (refused.status_code, refused.json()["rule"]) == (403, "signature")
    stored = hub.store.get(weather.iri)
    assert stored is not None and verify_stored(weather.iri, stored.triples) == old.thumbprint()
