"""Signed messages: a JWS over the canonical form of a message's graph, kept in that graph.

A sender may sign a message (compact JWS with a detached payload, alg Ed25519 or ES256, `kid`
the key's JWK thumbprint, RFC 7638) and send the signature beside it (HTTP header
`Heila-Signature`). The payload is the message's graph in RDF Dataset Canonicalization
(RDFC-1.0) form. A message has no blank nodes (each part is named by the message's IRI,
hub.model.message), so its canonical N-Quads are just its triples in canonical N-Triples, sorted and
without duplicates: no blank-node labelling, one sort. Literals are first put in their value's
canonical form, because that is what a store gives back. The hub checks the signature against the
keys registered for the sender (hub.trust.registry) and keeps it, with the public key, as two more
triples of the message, which the canonical form leaves out: whoever holds the graph, in this
store or in another after a dump and load, can verify it again.
"""

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import pyoxigraph as ox
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.util import urlsafe_b64decode, urlsafe_b64encode
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from hub.model.canonical import PROVENANCE, SIGNATURE, SIGNING_KEY, canonical
from hub.model.errors import HubError, UsageError, Violation
from hub.model.message import GENERATED_BY
from hub.model.terms import Triple
from hub.model.vocabulary import ACTOR, MESSAGE
from hub.storage.store import open_for_command

ALGORITHMS = ("Ed25519", "ES256")
HEADER = "Heila-Signature"

Key = OKPKey | ECKey
_REGISTRY = jws.JWSRegistry(algorithms=ALGORITHMS)
"""The algorithms a signature may use, made into joserfc's registry once."""


@dataclass(frozen=True)
class Signing:
    """What the hub holds of an actor's signatures: its public keys, and whether it must sign."""

    keys: Sequence["PublicKey"] = ()
    required: bool = False


class SignatureRefused(HubError):
    """A signature that does not verify, or is made with a key its sender never registered."""

    def __init__(self, iri: str, text: str) -> None:
        self.iri = iri
        super().__init__(text)

    def violation(self) -> Violation:
        name = self.iri.removeprefix(MESSAGE)
        return Violation(name, self.iri, "signature", "signature", "signature", None, str(self))


@dataclass(frozen=True)
class PublicKey:
    """A public key as the hub holds it: read once, with its id (RFC 7638 thumbprint), its
    algorithm, the JWK a verified message keeps and the key that verifies, so that no message
    pays for any of them. Ed25519 is verified by libsodium, in half the time OpenSSL takes."""

    key: Key
    kid: str
    jwk: str
    alg: str
    native: VerifyKey | ec.EllipticCurvePublicKey

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether `signature`, as a JWS carries it (R and S side by side for ES256), is this
        key's over `data`."""
        try:
            if isinstance(self.native, VerifyKey):
                self.native.verify(data, signature)
                return True
            if len(signature) != 2 * _P256_BYTES:
                return False
            r = int.from_bytes(signature[:_P256_BYTES])
            s = int.from_bytes(signature[_P256_BYTES:])
            self.native.verify(encode_dss_signature(r, s), data, ec.ECDSA(SHA256()))
            return True
        except (InvalidSignature, BadSignatureError, ValueError):
            return False


_P256_BYTES = 32


@lru_cache(maxsize=4096)
def key_from_jwk(jwk: str) -> PublicKey:
    """A public key from its JWK; raises ValueError for anything but an Ed25519 or P-256 key.
    Kept once read: the registry hands the same JWKs over at every signed message."""
    data = json.loads(jwk)
    if data.get("kty") == "OKP" and data.get("crv") == "Ed25519":
        key: Key = OKPKey.import_key(data)
    elif data.get("kty") == "EC" and data.get("crv") == "P-256":
        key = ECKey.import_key(data)
    else:
        raise ValueError("a signing key is an Ed25519 (OKP) or P-256 (EC) JWK")
    return _held(key)


def _held(key: Key) -> PublicKey:
    native = key.public_key
    verifier: VerifyKey | ec.EllipticCurvePublicKey
    if isinstance(native, Ed25519PublicKey):
        verifier = VerifyKey(native.public_bytes_raw())
    elif isinstance(native, ec.EllipticCurvePublicKey):
        verifier = native
    else:
        raise ValueError("a signing key is an Ed25519 or P-256 key")
    kid = key.thumbprint()
    jwk = json.dumps({**key.as_dict(private=False), "kid": kid}, sort_keys=True)
    return PublicKey(key, kid, jwk, _algorithm(key), verifier)


def _algorithm(key: Key) -> str:
    return "Ed25519" if isinstance(key, OKPKey) else "ES256"


def public_key(key: Key) -> PublicKey:
    """The public half of a key, as the hub holds a registered one."""
    return key_from_jwk(public_jwk(key))


def public_jwk(key: Key) -> str:
    """The public JWK, with its thumbprint as `kid`: what a named query shows as the key's id."""
    return _held(key).jwk


@dataclass(frozen=True)
class PrivateKey:
    """A sender's key as it signs: the JWS protected header of its signatures (its algorithm,
    its thumbprint as `kid`) made once, so that no message pays for the thumbprint. Ed25519
    signs with libsodium, as it verifies."""

    native: SigningKey | ec.EllipticCurvePrivateKey
    header: bytes

    def signature(self, data: bytes) -> bytes:
        """The signature over `data` as a JWS carries it (R and S side by side for ES256)."""
        if isinstance(self.native, SigningKey):
            return self.native.sign(data).signature
        r, s = decode_dss_signature(self.native.sign(data, ec.ECDSA(SHA256())))
        return r.to_bytes(_P256_BYTES) + s.to_bytes(_P256_BYTES)


def private_key(key: Key) -> PrivateKey:
    """A private Ed25519 or P-256 key made ready to sign; raises ValueError for a public one."""
    native = key.private_key
    signer: SigningKey | ec.EllipticCurvePrivateKey
    if isinstance(native, Ed25519PrivateKey):
        signer = SigningKey(native.private_bytes_raw())
    elif isinstance(native, ec.EllipticCurvePrivateKey):
        signer = native
    else:
        raise ValueError("a key that signs is a private Ed25519 or P-256 key")
    header = json.dumps({"alg": _algorithm(key), "kid": key.thumbprint()}, separators=(",", ":"))
    return PrivateKey(signer, urlsafe_b64encode(header.encode()))


def sign(triples: Iterable[Triple], key: PrivateKey) -> str:
    """The detached compact JWS (RFC 7515, appendix F) a sender puts beside its message."""
    data = key.header + b"." + urlsafe_b64encode(canonical(triples))
    return (key.header + b".." + urlsafe_b64encode(key.signature(data))).decode()


def verify(
    iri: str, triples: Iterable[Triple], signature: str, keys: Sequence[PublicKey]
) -> PublicKey:
    """The key among `keys` that made `signature` over the triples; else SignatureRefused.
    The JWS has a detached payload, the canonical form: one that carries a payload of its own
    is refused, else it would vouch for that payload and not the message. Its sizes are
    checked as joserfc checks them, its protected header is read as joserfc reads it, once
    for every message it signs (`_protected`), and the signature is checked by the key."""
    value = signature.encode()
    if value.count(b".") != 2 or value.split(b".")[1]:
        raise SignatureRefused(iri, "the signature is no compact JWS with a detached payload")
    header, _, made = value.split(b".")
    try:
        _REGISTRY.validate_compact_value_size(value)
        _REGISTRY.validate_header_size(header)
        _REGISTRY.validate_signature_size(made)
        protected = _protected(header)
        payload = canonical(triples)
        if protected.unencoded:
            _REGISTRY.validate_payload_size(payload)
    except (JoseError, ValueError) as error:
        raise SignatureRefused(iri, f"the signature is no compact JWS: {error}") from None
    key = next((k for k in keys if k.kid == protected.kid), None)
    if key is None:
        text = f"the signature's key {protected.kid!r} is none the sender registered"
        raise SignatureRefused(iri, text)
    signed = header + b"." + (payload if protected.unencoded else urlsafe_b64encode(payload))
    if not (protected.checked and protected.alg == key.alg and _verifies(key, made, signed)):
        raise SignatureRefused(iri, "the signature does not match the message")
    return key


@dataclass(frozen=True)
class Protected:
    """What a JWS's protected header says: its key's id, its algorithm, whether the payload is
    signed as it is (RFC 7797, `b64` false) and whether the header passes joserfc's checks."""

    kid: object
    alg: str
    unencoded: bool
    checked: bool


@lru_cache(maxsize=1024)
def _protected(header: bytes) -> Protected:
    """The protected header of a JWS, read by joserfc once for all the messages it signs: a
    sender's header is the same in every signature. Raises JoseError or ValueError."""
    fields = jws.extract_compact(header + b"..", None, _REGISTRY).headers()
    try:
        _REGISTRY.check_header(fields)
        checked = True
    except JoseError:
        checked = False
    return Protected(fields.get("kid"), fields["alg"], fields.get("b64", True) is not True, checked)


def _verifies(key: PublicKey, made: bytes, signed: bytes) -> bool:
    try:
        return key.verifies(urlsafe_b64decode(made), signed)
    except ValueError:
        return False


def provenance(iri: str, signature: str, key: PublicKey) -> list[Triple]:
    """The triples that keep a verified signature and its key in the message's graph."""
    node = ox.NamedNode(iri)
    return [(node, SIGNATURE, ox.Literal(signature)), (node, SIGNING_KEY, ox.Literal(key.jwk))]


def verify_stored(iri: str, triples: Sequence[Triple]) -> str | None:
    """Re-verify a stored message from its graph alone: the key's thumbprint, None when it
    carries no signature, or SignatureRefused."""
    kept = {p: o.value for _s, p, o in triples if p in PROVENANCE}
    if not kept:
        return None
    if set(kept) != set(PROVENANCE):
        raise SignatureRefused(iri, "the message keeps a signature or a key, not both")
    return verify(iri, triples, kept[SIGNATURE], [key_from_jwk(kept[SIGNING_KEY])]).kid


def check_written(
    graphs: Mapping[str, Sequence[Triple]], signing: Callable[[str], Signing]
) -> None:
    """Message graphs written past the intake (SPARQL Update): a signature a graph keeps must
    verify with a key its sender registered, and a sender that signs every message must keep
    one; else SignatureRefused."""
    for name, triples in graphs.items():
        sender = _sender(name, triples)
        policy = signing(sender)
        kid = verify_stored(name, triples)
        if kid is None and policy.required:
            raise SignatureRefused(name, f"{sender} signs every message; this one keeps none")
        if kid is not None and kid not in {key.kid for key in policy.keys}:
            raise SignatureRefused(name, f"the signature's key {kid!r} is none {sender} registered")


def _sender(name: str, triples: Iterable[Triple]) -> str:
    node = ox.NamedNode(name)
    return next(
        (o.value.removeprefix(ACTOR) for s, p, o in triples if s == node and p == GENERATED_BY),
        "",
    )


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message", help="the id of a stored message")
    parser.add_argument("--store", default="var/store", help="the store's directory")


def run(args: argparse.Namespace) -> int:
    """`heila verify MESSAGE`: check a stored message's signature from the store alone."""
    store = open_for_command(args.store, create=False)
    iri = MESSAGE + args.message
    try:
        message = store.get(iri)
    finally:
        store.close()
    if message is None:
        raise UsageError(f"no message {args.message!r} is stored")
    try:
        kid = verify_stored(iri, message.triples)
    except SignatureRefused as error:
        raise UsageError(f"{args.message}: {error}") from None
    if kid is None:
        raise UsageError(f"{args.message} is not signed")
    print(f"{args.message}: signature verified, key {kid}")
    return 0
