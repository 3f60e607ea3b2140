"""An actor's signature on what it sends: a key of its own, and the header the hub checks.

The signature is the hub's (hub.signature): a detached JWS over the canonical form of the
message's graph, which the actor makes from the plain JSON it posts, as the hub reads it.
The key is a private JWK in a file only the actor reads; its public half is registered with
the hub (`heila actor add ID --key`, or `keys` in hub.toml).
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.json_form import to_triples
from hub.signature import HEADER, Key, key_from_jwk, sign


class Signer:
    """Signs an actor's messages with its private key."""

    def __init__(self, key: Key) -> None:
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> "Signer":
        """The signer whose private JWK is in `path`; raises OSError or ValueError."""
        return cls(key_from_jwk(path.read_text()))

    def __call__(self, message: Mapping[str, Any]) -> Mapping[str, str]:
        """The headers that carry the message's signature."""
        return {HEADER: sign(to_triples(dict(message)), self._key)}


def write_key(key: Key, path: Path) -> None:
    """Keep a private JWK where only its owner reads it."""
    path.touch(mode=0o600)
    path.write_text(json.dumps(key.as_dict(private=True)))
