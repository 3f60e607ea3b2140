"""Who may do what on the cluster's NATS servers, written from the hub's configuration.

On a cluster, actors reach MQTT through NATS, so NATS must hold them to the topic rules that
the embedded broker and the Mosquitto ACL enforce (docs/mqtt.md): an actor connects over MQTT
only, publishes only to its own inbox and subscribes only to its own notifications and
outcomes; the hub nodes may do everything (the log, their consumers, every inbox and
notification); nobody else connects.

NATS cannot check the hub's salted token hashes, so each login's password is a variable of
the NATS configuration, read from the NATS server's environment (`HEILA_NATS_PASSWORD_...`):
there, a bcrypt hash made by `nats server passwd`. `heila nats-access` prints the block.
"""

import argparse
import re
from pathlib import Path

from hub.config import Settings, load_settings
from hub.mqtt.broker_access import HUB

SUBJECT_PREFIX = "heila.v1"


def password_variable(login: str) -> str:
    """The environment variable that holds `login`'s password (hash) for NATS."""
    return "HEILA_NATS_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", login.upper())


def _user(login: str, rights: str) -> str:
    password = "$" + password_variable(login)
    return f'    {{ user: "{login}", password: {password}, {rights} }}'


def _list(subjects: list[str]) -> str:
    return "[" + ", ".join(f'"{subject}"' for subject in subjects) + "]"


def _actor(actor: str) -> str:
    """An actor's rights: its inbox out; in, its notifications and outcomes (MQTT's `#` also
    matches the level above), and the deliveries NATS makes to MQTT sessions (`$MQTT.sub.>`),
    without which a QoS 1 subscription hears nothing. Only over MQTT: a NATS client could
    subscribe to every session's deliveries there, an MQTT client cannot."""
    own = f"{SUBJECT_PREFIX}.{actor}"
    publish = _list([f"{SUBJECT_PREFIX}.inbox.{actor}"])
    subscribe = _list([own, f"{own}.>", "$MQTT.sub.>"])
    return _user(
        actor,
        f"permissions: {{ publish: {publish}, subscribe: {subscribe} }}, "
        'allowed_connection_types: ["MQTT"]',
    )


def authorization(settings: Settings) -> str:
    """The NATS `authorization` block for the hub nodes and every configured actor."""
    users = [_user(HUB, 'permissions: { publish: [">"], subscribe: [">"] }')]
    users += [_actor(actor) for actor in sorted(settings.actors)]
    return "authorization {\n  users = [\n" + "\n".join(users) + "\n  ]\n}\n"


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="the hub's TOML configuration")


def run(args: argparse.Namespace) -> int:
    """`heila nats-access --config hub.toml`: print the block for every NATS server's file."""
    print(authorization(load_settings(args.config)), end="")
    return 0
