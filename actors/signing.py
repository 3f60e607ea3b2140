"""An actor's signature on what it sends: a key of its own, and the header the hub checks.

The signature is the hub's (hub.trust.signature): a detached JWS over the canonical form of the
message's graph, which the actor makes from the plain JSON it posts, as the hub reads it.
The key is a private JWK in a file only the actor reads; its public half is registered with
the hub (`heila actor add ID --key`, or `keys` in hub.toml).

The hub's modules that make the canonical form load its shapes (about a second), so they are
not imported before the actor listens: `prepare` loads them beside its start, in a thread of
their own, and the first signature waits for them only if they are not there yet.
"""

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey

if TYPE_CHECKING:
    from hub.trust.signature import PrivateKey

Key = OKPKey | ECKey


class Signer:
    """Signs an actor's messages with its private key."""

    def __init__(self, key: Key) -> None:
        self._key = key
        self._ready: PrivateKey | None = None

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

    def prepare(self) -> None:
        """Load the canonical form's modules in the background, while the actor starts."""
        threading.Thread(target=_canonical_form, name="signer-imports", daemon=True).start()

    def __call__(self, message: Mapping[str, Any]) -> Mapping[str, str]:
        """The headers that carry the message's signature."""
        to_triples, header, sign, private_key = _canonical_form()
        if self._ready is None:
            self._ready = private_key(self._key)
        return {header: sign(to_triples(dict(message)), self._ready)}


def _canonical_form() -> tuple[
    Callable[..., Any], str, Callable[..., str], Callable[[Key], "PrivateKey"]
]:
    """The hub's JSON-to-graph mapping, its signature header, its signing function and what
    makes a key ready to sign, imported when first asked for (see the module's docstring)."""
    from hub.model.json_form import to_triples
    from hub.trust.signature import HEADER, private_key, sign

    return to_triples, HEADER, sign, private_key


def write_key(key: Key, path: Path) -> None:
    """Keep a private JWK where only its owner reads it."""
    path.touch(mode=0o600)
    path.write_text(json.dumps(key.as_dict(private=True)))
