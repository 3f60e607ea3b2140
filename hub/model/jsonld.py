"""JSON and JSON-LD read as hostile input: bounded, and nothing they name is ever fetched.

A JSON body is refused before anything recursive reads it when it nests deeper than
`MAX_DEPTH`. A JSON-LD body may name the hub's published context by its URL (it is read from
the hub itself) and add inline contexts of its own, but nothing else: no other URL in any
position (`@context`, `@import`, scoped), no scoped contexts or imports of its own (processing
them costs the number of nodes times the number of terms: a few kilobytes kept a worker busy
for half a minute), at most `MAX_CONTEXTS` contexts and `MAX_TERMS` term definitions. rdflib's
context loader is replaced by one that refuses every URL, so a position these checks missed
still fetches nothing. Relative IRIs are refused, not resolved against the hub's working
directory.
"""

import json
from typing import Any

import rdflib.plugins.shared.jsonld.context as rdflib_context
from rdflib import ConjunctiveGraph
from rdflib.plugins.parsers.jsonld import to_rdf

from hub.model.context import CONTEXT_URL, context
from hub.model.errors import ParseError
from hub.model.terms import Triple, from_rdflib

MAX_DEPTH = 32
"""Arrays and objects in one another; a message of the hub nests five or six deep."""
MAX_CONTEXTS = 8
MAX_TERMS = 256
"""Term definitions of a body's own inline contexts, all counted together."""

_RELATIVE = "https://w3id.org/heila/hub/relative-iri/"
"""The base of a JSON-LD body: an IRI made from it was relative in the body, and is refused."""


class _NothingFetched(Exception):
    """rdflib was about to load a context from a URL."""


def _refuse_to_fetch(source: Any, *_args: Any, **_kwargs: Any) -> Any:
    raise _NothingFetched(f"remote JSON-LD context {source!r} is not fetched")


# rdflib's contexts load a URL through this one function, and through nothing else
rdflib_context.source_to_json = _refuse_to_fetch  # type: ignore[attr-defined]


def load_json(data: bytes) -> Any:
    """The JSON document in `data`: ParseError when it is not UTF-8 JSON or nests too deep."""
    try:
        document = json.loads(data)
    except UnicodeDecodeError as error:
        raise ParseError(f"not UTF-8: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise ParseError(error.msg, error.lineno, error.colno) from None
    except RecursionError:
        raise _too_deep() from None
    _check_depth(document)
    return document


def _too_deep() -> ParseError:
    return ParseError(f"the JSON nests deeper than {MAX_DEPTH} arrays and objects")


def _check_depth(document: Any) -> None:
    """Walk the document a level at a time, without recursion; refuse it past MAX_DEPTH. Only
    arrays and objects go on to the next level, so a long list of readings costs little."""
    level = [document] if isinstance(document, dict | list) else []
    depth = 1
    while level:
        children = [
            child for node in level for child in (node.values() if isinstance(node, dict) else node)
        ]
        if children and depth + 1 > MAX_DEPTH:
            raise _too_deep()
        level = [child for child in children if isinstance(child, dict | list)]
        depth += 1


def triples(data: bytes) -> list[Triple]:
    """The triples of a JSON-LD body, read with the hub's context and nothing fetched."""
    document = _with_local_contexts(load_json(data))
    graph = ConjunctiveGraph()
    try:
        to_rdf(document, graph, base=_RELATIVE)
    except _NothingFetched as error:
        raise ParseError(str(error)) from None
    except Exception as error:  # the JSON-LD processor raises many kinds
        raise ParseError(f"not valid JSON-LD: {error}") from None
    try:
        found = from_rdflib(graph)
    except ValueError as error:  # a term rdflib made but that is no RDF term, e.g. a bad IRI
        raise ParseError(f"not valid JSON-LD: {error}") from None
    for term in (term for triple in found for term in triple):
        if getattr(term, "value", "").startswith(_RELATIVE):
            relative = term.value.removeprefix(_RELATIVE)
            raise ParseError(f"{relative!r} is a relative IRI; write it absolute (with its scheme)")
    return found


def _with_local_contexts(document: Any) -> Any:
    """The document with the hub's context in place of its URL, after the context rules."""
    contexts: list[Any] = []
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            if "@context" in node:
                contexts.append(node)
            pending.extend(value for key, value in node.items() if key != "@context")
    if len(contexts) > MAX_CONTEXTS:
        raise ParseError(f"a body may hold at most {MAX_CONTEXTS} contexts")
    terms = 0
    for node in contexts:
        node["@context"], count = _local_context(node["@context"])
        terms += count
    if terms > MAX_TERMS:
        raise ParseError(f"a body's own contexts may define at most {MAX_TERMS} terms")
    return document


def _local_context(value: Any) -> tuple[Any, int]:
    """The context with the hub's own in place of its URL, and its own term definitions."""
    if isinstance(value, list):
        read = [_local_context(item) for item in value]
        return [item for item, _ in read], sum(count for _, count in read)
    if value == CONTEXT_URL:
        return context(), 0
    if isinstance(value, str):
        raise ParseError(f"remote JSON-LD context {value!r} is not fetched; use {CONTEXT_URL}")
    if value is None:
        return None, 0
    if not isinstance(value, dict):
        raise ParseError("a JSON-LD context is the hub's context URL, an object, or a list")
    if "@import" in value:
        raise ParseError("@import is not taken: contexts are inline or the hub's own")
    for term, definition in value.items():
        if isinstance(definition, dict) and "@context" in definition:
            raise ParseError(f"the term {term!r} has a scoped context: only the hub's own have")
    return value, len(value)
