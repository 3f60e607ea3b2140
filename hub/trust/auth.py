"""Who is writing: a client certificate (hub.trust.tls) or a bearer token, per actor.

Bearer tokens are kept in the configuration only as salted hashes. Tokens are 256 random bits,
so one salted SHA-256 makes them unguessable from the file while keeping a check to
microseconds (a slow password hash would cost every message milliseconds).
Run `heila token ACTOR` to make a token and the configuration lines that accept it. The HTTP
routes ask who is writing through hub.web.authentication.
"""

import argparse
import base64
import hashlib
import hmac
import secrets
import sys
from collections.abc import Mapping

from hub.config import ConfigError, Credential
from hub.trust.roles import ADMINISTRATOR, role_of

_SCHEME = "sha256"
_MOSQUITTO_ROUNDS = 101


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str, salt: str | None = None) -> str:
    """The form a token takes in the configuration file: `sha256$salt$digest`."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}${token}".encode()).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def mosquitto_hash(token: str) -> str:
    """The token in the form of a Mosquitto password file (`$7$`: PBKDF2-SHA512, 101 rounds,
    a 12-byte salt, as `mosquitto_passwd` writes it), for the file that `heila actor
    broker-config` makes: a broker of one's own then takes the same token as the hub."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", token.encode(), salt, _MOSQUITTO_ROUNDS)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return "$".join(("", "7", str(_MOSQUITTO_ROUNDS), *encoded))


def check_token_hash(actor: str, token_hash: str) -> None:
    """Raise ConfigError unless `token_hash` has the form `hash_token` makes."""
    parts = token_hash.split("$")
    if len(parts) != 3 or parts[0] != _SCHEME or not all(parts):
        raise ConfigError(
            f"[actors.{actor}] token_hash must be {_SCHEME}$salt$digest (made by heila token)"
        )


def token_matches(token: str, token_hash: str) -> bool:
    _, salt, _ = token_hash.split("$")
    return hmac.compare_digest(hash_token(token, salt), token_hash)


class Credentials:
    """The actors that may write, and the check of a presented token against them."""

    def __init__(self, actors: Mapping[str, Credential]) -> None:
        """`actors` may change while the hub runs (hub.trust.registry): it is read at each check."""
        for actor, credential in actors.items():
            if credential.token_hash is not None:
                check_token_hash(actor, credential.token_hash)
        self._actors = actors

    def __bool__(self) -> bool:
        return bool(self._actors)

    def actor_for(self, token: str) -> str | None:
        for actor, credential in self._actors.items():
            if credential.token_hash is not None and token_matches(token, credential.token_hash):
                return actor
        return None

    def is_admin(self, actor: str) -> bool:
        return actor in self._actors and role_of(actor, self._actors[actor]) == ADMINISTRATOR

    def actor_for_certificate(self, common_name: str) -> str | None:
        """The actor a verified client certificate names, if it may log in that way."""
        credential = self._actors.get(common_name)
        return common_name if credential is not None and credential.certificate else None


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("actors", nargs="+", metavar="ACTOR", help="actor ids, e.g. mgms-1")


def issue_tokens(args: argparse.Namespace) -> int:
    """`heila token ACTOR...`: a fresh token per actor and the configuration lines that accept
    it. The token is printed once, for the actor, on standard error; standard output carries
    only the configuration lines, so `heila token mgms-1 >> hub.toml` writes no secret."""
    for actor in args.actors:
        token = new_token()
        print(
            f"token for {actor} (give it to the actor, keep it nowhere else): {token}",
            file=sys.stderr,
        )
        print(f'[actors.{actor}]\ntoken_hash = "{hash_token(token)}"\n')
    return 0
