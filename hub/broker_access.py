"""Who may log in to the embedded broker, and what each login may publish and read.

The topic names the writer of an inbox message (docs/mqtt.md), so the broker must make sure
that only `{actor}` publishes to `heila/v1/inbox/{actor}`. An actor logs in with its id and
the bearer token it uses over HTTP; the hub logs in as `heila-hub` with a secret made at its
start. Nobody logs in anonymously.

An actor may publish only to its own inbox, and read `heila/v1/{its id}/...` and the
observers' `heila/v1/all/...`: the same facts every client may read over HTTP. The hub may
publish and read anything under `heila/v1/`.

Both rules are amqtt plugins, named in the broker's configuration by their dotted paths
(hub.broker.EmbeddedBroker); they hold only salted hashes of the tokens and the secret.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hub.auth import hash_token, token_matches
from hub.config import Credential
from hub.notify import OBSERVERS, PREFIX

log = logging.getLogger(__name__)

HUB = "heila-hub"
"""the hub's own login name"""
INBOX = "inbox"
_NOT_ACTOR_IDS = {OBSERVERS, INBOX, HUB}
"""ids that name a topic of their own or the hub, so no actor may log in by them"""


def is_topic_level(actor: str) -> bool:
    """True when `actor` fits in one topic level without widening anybody's rights."""
    return bool(actor) and not any(sign in actor for sign in "/+#") and actor not in _NOT_ACTOR_IDS


def logins(actors: Mapping[str, Credential], hub_secret: str) -> dict[str, str]:
    """Login name -> salted hash of its password: each actor with a token, and the hub."""
    usable = {}
    for actor, credential in actors.items():
        if credential.token_hash is None:
            continue
        if not is_topic_level(actor):
            log.warning("actor id %r cannot be a topic level: it cannot log in over MQTT", actor)
            continue
        usable[actor] = credential.token_hash
    return {**usable, HUB: hash_token(hub_secret)}


def may_publish(login: str, topic: str) -> bool:
    if login == HUB:
        return topic.startswith(f"{PREFIX}/")
    return topic == f"{PREFIX}/{INBOX}/{login}"


def may_read(login: str, topic: str) -> bool:
    """Whether `login` may subscribe to the filter, or receive a message on the topic, `topic`.

    A filter is allowed only when its first three levels are written out, so `heila/v1/+/Offer`
    does not reach another actor's notifications."""
    if login == HUB:
        return topic.startswith(f"{PREFIX}/")
    return any(
        topic == own or topic.startswith(f"{own}/")
        for own in (f"{PREFIX}/{login}", f"{PREFIX}/{OBSERVERS}")
    )


class PasswordLogin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Admits a client whose username is a known login and whose password matches its hash.

    A last will counts as a publish: a client whose will it may not publish is refused, for the
    broker sends a will without asking the topic rule."""

    @dataclass
    class Config:
        logins: dict[str, str] = field(default_factory=dict)
        """login name -> salted hash of its password (hub.auth.hash_token)"""

    async def authenticate(self, *, session: Session) -> bool:
        hashes = cast(PasswordLogin.Config, self.context.config).logins
        login, password = session.username, session.password
        if login is None or login not in hashes or not isinstance(password, str):
            log.warning("MQTT login refused: unknown or anonymous client %s", session.client_id)
            return False
        if not token_matches(password, hashes[login]):
            log.warning("MQTT login refused: wrong password for %s", login)
            return False
        if session.will_flag and not may_publish(login, session.will_topic or ""):
            log.warning(
                "MQTT login refused: %s may not leave a will on %s", login, session.will_topic
            )
            return False
        return True


class TopicRights(BaseTopicPlugin):  # type: ignore[misc]
    """Lets a logged-in client publish and read only where `may_publish` and `may_read` say."""

    @dataclass
    class Config:
        pass

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        login = session.username if session is not None else None
        if login is None or topic is None:
            return False
        allowed = may_publish(login, topic) if action == Action.PUBLISH else may_read(login, topic)
        if not allowed:
            log.warning("MQTT %s by %s on %s refused", action, login, topic)
        return allowed
