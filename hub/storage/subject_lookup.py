"""Lookups of one subject's triples, answered in the hub's own process.

Every other query runs in a worker process the hub can kill (hub.storage.query_pool); for a
lookup, the round trip to that process and the third process it wakes cost more than the
lookup itself. A lookup here is a SELECT of a single triple pattern whose subject is a constant
IRI, and nothing else: no second pattern, property path, FILTER, OPTIONAL, subquery, SERVICE,
DISTINCT, ORDER BY or BASE. The text must match that form whole (`is_lookup`) before any
parser sees it, and pyoxigraph then reads it as written.

Such a query reads one range of an index, the subject's quads, one quad per row (the union of
the graphs is not made distinct), each row the same few steps. It is answered up to `ROWS`
rows; one with more goes to a worker like any other query. So a lookup holds the event loop
for about as long as any other short request, and neither hangs the hub nor fills its memory.
"""

import re

import pyoxigraph as ox

from hub.storage.query_worker import Query, Refusal, evaluate
from hub.storage.results import Answer

ROWS = 1_000
"""The most rows answered here: a message's triples and far more, a few milliseconds."""
_LONGEST = 4_096
"""Longer texts are not read for the form at all."""

_IRI = r"<[^<>\"{}|^`\\\s]*>"
_PREFIXED = r"(?:[A-Za-z][\w.-]*)?:[\w.:%-]*"
_VARIABLE = r"[?$]\w+"
_CONSTANT = rf"(?:{_IRI}|{_PREFIXED})"
_LOOKUP = re.compile(
    rf"""\s*
    (?:PREFIX\s+(?:[A-Za-z][\w.-]*)?:\s*{_IRI}\s*)*
    SELECT\s*(?:\*\s*|(?:{_VARIABLE}\s*)+)
    (?:WHERE\s*)?\{{\s*
    {_CONSTANT}\s+
    (?:{_VARIABLE}|{_CONSTANT}|(?-i:a))\s+
    (?:{_VARIABLE}|{_CONSTANT})\s*
    (?:\.\s*)?\}}\s*
    (?:LIMIT\s+\d+\s*)?""",
    re.VERBOSE | re.IGNORECASE,
)
"""The whole form of a lookup; a blank node (`_:b`) is neither an IRI nor a prefixed name."""


def is_lookup(sparql: str) -> bool:
    """Whether the text is a lookup of one subject, in the form above and nothing more."""
    return len(sparql) <= _LONGEST and _LOOKUP.fullmatch(sparql) is not None


def look_up(store: ox.Store, query: Query) -> Answer | Refusal | None:
    """The lookup's answer from `store`; None when the query is no lookup or has more than
    `ROWS` rows, for a worker to answer."""
    if not is_lookup(query.sparql):
        return None
    outcome = evaluate(store, query, min(ROWS, query.result_limit))
    if isinstance(outcome, Answer) and outcome.truncated:
        return None
    return outcome
