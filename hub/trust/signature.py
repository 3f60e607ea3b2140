"""Signed messages: a JWS over the canonical form of a message's graph, kept in that graph.

A sender may sign a message (compact JWS with a detached payload, alg Ed25519 or ES256, `kid`
the key's JWK thumbprint, RFC 7638) and send the signature beside it (HTTP header
`Heila-Signature`). The payload is the message's graph in RDF Dataset Canonicalization
(RDFC-1.0) form. A message has no blank nodes (each part is named by the message's IRI,
hub.model.message), so its canonical N-Quads are just its triples in canonical N-Triples, sorted and
without duplicates: no blank-node labelling, one sort (about 0.1 ms for a forecast's 30
triples). Literals are first put in their value's canonical form, because that is what a store
gives back. The hub checks the signature against the
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
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from hub.model.errors import HubError, UsageError, Violation
from hub.model.message import GENERATED_BY
from hub.model.terms import Triple
from hub.model.vocabulary import ACTOR, HEILA, MESSAGE
from hub.storage.store import open_for_command

ALGORITHMS = ("Ed25519", "ES256")
HEADER = "Heila-Signature"
SIGNATURE = ox.NamedNode(HEILA + "signature")
SIGNING_KEY = ox.NamedNode(HEILA + "signingKey")
PROVENANCE = (SIGNATURE, SIGNING_KEY)

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


def canonical(triples: Iterable[Triple]) -> bytes:
    """RDFC-1.0 canonical N-Quads of a blank-node-free graph, without its signature triples,
    each literal in the canonical form of its datatype's value, as Oxigraph stores it (the
    store keeps 8.0 as 8): what is signed is what any store gives back."""
    values = ox.Store()
    values.extend([ox.Quad(s, p, o) for s, p, o in triples if p not in PROVENANCE])
    return "".join(sorted(f"{q.subject} {q.predicate} {q.object} .\n" for q in values)).encode()


@dataclass(frozen=True)
class PublicKey:
    """A public key as the hub holds it: read once, with its id (RFC 7638 thumbprint) and the
    JWK a verified message keeps, so that no message pays for either."""

    key: Key
    kid: str
    jwk: str


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
    kid = key.thumbprint()
    return PublicKey(
        key, kid, json.dumps({**key.as_dict(private=False), "kid": kid}, sort_keys=True)
    )


def public_key(key: Key) -> PublicKey:
    """The public half of a key, as the hub holds a registered one."""
    return key_from_jwk(public_jwk(key))


def public_jwk(key: Key) -> str:
    """The public JWK, with its thumbprint as `kid`: what a named query shows as the key's id."""
    return _held(key).jwk


def sign(triples: Iterable[Triple], key: Key) -> str:
    """The detached compact JWS a sender puts beside its message."""
    alg = "Ed25519" if isinstance(key, OKPKey) else "ES256"
    header = {"alg": alg, "kid": key.thumbprint()}
    compact = jws.serialize_compact(header, canonical(triples), key, registry=_REGISTRY)
    return jws.detach_content(compact)


def verify(
    iri: str, triples: Iterable[Triple], signature: str, keys: Sequence[PublicKey]
) -> PublicKey:
    """The key among `keys` that made `signature` over the triples; else SignatureRefused.
    The JWS is read once, over the canonical form as its detached payload: one that carries a
    payload of its own is refused, else it would vouch for that payload and not the message."""
    if signature.count(".") != 2 or signature.split(".")[1]:
        raise SignatureRefused(iri, "the signature is no compact JWS with a detached payload")
    try:
        compact = jws.extract_compact(signature.encode(), canonical(triples), _REGISTRY)
    except (JoseError, ValueError) as error:
        raise SignatureRefused(iri, f"the signature is no compact JWS: {error}") from None
    kid = compact.headers().get("kid")
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise SignatureRefused(iri, f"the signature's key {kid!r} is none the sender registered")
    try:
        valid = jws.validate_compact(compact, key.key, registry=_REGISTRY)
    except (JoseError, ValueError):
        valid = False
    if not valid:
        raise SignatureRefused(iri, "the signature does not match the message")
    return key


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
