"""An actor's signer: the header it adds verifies against the message as the hub reads it."""

import json
from pathlib import Path

from joserfc.jwk import ECKey, OKPKey

from actors.signing import Signer, write_key
from hub.model.message import Message, parse
from hub.trust.signature import HEADER, public_key, verify


def test_a_signature_made_from_plain_json_verifies_against_the_message_the_hub_reads(
    story: list[Message],
):
    key = ECKey.generate_key("P-256")
    document = next(m for m in story if m.id == "offer-1").to_json()
    signature = Signer(key)(document)[HEADER]
    received = parse(json.dumps(document).encode(), "application/json")
    assert verify(received.iri, received.triples, signature, [public_key(key)]) == public_key(key)


def test_a_key_file_is_read_by_its_owner_alone(tmp_path: Path):
    write_key(OKPKey.generate_key("Ed25519"), tmp_path / "actor.jwk")
    assert (tmp_path / "actor.jwk").stat().st_mode & 0o077 == 0


def test_a_signer_from_a_key_file_signs_with_that_key(tmp_path: Path, story: list[Message]):
    key = OKPKey.generate_key("Ed25519")
    write_key(key, tmp_path / "actor.jwk")
    offer = next(m for m in story if m.id == "offer-1")
    signature = Signer.from_file(tmp_path / "actor.jwk")(offer.to_json())[HEADER]
    assert verify(offer.iri, offer.triples, signature, [public_key(key)]) == public_key(key)
