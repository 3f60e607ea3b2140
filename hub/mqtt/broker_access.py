"""Who may log in to the embedded broker, and what each login may publish and read.

The topic names the writer of an inbox message (docs/mqtt.md), so the broker must make sure
that only `{actor}` publishes to `heila/v1/inbox/{actor}`. An actor logs in with its id and
the bearer token it uses over HTTP; the hub logs in as `heila-hub` with a secret made at its
start. Nobody logs in anonymously.

An actor may publish only to its own inbox (a researcher, who reads only, to none), and read
`heila/v1/{its id}/...` and the observers' `heila/v1/all/...`: the same facts every client may
read over HTTP. The hub may publish and read anything under `heila/v1/`.

Both rules are amqtt plugins, named in the broker's configuration by their dotted paths
(hub.mqtt.broker.EmbeddedBroker); they hold only salted hashes of the tokens and the secret. The
broker checks the same login, and that the client id is the login's own (`ClientIds`), before
amqtt looks for the id's session: amqtt takes over or deletes that session first and asks
the plugins after.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hub.config import Credential
from hub.mqtt.notify import OBSERVERS, PREFIX
from hub.trust.auth import hash_token, token_matches
from hub.trust.roles import RESEARCHER, role_of

log = logging.getLogger(__name__)

HUB = "heila-hub"
"""the hub's own login name"""
INBOX = "inbox"
_NOT_ACTOR_IDS = {OBSERVERS, INBOX, HUB}
"""ids that name a topic of their own or the hub, so no actor may log in by them"""
_OWN_PREFIX = "heila-"
"""client ids `heila-{role}-{actor}` name the actor they belong to"""


def is_topic_level(actor: str) -> bool:
    """True when `actor` fits in one topic level without widening anybody's rights."""
    return bool(actor) and not any(sign in actor for sign in "/+#") and actor not in _NOT_ACTOR_IDS


def logins(actors: Mapping[str, Credential], hub_secret: str) -> dict[str, str]:
    """Login name -> salted hash of its password: each actor with a token, and the hub."""
    return {**_actor_logins(actors), HUB: hash_token(hub_secret)}


def _actor_logins(actors: Mapping[str, Credential]) -> dict[str, str]:
    usable = {}
    for actor, credential in actors.items():
        if credential.token_hash is None:
            continue
        if not is_topic_level(actor):
            log.warning("actor id %r cannot be a topic level: it cannot log in over MQTT", actor)
            continue
        usable[actor] = credential.token_hash
    return usable


def readers(actors: Mapping[str, Credential]) -> list[str]:
    """The logins that may read but never publish: the researchers."""
    return sorted(
        actor for actor, credential in actors.items() if role_of(actor, credential) == RESEARCHER
    )


class Access:
    """Who may log in and who only reads, read from `actors` (the registry) at each check, so
    that an actor added, rotated or revoked counts from its next connection on."""

    def __init__(self, actors: Mapping[str, Credential], hub_secret: str) -> None:
        self._actors = actors
        self._hub_hash = hash_token(hub_secret)

    def hashes(self) -> dict[str, str]:
        """Login name -> salted hash of its password, as `logins` says, now."""
        return {**_actor_logins(self._actors), HUB: self._hub_hash}

    def reads_only(self, login: str) -> bool:
        return login != HUB and login in readers(self._actors)


ACCESS: dict[str, Access] = {}
"""The Access of each running embedded broker by a name of its own: amqtt makes its plugins
from configuration values, which cannot be live objects, so a plugin's configuration names
its broker's entry here (hub.mqtt.broker.EmbeddedBroker adds and removes it)."""


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


def login_refusal(
    hashes: Mapping[str, str], login: str | None, password: object, will_topic: str | None
) -> str | None:
    """Why `login` may not log in with `password` (and a last will on `will_topic`, if any);
    None when it may. A last will counts as a publish, for the broker sends it without asking
    the topic rule."""
    if login is None:
        return "anonymous"
    if login not in hashes:
        return f"no such login: {login!r}"
    if not isinstance(password, str) or not token_matches(password, hashes[login]):
        return f"wrong password for {login}"
    if will_topic is not None and not may_publish(login, will_topic):
        return f"{login} may not leave a will on {will_topic}"
    return None


class ClientIds:
    """Which login a client id belongs to, so that no client takes over another's session.

    An id names its owner: `heila-hub...` is the hub's, `heila-{role}-{actor}` (the actors'
    and the bridge's own naming) is `{actor}`'s, and an id that is a login or starts with
    `{login}-` is that login's (the longest such login). Any other id belongs to the login
    that used it first, for the life of the broker."""

    def __init__(self, logins: Iterable[str]) -> None:
        self._logins = frozenset(logins)
        self._first_users: dict[str, str] = {}

    def know(self, logins: Iterable[str]) -> None:
        """The logins there are now (the registry changes while the broker runs)."""
        self._logins = frozenset(logins)

    def owner(self, client_id: str) -> str | None:
        """The login that `client_id` belongs to, or None while it belongs to nobody."""
        if client_id == HUB or client_id.startswith(f"{HUB}-"):
            return HUB
        if client_id.startswith(_OWN_PREFIX):
            named = client_id.split("-", 2)[2:]
            if named and named[0] in self._logins:
                return named[0]
        else:
            prefixed = [
                login
                for login in self._logins
                if client_id == login or client_id.startswith(f"{login}-")
            ]
            if prefixed:
                return max(prefixed, key=len)
        return self._first_users.get(client_id)

    def claim(self, client_id: str, login: str) -> str | None:
        """Why `login` may not use `client_id`; None when it may (it then owns an id that
        belonged to nobody)."""
        owner = self.owner(client_id)
        if owner is not None and owner != login:
            return f"{login} may not use client id {client_id!r}, which is {owner}'s"
        if client_id:  # an empty id gets a fresh one from the broker
            self._first_users.setdefault(client_id, login)
        return None


class PasswordLogin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """Admits a client whose username is a known login, whose password matches its hash and
    whose last will, if any, is on a topic it may publish. (The client id is checked before
    amqtt sees the login at all: hub.mqtt.broker.HubBroker.)"""

    @dataclass
    class Config:
        access: str = ""
        """the broker's name in ACCESS"""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._access = ACCESS[cast(PasswordLogin.Config, context.config).access]

    async def authenticate(self, *, session: Session) -> bool:
        will = (session.will_topic or "") if session.will_flag else None
        hashes = self._access.hashes()
        refusal = login_refusal(hashes, session.username, session.password, will)
        if refusal is not None:
            log.warning("MQTT login of client %s refused: %s", session.client_id, refusal)
        return refusal is None


class TopicRights(BaseTopicPlugin):  # type: ignore[misc]
    """Lets a logged-in client publish and read only where `may_publish` and `may_read` say,
    and a reader (`readers`, as the registry says now) publish nowhere."""

    @dataclass
    class Config:
        access: str = ""
        """the broker's name in ACCESS"""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._access = ACCESS[cast(TopicRights.Config, context.config).access]

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
        if action == Action.PUBLISH:
            allowed = may_publish(login, topic) and not self._access.reads_only(login)
        else:
            allowed = may_read(login, topic)
        if not allowed:
            client = session.client_id if session is not None else None
            log.warning("MQTT %s by %s (client %s) on %s refused", action, login, client, topic)
        return allowed
