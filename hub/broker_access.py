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

from amqtt.contexts import Action, BaseContext
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

    Two more refusals keep the topic rule whole. A last will counts as a publish, for the
    broker sends it without asking the rule. A client id once used by one login stays that
    login's, for a client taking over a session would be handed the messages queued for it."""

    @dataclass
    class Config:
        logins: dict[str, str] = field(default_factory=dict)
        """login name -> salted hash of its password (hub.auth.hash_token)"""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._hashes = cast(PasswordLogin.Config, context.config).logins
        self._owners: dict[str, str] = {}
        """client id -> the login that first used it"""

    async def authenticate(self, *, session: Session) -> bool:
        refusal = self._refusal(session)
        if refusal is not None:
            log.warning("MQTT login of client %s refused: %s", session.client_id, refusal)
            return False
        self._owners.setdefault(session.client_id, session.username)
        return True

    def _refusal(self, session: Session) -> str | None:
        login, password = session.username, session.password
        if login is None:
            return "anonymous"
        if login not in self._hashes:
            return f"no such login: {login!r}"
        if not isinstance(password, str) or not token_matches(password, self._hashes[login]):
            return f"wrong password for {login}"
        if session.will_flag and not may_publish(login, session.will_topic or ""):
            return f"{login} may not leave a will on {session.will_topic}"
        owner = self._owners.get(session.client_id, login)
        if owner != login:
            return f"{login} may not take over the session of {owner}"
        return None


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
