"""What can go wrong with a message, said so that a person can act on it."""

from dataclasses import asdict, dataclass
from typing import Any

from hub.model.vocabulary import MESSAGE


@dataclass(frozen=True)
class Violation:
    """One broken rule: which message, which field, which rule, which value."""

    message: str
    focus: str
    field: str
    label: str
    rule: str
    value: str | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{self.message}: {self.field}: {self.rule}: {self.text}{shown}"


class HubError(Exception):
    """Base of every error the hub reports to its users."""


class ParseError(HubError):
    """The body is not well-formed in the format it claims."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        where = f" at line {line}" if line is not None else ""
        where += f", column {column}" if column is not None else ""
        super().__init__(f"{reason}{where}")


class QueryRefused(HubError):
    """The query or update is well-formed but asks for something the hub does not allow."""


class UsageError(HubError):
    """A mistake on the command line the user can fix; printed as one line, exit status 2."""


class NotSender(HubError):
    """An actor writes or changes a message whose sender is another actor."""

    def __init__(self, actor: str, iri: str, sender: str) -> None:
        self.actor = actor
        self.iri = iri
        self.sender = sender
        super().__init__(f"actor {actor!r} cannot write <{iri}>, whose sender is {sender!r}")

    def violation(self) -> Violation:
        text = str(self)
        name = self.iri.removeprefix(MESSAGE)
        return Violation(name, self.iri, "sender", "sender", "sender", self.sender, text)


class RoleRefused(HubError):
    """An actor sends what its role never sends, or to an actor whose role never receives it."""

    def __init__(self, iri: str, field: str, text: str) -> None:
        self.iri = iri
        self.field = field
        super().__init__(text)

    def violation(self) -> Violation:
        name = self.iri.removeprefix(MESSAGE)
        return Violation(name, self.iri, self.field, self.field, "role", None, str(self))


class Conflict(HubError):
    """A message with this id is stored already, with other content: the new one is not taken."""

    def __init__(self, iri: str) -> None:
        self.iri = iri
        self.id = iri.removeprefix(MESSAGE)
        super().__init__(
            f"a message with the id {self.id!r} is stored already with other content; "
            "a message is never changed by sending it again: send a new id"
        )

    def violation(self) -> Violation:
        return Violation(self.id, self.iri, "id", "id", "unique", self.id, str(self))


class Invalid(HubError):
    """The body parses but breaks at least one rule of the shapes."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(v.line() for v in violations))


class Unavailable(Exception):
    """The hub cannot serve a request now, though it may soon: no refusal of what was sent (not
    a HubError, so neither logged nor counted as one), answered with a 503."""


class LogUnavailable(Unavailable):
    """A cluster node cannot reach its commit log, or the log has no quorum: nothing was
    committed."""


class NotApplied(Unavailable):
    """A cluster node has not applied its commit log up to `sequence` within `waited` seconds;
    `field` names what asked for that sequence, when a request did."""

    def __init__(self, sequence: int, waited: float, field: str | None = None) -> None:
        self.sequence = sequence
        self.field = field
        super().__init__(
            f"this node has not applied the log up to {sequence} within {waited:g} s; ask again"
        )
