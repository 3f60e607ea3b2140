"""What a SPARQL request names, read before the store runs it: the graphs an update touches
(so it can be validated on a copy of just those), the endpoints its SERVICE calls reach, and
how deep it nests.
"""

import re
from collections.abc import Iterator
from itertools import accumulate

import rdflib
from rdflib.plugins.sparql import algebra as sparql_algebra
from rdflib.plugins.sparql import parser as sparql_parser
from rdflib.plugins.sparql.parserutils import CompValue

from hub.model.errors import ParseError, QueryRefused

_TOKEN = re.compile(
    r"""(?P<skip>\s+|\#[^\n]*)
    | (?P<iri><[^<>"{}|^`\\\s]*>)
    | (?P<string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'\'\'(?:[^'\\]|\\.|'(?!''))*'\'\'
        |"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<word>[A-Za-z_][\w.-]*(?::[\w.:%-]*)?|:[\w.:%-]*)
    | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


def _words(sparql: str) -> Iterator[tuple[str, str]]:
    """The SPARQL text's tokens that matter here, (kind, text), comments and strings left out."""
    for token in _TOKEN.finditer(sparql):
        kind = token.lastgroup or "other"
        if kind not in {"skip", "string"}:
            yield kind, token.group().rstrip(".") if kind == "word" else token.group()


def refuse_unlisted_services(sparql: str, allowed: frozenset[str]) -> None:
    """Refuse SERVICE calls to endpoints not configured.

    The text is read token by token (IRIs, strings and comments are tokens of their own), so a
    SERVICE keyword is found wherever it is one and nowhere else; its endpoint is the IRI or
    prefixed name after it, and a variable endpoint is refused.
    """
    if "SERVICE" not in sparql.upper():  # no word can be the keyword: nothing to read
        return
    prefixes: dict[str, str] = {}
    tokens = _words(sparql)
    for kind, text in tokens:
        keyword = text.upper() if kind == "word" else ""
        if keyword == "PREFIX":
            name, iri = next(tokens, ("", "")), next(tokens, ("", ""))
            prefixes[name[1].removesuffix(":")] = iri[1].strip("<>")
        elif keyword == "SERVICE":
            kind, text = next(tokens, ("", ""))
            if text.upper() == "SILENT":
                kind, text = next(tokens, ("", ""))
            prefix, _, local = text.partition(":")
            endpoint = text.strip("<>") if kind == "iri" else prefixes.get(prefix, "?") + local
            if kind not in {"iri", "word"} or endpoint not in allowed:
                raise QueryRefused(f"SERVICE calls to {text} are not allowed on this hub")


_OPAQUE = re.compile(
    r"""\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"|'\'\'(?:[^'\\]|\\.|'(?!''))*'\'\'
    |"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'
    |<[^<>"{}|^`\\\s]*>|\#[^\n]*""",
    re.VERBOSE | re.DOTALL,
)
_NOT_A_BRACKET = re.compile(r"[^(){}\[\]]+")
_DEPTH_STEP = {"(": 1, "{": 1, "[": 1, ")": -1, "}": -1, "]": -1}


def nesting_depth(sparql: str) -> int:
    """How deep parentheses, group patterns and brackets nest, strings, IRIs and comments aside.

    Every step runs in C (regular expressions, `accumulate`), so a body at the size limit is
    measured in milliseconds, before any recursive parser has seen it.
    """
    brackets = _NOT_A_BRACKET.sub("", _OPAQUE.sub(" ", sparql))
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def refuse_deep_nesting(sparql: str, limit: int) -> None:
    """Refuse a request nested deeper than `limit`: parsers recurse, and a few thousand levels
    overflow the stack of the process that parses it. A text with no more opening brackets
    than that cannot nest deeper, whatever its strings and IRIs hold: counting them takes a
    quarter of the time measuring the depth does, and most queries stop there."""
    if sum(map(sparql.count, "({[")) <= limit:
        return
    depth = nesting_depth(sparql)
    if depth > limit:
        raise QueryRefused(
            f"the request nests {depth} levels deep (parentheses, braces, brackets); "
            f"at most {limit} are allowed"
        )


def _walk(tree: object) -> Iterator[object]:
    yield tree
    if isinstance(tree, dict):
        for value in tree.values():
            yield from _walk(value)
    elif isinstance(tree, list | tuple):
        for value in tree:
            yield from _walk(value)


def graphs_named_by(sparql: str) -> set[str]:
    """Every graph an update reads or writes, refusing updates whose graphs cannot be known."""
    try:
        tree = sparql_algebra.translateUpdate(sparql_parser.parseUpdate(_unsigned(sparql)))
    except Exception as error:  # pyparsing's ParseException and rdflib's own errors
        raise ParseError(
            str(getattr(error, "msg", error)),
            getattr(error, "lineno", None),
            getattr(error, "col", None),
        ) from None
    graphs: set[str] = set()
    for operation in getattr(tree, "algebra", ()):  # an empty update is one, with no operation
        graphs |= _operation_graphs(operation)
    return graphs


_SIGNED_NUMBER = re.compile(r"(?<=[\s(,;{\[])[-+](?=[0-9.])")


def _unsigned(sparql: str) -> str:
    """The update without signs on numbers, for rdflib's parser only: rdflib 7 fails on a negative
    decimal, and the graph names it is asked for do not depend on any number's sign."""
    return _SIGNED_NUMBER.sub("", sparql)


def _operation_graphs(operation: CompValue) -> set[str]:
    """Graph IRIs one update operation names; a graph variable or a whole-store target is refused.

    rdflib's CompValue.get answers the key itself for a missing key, hence dict.get below.
    """
    if operation.name == "Load":
        raise QueryRefused("LOAD is not allowed: post messages instead")
    named: list[object] = [dict.get(operation, "withClause")]
    if operation.name in {"Clear", "Drop"}:
        target = dict.get(operation, "graphiri")
        if target in {"ALL", "NAMED"}:
            raise QueryRefused(f"{operation.name.upper()} {target} is not allowed")
        named.append(target)
    if operation.name in {"Add", "Move", "Copy"}:
        named += dict.get(operation, "graph") or []
    for using in dict.get(operation, "using") or []:
        named += [dict.get(using, "default"), dict.get(using, "named")]
    for clause in (operation, dict.get(operation, "delete"), dict.get(operation, "insert")):
        if isinstance(clause, dict):
            named += list(dict.get(clause, "quads") or {})
    named += [
        dict.get(node, "term")
        for node in _walk(dict.get(operation, "where"))
        if isinstance(node, CompValue) and node.name == "Graph"
    ]
    if any(isinstance(name, rdflib.Variable) for name in named):
        raise QueryRefused("an update must name its graphs: GRAPH ?variable is not supported")
    return {str(name) for name in named if isinstance(name, rdflib.URIRef)}
