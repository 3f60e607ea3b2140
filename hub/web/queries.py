"""Named queries: the SPARQL files in queries/, served at /queries and run by `heila query`.

Each file opens with a comment: its title, a description, then one line per parameter,
`# param NAME: TYPE — description`, TYPE among iri, id, string, dateTime, decimal, integer.
A value is checked against its type, made into an RDF term by Oxigraph (never pasted as text)
and bound by a VALUES block placed first in the query's WHERE group, where every pattern and
filter of that group sees it.
"""

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pyoxigraph as ox
from fastapi import APIRouter, Request, Response

from hub.model import resources
from hub.model.errors import HubError, ParseError, QueryRefused, UsageError
from hub.model.vocabulary import BASE, HEILA, ID_PATTERN, XSD
from hub.storage.backup import add_hub_arguments, bearer, refusal
from hub.storage.query_pool import QueryPool
from hub.storage.results import TRUNCATED_HEADER, QueryResult, plain
from hub.storage.store import QueryTimeout, Store, open_for_command
from hub.web.problem import Problem
from hub.web.sparql import answer_of, response_of

TYPES = ("iri", "id", "string", "dateTime", "decimal", "integer")

RESULTS_JSON = "application/sparql-results+json"
N_TRIPLES = "application/n-triples"
_PARAM = re.compile(r"#\s*param\s+([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\w+)\s*[—-]+\s*(.+)")
_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)
_ID = re.compile(ID_PATTERN)


class UnknownQuery(HubError):
    """No named query has that name."""


class BadParameter(HubError):
    """A parameter is missing, unknown, or not of its type."""

    def __init__(self, name: str, rule: str, text: str) -> None:
        self.name = name
        self.rule = rule
        super().__init__(f"{name}: {text}")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class NamedQuery:
    """One query file: its name (the file's stem), what its header says, and its SPARQL."""

    name: str
    title: str
    description: str
    parameters: tuple[Parameter, ...]
    sparql: str

    def bind(self, values: Mapping[str, str]) -> str:
        """The query with its parameters bound to checked, typed values."""
        declared = {parameter.name: parameter for parameter in self.parameters}
        for name in values:
            if name not in declared:
                raise BadParameter(name, "unknown", f"{self.name} takes no parameter {name!r}")
        terms = []
        for parameter in self.parameters:
            if parameter.name not in values:
                raise BadParameter(parameter.name, "required", "this parameter is required")
            terms.append(str(_term(parameter, values[parameter.name])))
        if not terms:
            return self.sparql
        names = " ".join(f"?{parameter.name}" for parameter in self.parameters)
        block = f"VALUES ({names}) {{ ({' '.join(terms)}) }}"
        return _WHERE.sub(lambda found: f"{found.group(0)} {block}", self.sparql, count=1)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "parameters": [vars(parameter) for parameter in self.parameters],
        }


def read_query(path: Path) -> NamedQuery:
    """A query file, its header checked: a title, known parameter types, parameters used."""
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    if not header:
        raise ValueError(f"{path.name}: the query needs a header comment with its title")
    parameters = tuple(
        Parameter(*found.groups()) for line in header if (found := _PARAM.match(line))
    )
    prose = [line.lstrip("#").strip() for line in header if not _PARAM.match(line)]
    for parameter in parameters:
        if parameter.type not in TYPES:
            raise ValueError(f"{path.name}: {parameter.name} has unknown type {parameter.type}")
        if not re.search(rf"\?{parameter.name}\b", text):
            raise ValueError(f"{path.name}: parameter {parameter.name} is not used")
    if parameters and not _WHERE.search(text):
        raise ValueError(f"{path.name}: a query with parameters needs a WHERE {{ group")
    return NamedQuery(
        name=path.stem,
        title=prose[0],
        description=" ".join(line for line in prose[1:] if line),
        parameters=parameters,
        sparql=text,
    )


@cache
def named_queries(folder: Path | None = None) -> dict[str, NamedQuery]:
    """Every query in the folder (the hub's queries/ by default), by name."""
    paths = sorted((folder or resources.queries_dir()).glob("*.rq"))
    return {path.stem: read_query(path) for path in paths}


def find(name: str) -> NamedQuery:
    found = named_queries().get(name)
    if found is None:
        raise UnknownQuery(f"there is no named query {name!r}")
    return found


def run_query(store: Store, name: str, values: Mapping[str, str]) -> QueryResult:
    return store.query(find(name).bind(values))


def _term(parameter: Parameter, value: str) -> ox.NamedNode | ox.Literal:
    """The RDF term for a value of the parameter's type, or BadParameter saying why not."""
    try:
        return _TERMS[parameter.type](value)
    except (ValueError, ArithmeticError) as error:  # Decimal raises an ArithmeticError
        raise BadParameter(
            parameter.name, parameter.type, f"{value!r} is not {_A[parameter.type]}: {error}"
        ) from None


def _iri(value: str) -> ox.NamedNode:
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value):
        raise ValueError("an IRI starts with its scheme")
    return ox.NamedNode(value)


def _id(value: str) -> ox.Literal:
    if not _ID.fullmatch(value):
        raise ValueError(f"ids match {ID_PATTERN}")
    return ox.Literal(value)


def _date_time(value: str) -> ox.Literal:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time needs its zone, e.g. 2026-11-26T17:00:00+02:00")
    return ox.Literal(moment.isoformat(), datatype=ox.NamedNode(XSD + "dateTime"))


def _decimal(value: str) -> ox.Literal:
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError("the number must be finite")
    return ox.Literal(str(number), datatype=ox.NamedNode(XSD + "decimal"))


def _integer(value: str) -> ox.Literal:
    return ox.Literal(str(int(value)), datatype=ox.NamedNode(XSD + "integer"))


_TERMS: dict[str, Callable[[str], ox.NamedNode | ox.Literal]] = {
    "iri": _iri,
    "id": _id,
    "string": ox.Literal,
    "dateTime": _date_time,
    "decimal": _decimal,
    "integer": _integer,
}
_A = {
    "iri": "an absolute IRI",
    "id": "an id",
    "string": "a string",
    "dateTime": "an RFC 3339 time",
    "decimal": "a decimal number",
    "integer": "an integer",
}


def queries_router(pool: QueryPool) -> APIRouter:
    """GET /queries (what there is) and GET /queries/{name}?param=value (its results)."""
    router = APIRouter(tags=["Named queries"])

    @router.get("/queries", summary="The named queries and their parameters")
    def list_queries(request: Request) -> list[dict[str, Any]]:
        return [
            {**query.describe(), "href": str(request.url_for("run_named_query", name=name))}
            for name, query in named_queries().items()
        ]

    @router.get("/queries/{name}", summary="Run a named query", name="run_named_query")
    async def run_named_query(name: str, request: Request) -> Response:
        query = named_queries().get(name)
        if query is None:
            raise Problem(
                404, "unknown-query", "Unknown query", f"there is no named query {name!r}"
            )
        values: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key in values:
                raise _bad(BadParameter(key, "maxCount", "give this parameter once"))
            values[key] = value
        try:
            bound = query.bind(values)
        except BadParameter as error:
            raise _bad(error) from None
        return response_of(await answer_of(pool, request.headers.get("accept", ""), bound))

    return router


def _bad(error: BadParameter) -> Problem:
    return Problem(
        400, "bad-parameter", "Bad query parameter", str(error), field=error.name, rule=error.rule
    )


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the query's name; leave out to list them all")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the query (repeat for each)",
    )
    parser.add_argument("--store", default="var/store", help="the store's directory")
    add_hub_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print the query's result as an aligned table, or the list of queries without a name."""
    if args.name is None:
        for query in named_queries().values():
            print(f"{query.name:24} {query.title}")
        return 0
    values = {}
    for item in args.param:
        key, separator, value = item.partition("=")
        if not separator:
            raise UsageError(f"--param {item!r}: write NAME=VALUE")
        values[key] = value
    try:
        bound = find(args.name).bind(values)
    except (UnknownQuery, BadParameter) as error:
        raise UsageError(str(error)) from None
    result = _ask_hub(args, bound) if args.hub is not None else _ask_store(args.store, bound)
    sys.stdout.write(table(result))
    return 0


def _ask_store(location: str, sparql: str) -> QueryResult:
    store = open_for_command(location, create=False)
    try:
        return store.query(sparql)
    except (ParseError, QueryRefused, QueryTimeout) as error:
        raise UsageError(str(error)) from None
    finally:
        store.close()


def _ask_hub(args: argparse.Namespace, sparql: str) -> QueryResult:
    """The query's answer from a running hub's SPARQL endpoint (the store is its to hold)."""
    try:
        reply = httpx.post(
            f"{args.hub.rstrip('/')}/sparql",
            data={"query": sparql},
            headers={**bearer(args), "Accept": f"{RESULTS_JSON}, {N_TRIPLES};q=0.9"},
            timeout=60,
        )
    except httpx.HTTPError as error:
        raise UsageError(f"cannot reach the hub at {args.hub}: {error}") from None
    if reply.status_code != 200:
        raise refusal(reply)
    truncated = reply.headers.get(TRUNCATED_HEADER) == "true"
    if reply.headers.get("content-type", "").startswith(N_TRIPLES):
        triples = tuple(ox.parse(reply.content, ox.RdfFormat.N_TRIPLES))
        return QueryResult("graph", triples=triples, truncated=truncated)  # type: ignore[arg-type]
    document = reply.json()
    if "boolean" in document:
        return QueryResult("ask", boolean=bool(document["boolean"]))
    variables = tuple(document["head"]["vars"])
    rows = tuple(
        tuple(_result_term(binding.get(name)) for name in variables)
        for binding in document["results"]["bindings"]
    )
    return QueryResult("select", variables=variables, rows=rows, truncated=truncated)


def _result_term(value: dict[str, str] | None) -> ox.NamedNode | ox.BlankNode | ox.Literal | None:
    """A term of SPARQL 1.1 Query Results JSON as Oxigraph's."""
    if value is None:
        return None
    if value["type"] == "uri":
        return ox.NamedNode(value["value"])
    if value["type"] == "bnode":
        return ox.BlankNode(value["value"])
    if "xml:lang" in value:
        return ox.Literal(value["value"], language=value["xml:lang"])
    datatype = value.get("datatype")
    return ox.Literal(value["value"], datatype=ox.NamedNode(datatype) if datatype else None)


_SHORT = {
    BASE + "message/": "msg:",
    BASE + "actor/": "actor:",
    BASE + "grid/": "grid:",
    BASE + "device/": "device:",
    BASE + "point/": "point:",
    HEILA: "heila:",
    "http://qudt.org/vocab/unit/": "unit:",
}


def _shown(term: Any) -> str:
    text = plain(term)
    if isinstance(term, ox.NamedNode):
        for namespace, prefix in _SHORT.items():
            if text.startswith(namespace):
                return prefix + text.removeprefix(namespace)
    return text


def table(result: QueryResult) -> str:
    """A result as aligned text columns, as people read it in a terminal."""
    if result.form == "ask":
        return f"{'yes' if result.boolean else 'no'}\n"
    if result.form == "graph":
        return "".join(
            f"{_shown(t.subject)} {_shown(t.predicate)} {_shown(t.object)}\n"
            for t in result.triples
        )
    rows = [list(result.variables)] + [[_shown(term) for term in row] for row in result.rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(result.variables))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if not result.rows:
        lines.append("(no rows)")
    if result.truncated:
        lines.append(f"(cut at {len(result.rows)} rows)")
    return "\n".join(lines) + "\n"
