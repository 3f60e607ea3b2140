"""Who may send what to whom: the ontology's information flows, read once at start-up.

Each flow of ontology/actors.ttl names an information object, the logical actor that sends it
and the one that receives it; a role is such a logical actor (SPP, MGMS, CEMS, AMS, FMP, DMS,
IED for the field). The hub lets an actor send a type only if a flow from its role carries it,
and only to recipients whose role a flow of that type reaches. There is no second table: a flow
added to the ontology is allowed at the next start. Two roles stand outside the flows: a
researcher reads and never writes, an administrator writes only by SPARQL Update.

An actor without a configured role is given the one its id begins with (`mgms-1` acts as MGMS,
`admin = true` makes an administrator); an id that names no role leaves the actor held only to
being the sender of what it writes, as before roles existed, and the hub warns at start-up.
"""

import logging
from collections.abc import Mapping
from functools import cache

from rdflib import URIRef
from rdflib.query import ResultRow

from hub.config import ConfigError, Credential
from hub.model.errors import RoleRefused
from hub.model.message import Message
from hub.model.ontology import load_ontology
from hub.model.vocabulary import HEILA

RESEARCHER = "researcher"
ADMINISTRATOR = "administrator"

log = logging.getLogger(__name__)

_FLOWS = """
PREFIX heila: <https://w3id.org/heila/ontology#>
SELECT ?object ?from ?to WHERE {
  ?flow a heila:InformationFlow ; heila:carriesObject ?object ;
        heila:fromActor ?from ; heila:toActor ?to }
"""


def _name(term: object) -> str:
    return str(term).removeprefix(HEILA) if isinstance(term, URIRef) else str(term)


@cache
def flows() -> frozenset[tuple[str, str, str]]:
    """(information object, sender role, recipient role) of every flow in the ontology."""
    rows = load_ontology().query(_FLOWS)
    return frozenset(
        (_name(row[0]), _name(row[1]), _name(row[2])) for row in rows if isinstance(row, ResultRow)
    )


@cache
def actor_roles() -> frozenset[str]:
    """The logical actors the flows speak of: the roles that send and receive messages."""
    return frozenset(role for _, sender, recipient in flows() for role in (sender, recipient))


def roles() -> frozenset[str]:
    return actor_roles() | {RESEARCHER, ADMINISTRATOR}


def _role_by_prefix(actor: str) -> str | None:
    prefix = actor.split("-", 1)[0].upper()
    return prefix if prefix in actor_roles() else None


def role_of(actor: str, credential: Credential | None) -> str | None:
    """The configured role; else administrator for `admin = true`; else the id's prefix."""
    if credential is not None and credential.role is not None:
        return credential.role
    if credential is not None and credential.admin:
        return ADMINISTRATOR
    return _role_by_prefix(actor)


class Roles:
    """The role of each actor, and the check of a message against the ontology's flows."""

    def __init__(self, actors: Mapping[str, Credential]) -> None:
        for actor, credential in actors.items():
            if credential.role is not None and credential.role not in roles():
                raise ConfigError(
                    f"[actors.{actor}] role {credential.role!r} is none of "
                    f"{', '.join(sorted(roles()))}"
                )
            if role_of(actor, credential) is None:
                log.warning(
                    "actor %s has no role and its id names none: it is held only to being the "
                    "sender; set role in [actors.%s]",
                    actor,
                    actor,
                )
        self._actors = actors  # may change while the hub runs (hub.trust.registry)

    def role(self, actor: str) -> str | None:
        return role_of(actor, self._actors.get(actor))

    def is_administrator(self, actor: str) -> bool:
        return self.role(actor) == ADMINISTRATOR

    def check(self, message: Message) -> None:
        """Raise RoleRefused unless the sender's role sends this type to each recipient's role."""
        role = self.role(message.sender)
        if role is None:
            return
        sent = {(obj, to) for obj, sender, to in flows() if sender == role}
        if message.type not in {obj for obj, _ in sent}:
            types = sorted({obj for obj, _ in sent})
            sends = f"sends {', '.join(types)}" if types else "sends no information object"
            raise RoleRefused(
                message.iri,
                "type",
                f"{message.sender} acts as {role}, which {sends}; not {message.type}",
            )
        receivers = sorted(to for obj, to in sent if obj == message.type)
        for recipient in message.recipients:
            recipient_role = self.role(recipient)
            if recipient_role is not None and recipient_role not in receivers:
                raise RoleRefused(
                    message.iri,
                    "recipients",
                    f"a {message.type} from {role} goes to {', '.join(receivers)}; "
                    f"not to {recipient}, which acts as {recipient_role}",
                )
