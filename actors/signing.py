"""An actor's signature on what it sends: a key of its own, and the header the hub checks.

The signature is the hub's (hub.signature): a detached JWS over the canonical form of the
message's graph, which the actor makes from the plain JSON it posts, as the hub reads it.
The key is a private JWK in a file only the actor reads; its public half is registered with
the hub (`heila actor add ID --key`, or `keys` in hub.toml).

The hub's modules that make the canonical form load its shapes (about a second), so they are
imported at the first signature, not when the actor starts: an actor is listening at once.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey

Key = OKPKey | ECKey


class Signer:
    """Signs an actor's messages with its private key."""

    def __init__(self, key: Key) -> None:
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> "Signer":
        """The signer whose private JWK (Ed25519 or P-256) is in `path`; raises OSError or
        ValueError."""
        try:
            key = JWKRegistry.import_key(json.loads(path.read_text()))
        except JoseError as error:
            raise ValueError(f"{path} holds no usable JWK: {error}") from None
        if not isinstance(key, OKPKey | ECKey) or not key.is_private:
            raise ValueError(f"{path} holds no private Ed25519 or P-256 JWK")
        return cls(key)

    def __call__(self, message: Mapping[str, Any]) -> Mapping[str, str]:
        """The headers that carry the message's signature."""
        from hub.json_form import to_triples  # at the first signature: see the docstring
        from hub.signature import HEADER, sign

        return {HEADER: sign(to_triples(dict(message)), self._key)}


def write_key(key: Key, path: Path) -> None:
    """Keep a private JWK where only its owner reads it."""
    path.touch(mode=0o600)
    path.write_text(json.dumps(key.as_dict(private=True)))
