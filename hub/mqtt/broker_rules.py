"""A Mosquitto of one's own with the embedded broker's rules: its password file and ACL, made
from the actor registry by `heila actor broker-config`.

Each registered actor with a token logs in with its id and that token (the registry keeps the
token's hash in Mosquitto's own form too, made when the token was), may publish only to its
own inbox (a researcher nowhere) and read only its own topics and the observers'
`heila/v1/all/...`, as on the embedded broker (hub.mqtt.broker_access). The hub reads every inbox
and writes under `heila/v1/`; its own login is the broker's to give (`mosquitto_passwd FILE
heila-hub`, and [mqtt] username and password in hub.toml). Make the files again after each
change to the registry, and have Mosquitto read them again (SIGHUP).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from hub.config import Credential
from hub.mqtt.broker_access import HUB, INBOX, is_topic_level
from hub.mqtt.notify import OBSERVERS, PREFIX
from hub.trust.roles import RESEARCHER, role_of

_HEADER = "# made by `heila actor broker-config` from the hub's actor registry: do not edit\n"


@dataclass(frozen=True)
class BrokerRules:
    passwords: str
    """the password file: `id:$7$...` for each actor that can log in"""
    acl: str
    """the access control list"""
    left_out: tuple[str, ...]
    """actors with no token hash in Mosquitto's form (configured in hub.toml, not registered)"""


def broker_rules(actors: Mapping[str, Credential]) -> BrokerRules:
    """The password file and ACL of the registry's `actors`."""
    logins = {a: c for a, c in sorted(actors.items()) if is_topic_level(a) and c.token_hash}
    passwords = [f"{a}:{c.broker_hash}\n" for a, c in logins.items() if c.broker_hash]
    acl = [_HEADER, f"user {HUB}\ntopic read {PREFIX}/{INBOX}/+\ntopic write {PREFIX}/#\n"]
    for actor, credential in logins.items():
        writes = (
            "" if role_of(actor, credential) == RESEARCHER else f"topic write {_inbox(actor)}\n"
        )
        acl.append(
            f"\nuser {actor}\n{writes}topic read {PREFIX}/{actor}/#\n"
            f"topic read {PREFIX}/{OBSERVERS}/#\n"
        )
    left_out = tuple(a for a, c in logins.items() if not c.broker_hash)
    return BrokerRules("".join(passwords), "".join(acl), left_out)


def _inbox(actor: str) -> str:
    return f"{PREFIX}/{INBOX}/{actor}"
