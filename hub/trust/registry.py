"""The actors the hub knows, as RDF in a graph of their own, changed while the hub runs.

Each actor is `<https://w3id.org/heila/actor/ID> a heila:RegisteredActor` with its role, the
party operating it and its credential (the hash of its token, whether it may log in by
certificate), in <https://w3id.org/heila/hub/actors>: queryable like everything else,
read-only to SPARQL Update and left out of dumps. Only this module writes it, for `heila actor`
on a store directory or `POST /actors` on a running hub; the running hub holds the store's
lock, so no change can come from elsewhere, and the registry's copy in memory, replaced at each
change, is what every check reads (HTTP, MQTT inbox, roles): a token added or revoked counts
from the next request on. The hub's configuration ([actors]) is written into it at start.

On a cluster every node holds a registry of its own, so a change goes through the commit log
instead (`share`): each node makes it when it applies that entry (`apply`), in the same place
of the same order, and the node that took the change answers once it has made it.
"""

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import pyoxigraph as ox

from hub.config import Credential
from hub.model.canonical import SIGNING_KEY
from hub.model.errors import UsageError
from hub.model.terms import RDF_TYPE
from hub.model.vocabulary import ACTOR, HEILA, ID_PATTERN, XSD
from hub.storage.store import REGISTRY_GRAPH, Store
from hub.trust.auth import check_token_hash, hash_token, mosquitto_hash, new_token
from hub.trust.roles import roles
from hub.trust.signature import Signing, key_from_jwk

_GRAPH = ox.NamedNode(REGISTRY_GRAPH)
_REGISTERED = ox.NamedNode(HEILA + "RegisteredActor")
_ROLE = ox.NamedNode(HEILA + "role")
_OPERATOR = ox.NamedNode(HEILA + "operatorName")
_TOKEN_HASH = ox.NamedNode(HEILA + "tokenHash")
_CERTIFICATE = ox.NamedNode(HEILA + "certificateLogin")
_SIGNED = ox.NamedNode(HEILA + "signsEveryMessage")
_BROKER_HASH = ox.NamedNode(HEILA + "brokerPasswordHash")

_KEYS = f"""
SELECT ?actor ?key WHERE {{ GRAPH {_GRAPH} {{ ?actor {SIGNING_KEY} ?key }} }}
"""

_READ = f"""
SELECT ?actor ?role ?operator ?hash ?certificate ?signed ?broker WHERE {{ GRAPH {_GRAPH} {{
  ?actor a {_REGISTERED} .
  OPTIONAL {{ ?actor {_ROLE} ?role }} OPTIONAL {{ ?actor {_OPERATOR} ?operator }}
  OPTIONAL {{ ?actor {_TOKEN_HASH} ?hash }} OPTIONAL {{ ?actor {_CERTIFICATE} ?certificate }}
  OPTIONAL {{ ?actor {_SIGNED} ?signed }} OPTIONAL {{ ?actor {_BROKER_HASH} ?broker }}
}} }}
"""


def _check_key(jwk: str) -> None:
    try:
        key_from_jwk(jwk)
    except ValueError as error:
        raise RegistryRefused(422, "keys", f"a signing key is not usable: {error}") from None


ChangeActor = Callable[[str, Credential | None], None]
"""Makes one change: the actor's credential from now on, or None once revoked."""


class RegistryRefused(UsageError):
    """A change the registry cannot make: says which field and why, with the HTTP status."""

    def __init__(self, status: int, field: str, text: str) -> None:
        self.status = status
        self.field = field
        super().__init__(text)


@dataclass(frozen=True)
class Listed:
    """One actor as `heila actor list` shows it: never its token hash."""

    actor: str
    role: str
    party: str
    token: bool
    certificate: bool


def _quads(actor: str, credential: Credential) -> list[ox.Quad]:
    node = ox.NamedNode(ACTOR + actor)
    facts: list[tuple[ox.NamedNode, ox.NamedNode | ox.Literal]] = [(RDF_TYPE, _REGISTERED)]
    if credential.role is not None:
        facts.append((_ROLE, ox.Literal(credential.role)))
    if credential.party is not None:
        facts.append((_OPERATOR, ox.Literal(credential.party)))
    if credential.token_hash is not None:
        facts.append((_TOKEN_HASH, ox.Literal(credential.token_hash)))
    if credential.broker_hash is not None:
        facts.append((_BROKER_HASH, ox.Literal(credential.broker_hash)))
    true = ox.Literal("true", datatype=ox.NamedNode(XSD + "boolean"))
    if credential.certificate:
        facts.append((_CERTIFICATE, true))
    if credential.signed:
        facts.append((_SIGNED, true))
    facts += [(SIGNING_KEY, ox.Literal(jwk)) for jwk in credential.keys]
    return [ox.Quad(node, predicate, value, _GRAPH) for predicate, value in facts]


@lru_cache(maxsize=4096)
def _signing(keys: tuple[str, ...], signed: bool) -> Signing:
    """An actor's keys and policy, made once for each registered set: a change of keys or
    policy is another set, so every signed message after it reads the registry as it is."""
    return Signing(tuple(key_from_jwk(jwk) for jwk in keys), signed)


def _text(term: object) -> str | None:
    return term.value if isinstance(term, ox.Literal) else None


def _administrator(credential: Credential) -> Credential:
    """`admin = true` without a role is written down as the administrator's role."""
    if credential.admin and credential.role is None:
        return replace(credential, role="administrator", admin=False)
    return credential


class Registry(Mapping[str, Credential]):
    """The registered actors by id; every change is written to the graph, then seen here."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._actors = self._read()
        self._revoked: set[str] = set()
        self._change: ChangeActor = self.apply

    def __getitem__(self, actor: str) -> Credential:
        return self._actors[actor]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actors)

    def __len__(self) -> int:
        return len(self._actors)

    def share(self, change: ChangeActor) -> None:
        """Make every change from now on through `change` (a cluster's commit log), which
        calls `apply` on every node and returns once this one has."""
        self._change = change

    def apply(self, actor: str, credential: Credential | None) -> None:
        """Give `actor` this credential from now on, or forget it (None). Called by one writer
        at a time: a change under the registry's lock, or a cluster node applying its log."""
        actors = {a: c for a, c in self._actors.items() if a != actor}
        if credential is None:
            self._revoked.add(actor)
        else:
            actors[actor] = credential
            self._revoked.discard(actor)
        self._write(actors)

    def configure(self, configured: Mapping[str, Credential]) -> None:
        """Write the configuration's actors in, each replacing what the registry held for it."""
        with self._lock:
            self._write({**self._actors, **{a: _administrator(c) for a, c in configured.items()}})

    def add(
        self,
        actor: str,
        role: str,
        party: str | None = None,
        keys: Sequence[str] = (),
        signed: bool = False,
    ) -> str:
        """Register a new actor, with the public JWKs it signs with; its token, returned once
        and kept nowhere."""
        if re.fullmatch(ID_PATTERN, actor) is None:
            raise RegistryRefused(
                422, "id", f"an actor id matches {ID_PATTERN}; {actor!r} does not"
            )
        if role not in roles():
            text = f"role {role!r} is none of {', '.join(sorted(roles()))}"
            raise RegistryRefused(422, "role", text)
        for jwk in keys:
            _check_key(jwk)
        token = new_token()
        with self._lock:
            if actor in self._actors:
                text = f"{actor} is registered already: rotate its token or revoke it"
                raise RegistryRefused(409, "id", text)
            if signed and not keys:
                text = "an actor that signs every message needs a key"
                raise RegistryRefused(422, "keys", text)
            credential = Credential(
                hash_token(token),
                role=role,
                party=party,
                keys=tuple(keys),
                signed=signed,
                broker_hash=mosquitto_hash(token),
            )
            self._change(actor, credential)
        return token

    def rotate(self, actor: str) -> str:
        """A new token for a registered actor; the old one is refused from now on."""
        token = new_token()
        with self._lock:
            credential = self._known(actor)
            rotated = replace(
                credential, token_hash=hash_token(token), broker_hash=mosquitto_hash(token)
            )
            self._change(actor, rotated)
        return token

    def set_keys(self, actor: str, keys: Sequence[str]) -> None:
        """Replace the public JWKs an actor signs with: a signature by a key it no longer has
        is refused from now on (one it made earlier stays verifiable from the store, which
        keeps the key with the message)."""
        for jwk in keys:
            _check_key(jwk)
        with self._lock:
            credential = self._known(actor)
            if credential.signed and not keys:
                text = "an actor that signs every message needs a key"
                raise RegistryRefused(422, "keys", text)
            self._change(actor, replace(credential, keys=tuple(keys)))

    def revoke(self, actor: str) -> None:
        """Forget the actor: its token and certificate are refused from now on."""
        with self._lock:
            self._known(actor)
            self._change(actor, None)

    def revoked(self, actor: str) -> bool:
        """Whether the actor was revoked since this registry was opened (and not added again):
        a connection its old credential opened may still be up."""
        return actor in self._revoked

    def signing(self, actor: str) -> Signing:
        """The public keys `actor` signs with, and whether it must."""
        credential = self._actors.get(actor)
        if credential is None:
            return Signing()
        return _signing(credential.keys, credential.signed)

    def listing(self) -> list[Listed]:
        return [
            Listed(
                actor,
                credential.role or "",
                credential.party or "",
                credential.token_hash is not None,
                credential.certificate,
            )
            for actor, credential in sorted(self._actors.items())
        ]

    def _known(self, actor: str) -> Credential:
        if actor not in self._actors:
            raise RegistryRefused(404, "id", f"no actor {actor!r} is registered")
        return self._actors[actor]

    def _write(self, actors: dict[str, Credential]) -> None:
        self._store.replace_registry(
            [
                quad
                for actor, credential in sorted(actors.items())
                for quad in _quads(actor, credential)
            ]
        )
        self._actors = actors

    def _read(self) -> dict[str, Credential]:
        keys: dict[str, list[str]] = {}
        for actor, key in self._store.query(_KEYS).rows:
            if isinstance(actor, ox.NamedNode) and isinstance(key, ox.Literal):
                keys.setdefault(actor.value.removeprefix(ACTOR), []).append(key.value)
        actors = {}
        for actor, role, operator, token_hash, certificate, signed, broker in self._store.query(
            _READ
        ).rows:
            if not isinstance(actor, ox.NamedNode):
                continue
            hash_text = _text(token_hash)
            identifier = actor.value.removeprefix(ACTOR)
            if hash_text is not None:
                check_token_hash(identifier, hash_text)
            actors[identifier] = Credential(
                hash_text,
                _text(certificate) == "true",
                role=_text(role),
                party=_text(operator),
                keys=tuple(sorted(keys.get(identifier, []))),
                signed=_text(signed) == "true",
                broker_hash=_text(broker),
            )
        return actors
