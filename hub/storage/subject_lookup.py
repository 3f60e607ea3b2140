"""Lookups of one subject's triples, answered in the hub's own process.

Every other query runs in a worker process the hub can kill (hub.storage.query_pool); for a
lookup, the round trip to that process and the third process it wakes cost more than the
lookup itself. A lookup here is a SELECT of a single triple pattern whose subject is a constant
IRI, and nothing else: no second pattern, property path, FILTER, OPTIONAL, subquery, SERVICE,
DISTINCT, ORDER BY or BASE. The text must match that form whole (`_LOOKUP`) before any
parser sees it, and pyoxigraph then reads it as written, a LIMIT added at its end.

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
    (?P<limit>LIMIT\s+(?P<rows>\d+)\s*)?""",
    re.VERBOSE | re.IGNORECASE,
)
"""The whole form of a lookup; a blank node (`_:b`) is neither an IRI nor a prefixed name."""


def _form(sparql: str) -> re.Match[str] | None:
    """The text read as a lookup of one subject, in the form above and nothing more."""
    return _LOOKUP.fullmatch(sparql) if len(sparql) <= _LONGEST else None


def look_up(store: ox.Store, query: Query) -> Answer | Refusal | None:
    """The lookup's answer from `store`; None when the query is no lookup or has more than
    `ROWS` rows, for a worker to answer.

    The text is asked with a LIMIT of one row past that bound (or its own, when lower), so the
    rows are few by construction and written whole, with no count kept as they are written."""
    found = _form(query.sparql)
    if found is None:
        return None
    rows = min(ROWS, query.result_limit)
    text = query.sparql
    if found["rows"] is None or int(found["rows"]) > rows:
        text = text[: found.start("limit")] if found["rows"] else text
        text += f" LIMIT {rows + 1}"
    bounded = Query(
        text, query.default_graphs, query.named_graphs, query.accept, rows, query.timeout
    )
    outcome = evaluate(store, bounded, bounded=True)
    if isinstance(outcome, Answer) and outcome.truncated:
        return None
    return outcome
