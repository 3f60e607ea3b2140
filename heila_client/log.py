"""The hub's log as a client follows it: one `Commit` per message, from the log's pages
(GET /messages) or from its stream of server-sent events (GET /events)."""

import json
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple


class Commit(NamedTuple):
    """One message as the log lists it: its place in the commit order, id, type and sender.
    `HubClient.get(commit.id)` reads the message itself."""

    sequence: int
    id: str
    type: str
    sender: str

    @classmethod
    def of(cls, entry: dict[str, Any]) -> "Commit":
        """A commit from a log entry or an event, which both carry these four keys."""
        return cls(int(entry["sequence"]), entry["id"], entry["type"], entry["sender"])


def commits(lines: Iterable[str]) -> Iterator[Commit]:
    """The commits of a stream of server-sent events, read line by line (comments, retry hints
    and keep-alive lines skipped)."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield Commit.of(json.loads("\n".join(data)))
            data = []
