"""Confidential parts: a sender seals a part of a message for its recipients (JWE), and the hub
stores and forwards it unread, validating what it can see.

A sealed part keeps its place in the message: the message still links to the part's node
(`<M> heila:price <M#price>`, so which part it is stays visible), and the node holds, instead
of its own triples, one literal of datatype heila:JWE (`<M#price> heila:sealed "…"^^heila:JWE`).
The literal is a JWE in its general JSON serialization (RFC 7516 §7.2.1): content encrypted
with A256GCM, its key wrapped for each recipient by ECDH-ES+A256KW to that recipient's X25519
or P-256 key, `kid` the key's thumbprint. The plaintext is the part's triples as canonical
N-Triples. The hub checks the shapes of everything else and of no sealed part; a signature is
made, and checked, over the sealed form, so whoever holds the message can verify it without
reading the part. Only a recipient's private key opens it (`unseal`).
"""

import json
from collections.abc import Sequence

import pyoxigraph as ox
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from hub.model.canonical import canonical
from hub.model.terms import JWE, SEALED, Triple, triples_of

_ALGORITHMS = ("ECDH-ES+A256KW", "A256GCM")

RecipientKey = OKPKey | ECKey


class CannotUnseal(ValueError):
    """The part is not sealed for this key, or its JWE does not decrypt."""


def seal(triples: Sequence[Triple], part: str, recipients: Sequence[RecipientKey]) -> list[Triple]:
    """The message's triples with the part `part` (its node's IRI) sealed for `recipients`."""
    node = ox.NamedNode(part)
    own = [t for t in triples if t[0] == node]
    if not own:
        raise ValueError(f"the message has no part {part}")
    encryption = jwe.GeneralJSONEncryption({"enc": _ALGORITHMS[1]}, canonical(own))
    for key in recipients:
        encryption.add_recipient({"alg": _ALGORITHMS[0], "kid": key.thumbprint()}, key)
    sealed = json.dumps(jwe.encrypt_json(encryption, None, algorithms=list(_ALGORITHMS)))
    rest = [t for t in triples if t[0] != node]
    return [*rest, (node, SEALED, ox.Literal(sealed, datatype=JWE))]


def unseal(triples: Sequence[Triple], part: str, key: RecipientKey) -> list[Triple]:
    """The message's triples with the sealed part `part` opened by a recipient's private key."""
    node = ox.NamedNode(part)
    sealed = next((o for s, p, o in triples if s == node and p == SEALED), None)
    if sealed is None:
        raise CannotUnseal(f"the part {part} is not sealed")
    document = json.loads(sealed.value)
    kid = key.thumbprint()
    document["recipients"] = [
        r for r in document.get("recipients", []) if r.get("header", {}).get("kid") == kid
    ]
    if not document["recipients"]:
        raise CannotUnseal(f"the part {part} is not sealed for the key {kid}")
    try:
        opened = jwe.decrypt_json(document, key, algorithms=list(_ALGORITHMS))
    except (JoseError, ValueError) as error:
        raise CannotUnseal(f"the part {part} does not open: {error}") from None
    plain = triples_of(ox.parse(opened.plaintext or b"", format=ox.RdfFormat.N_TRIPLES))
    return [*(t for t in triples if t[0] != node), *plain]
