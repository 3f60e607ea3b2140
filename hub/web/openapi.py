"""The OpenAPI document as an integrator needs it: every object's JSON Schema, every request
body in each form the hub takes with the story's examples, every answer a route can give, and
the bearer scheme that Swagger UI's "Authorize" fills in.

The schemas come from hub.model.schema (derived from the shapes); their `$defs` become OpenAPI
components so that /docs shows each object and its parts by name. What FastAPI cannot see in
the routes' signatures (bodies read by hand, problem reports raised below a route) is stated
here, by path and method.
"""

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from hub.model.resources import examples_dir
from hub.model.schema import all_schemas
from hub.model.vocabulary import ID_PATTERN
from hub.web.queries import named_queries

JSON = dict[str, Any]
_COMPONENTS = "#/components/schemas/"

PROBLEM_SCHEMA: JSON = {
    "type": "object",
    "description": "RFC 9457 problem details; `violations` lists each broken rule",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string"},
        "rule": {"type": "string"},
        "line": {"type": "integer"},
        "stored": {"type": "string", "description": "the path of the stored message (409)"},
        "column": {"type": "integer"},
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    **{
                        name: {"type": "string"}
                        for name in ("message", "focus", "field", "label", "rule", "text")
                    },
                    "value": {"type": ["string", "null"], "description": "null: no value"},
                },
            },
        },
    },
}


def _problem(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _COMPONENTS + "Problem"}}},
    }


BEARER = "bearer"
SECURITY_SCHEMES: JSON = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An actor's token, made by `heila token ACTOR`; writing needs one "
        "(or a client certificate). Reading needs none.",
    }
}

POST_RESPONSES: dict[int | str, JSON] = {
    200: {"description": "A message with this id was already stored; nothing changed"},
    400: _problem("The body does not parse (line and column given)"),
    401: _problem("No valid bearer token"),
    403: _problem("The authenticated actor is not the message's sender, or the hub is read-only"),
    413: _problem("The body is larger than the configured limit"),
    409: _problem("A message with this id is stored already with other content; `stored` names it"),
    415: _problem("The body is in a form the hub does not take"),
    422: _problem("The message breaks rules of its shape: every violation is listed"),
}


def message_responses(forms: Iterable[str]) -> dict[int | str, JSON]:
    return {
        200: {"description": "The message", "content": {form: {} for form in forms}},
        404: _problem("No message with this id"),
        406: _problem("None of the accepted forms can be given"),
    }


def _relocate(node: Any) -> Any:
    """The schema with its references to parts (`…#/$defs/X`) pointing at component X."""
    if isinstance(node, dict):
        return {
            key: _COMPONENTS + value.rsplit("/", 1)[-1]
            if key == "$ref" and isinstance(value, str)
            else _relocate(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_relocate(item) for item in node]
    return node


@cache
def components() -> JSON:
    """Every information object and every part it uses, by name, plus the problem report."""
    found: JSON = {"Problem": PROBLEM_SCHEMA}
    for name, schema in all_schemas().items():
        body = {k: v for k, v in schema.items() if k not in ("$defs", "$schema", "$id")}
        parts = {name: body, **schema.get("$defs", {})}
        for part_name, part in parts.items():
            part = _relocate(part)
            if found.setdefault(part_name, part) != part:
                raise ValueError(f"two schemas are both named {part_name}")
    return found


def _examples(suffix: str) -> JSON:
    """The valid example of every information object in one form, shipped with the hub."""
    examples = {}
    for path in sorted((examples_dir() / "valid").glob(f"*{suffix}")):
        text = path.read_text(encoding="utf-8")
        value = text if suffix == ".ttl" else json.loads(text)
        examples[path.stem] = {"summary": path.stem.replace("-", " "), "value": value}
    return examples


def message_request_body() -> JSON:
    """POST /messages takes one of the twelve objects as JSON, or any message as RDF."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [{"$ref": _COMPONENTS + n} for n in all_schemas()]},
                    "examples": _examples(".json"),
                },
                "application/ld+json": {
                    "schema": {"type": "object"},
                    "examples": _examples(".jsonld"),
                },
                "text/turtle": {"schema": {"type": "string"}, "examples": _examples(".ttl")},
            },
        },
        "security": [{BEARER: []}],
    }


_RESULTS = (
    "application/sparql-results+json",
    "application/sparql-results+xml",
    "text/csv",
    "text/tab-separated-values",
)
_GRAPHS = (
    "text/turtle",
    "application/n-triples",
    "application/n-quads",
    "application/ld+json",
    "application/rdf+xml",
)
_ONTOLOGY_FORMS = (
    "text/turtle",
    "application/ld+json",
    "application/rdf+xml",
    "application/n-triples",
    "text/html",
)
_SPARQL_EXAMPLE = (
    "PREFIX heila: <https://w3id.org/heila/ontology#>\n"
    "SELECT ?offer ?power WHERE { ?offer a heila:Offer ; heila:power ?power }"
)
_UPDATE_EXAMPLE = (
    "PREFIX heila: <https://w3id.org/heila/ontology#>\n"
    "INSERT DATA { GRAPH <https://w3id.org/heila/message/m-1> { ... } }"
)
_QUERY_ANSWERS: dict[int | str, JSON] = {
    200: {
        "description": "SELECT and ASK results, or the graph of CONSTRUCT and DESCRIBE, in the "
        "most acceptable form; a result cut at the result limit carries `Heila-Truncated: true`",
        "content": {form: {} for form in (*_RESULTS, *_GRAPHS)},
    },
    400: _problem("The query does not parse, a parameter is missing or repeated, or it is refused"),
    406: _problem("The result cannot be given in any accepted form"),
    503: _problem("The query ran past the query timeout (`Retry-After` says when to try again)"),
}
_FORM_FIELDS: JSON = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "a SPARQL 1.1 query"},
        "update": {"type": "string", "description": "a SPARQL 1.1 update (a writer's only)"},
        "default-graph-uri": {"type": "array", "items": {"type": "string", "format": "iri"}},
        "named-graph-uri": {"type": "array", "items": {"type": "string", "format": "iri"}},
    },
    "oneOf": [{"required": ["query"]}, {"required": ["update"]}],
}

OPERATIONS: dict[tuple[str, str], JSON] = {
    ("get", "/messages"): {
        "responses": {400: _problem("A parameter is unknown or not of its type")},
    },
    ("get", "/health"): {
        "responses": {503: {"description": "The store cannot answer"}},
    },
    ("get", "/context.jsonld"): {
        "responses": {200: {"description": "The @context", "content": {"application/ld+json": {}}}},
    },
    ("get", "/ontology"): {
        "responses": {
            200: {
                "description": "The ontology in the most acceptable RDF form, or as a page to read",
                "content": {form: {} for form in _ONTOLOGY_FORMS},
            },
            406: _problem("None of the accepted forms can be given"),
        },
    },
    ("get", "/sparql"): {
        "tags": ["SPARQL"],
        "summary": "SPARQL 1.1 query",
        "operationId": "get_query_sparql_get",
        "description": "A SPARQL 1.1 Protocol query. A browser that asks for HTML with no query "
        "gets the SPARQL console.",
        "parameters": [
            {"name": "query", "in": "query", "required": True, "schema": {"type": "string"}},
            *(
                {
                    "name": name,
                    "in": "query",
                    "schema": {"type": "array", "items": {"type": "string"}},
                }
                for name in ("default-graph-uri", "named-graph-uri")
            ),
        ],
        "responses": {
            **_QUERY_ANSWERS,
            200: {
                **_QUERY_ANSWERS[200],
                "content": {**_QUERY_ANSWERS[200]["content"], "text/html": {}},
            },
        },
    },
    ("post", "/sparql"): {
        "tags": ["SPARQL"],
        "summary": "SPARQL 1.1 query or update",
        "operationId": "post_sparql_post",
        "description": "A query (anyone) or an update (an authorised writer: the update may only "
        "touch graphs of messages its actor sends, and what it leaves must be valid).",
        "requestBody": {
            "required": True,
            "content": {
                "application/sparql-query": {
                    "schema": {"type": "string"},
                    "example": _SPARQL_EXAMPLE,
                },
                "application/sparql-update": {
                    "schema": {"type": "string"},
                    "example": _UPDATE_EXAMPLE,
                },
                "application/x-www-form-urlencoded": {
                    "schema": _FORM_FIELDS,
                    "example": {"query": _SPARQL_EXAMPLE},
                },
            },
        },
        "security": [{}, {BEARER: []}],
        "responses": {
            **_QUERY_ANSWERS,
            204: {"description": "The update was validated and committed"},
            401: _problem("An update came without a valid bearer token"),
            403: _problem("The actor is no administrator, or the hub is read-only"),
            413: _problem("The body is larger than the configured limit"),
            415: _problem("The body is neither a query, an update nor a form"),
            422: _problem("What the update leaves breaks rules of a shape: every violation listed"),
        },
    },
    ("get", "/queries/{name}"): {
        "responses": {
            200: {
                "description": "The query's results in the most acceptable form",
                "content": {form: {} for form in _RESULTS},
            },
            400: _problem("A parameter is missing, unknown, repeated or not of its type"),
            404: _problem("There is no named query of that name"),
            406: _problem("The result cannot be given in any accepted form"),
            503: _problem("The query ran past the query timeout"),
        },
    },
    **{
        ("get", f"/live/{plot}.svg"): {
            "responses": {
                200: {"description": "The plot", "content": {"image/svg+xml": {}}},
                400: _problem("The id is not an id"),
                404: _problem("No message or point of this id to plot"),
            }
        }
        for plot in ("price-forecast/{id}", "merit-order/{id}", "delivery/{id}", "point/{point}")
    },
    ("put", "/pointmaps/{name}"): {
        "security": [{BEARER: []}],
        "requestBody": {
            "required": True,
            "content": {"text/turtle": {"schema": {"type": "string"}}},
        },
        "responses": {
            204: {"description": "Published: the point map's graph holds this map"},
            401: _problem("No valid bearer token"),
            403: _problem("The actor is no administrator"),
            409: _problem(
                "A map published under another name describes one of its points or commands,"
                " or commands one of its devices"
            ),
            422: _problem("The name is no id, or the map is no Turtle or breaks its shape"),
        },
    },
    ("get", "/dump"): {
        "security": [{BEARER: []}],
        "responses": {
            401: _problem("No valid bearer token"),
            403: _problem("The actor is no administrator"),
        },
    },
    **{
        (method, path): {
            "security": [{BEARER: []}],
            "responses": {
                401: _problem("No valid bearer token"),
                403: _problem("The actor is no administrator"),
                **(
                    {404: _problem("No actor of this id is registered")}
                    if "{actor}" in path
                    else {}
                ),
                **(
                    {
                        400: _problem("The body is no JSON object with a list of keys"),
                        422: _problem("A key is no public JWK the hub can verify with, naming it"),
                    }
                    if method == "put"
                    else {}
                ),
                **(
                    {
                        400: _problem("The body is no JSON object with an id and a role"),
                        409: _problem("An actor of this id is registered already"),
                        422: _problem("The id, role or a key is not usable, naming the field"),
                    }
                    if method == "post" and path == "/actors"
                    else {}
                ),
            },
        }
        for method, path in (
            ("get", "/actors"),
            ("post", "/actors"),
            ("post", "/actors/{actor}/rotate"),
            ("delete", "/actors/{actor}"),
            ("put", "/actors/{actor}/keys"),
            ("get", "/broker-rules"),
        )
    },
    ("get", "/events"): {
        "responses": {
            400: _problem("`after` or Last-Event-ID is not a commit sequence"),
            503: _problem("As many live viewers as the hub serves are watching already"),
        }
    },
}
"""What each operation says beyond its route's signature, by method and path. An operation
with an operationId is one FastAPI does not describe (a plain Starlette route, or /sparql,
served in front of the routes): it is written out whole here."""


_PARAMETER_SCHEMAS: dict[str, JSON] = {
    "iri": {"type": "string", "format": "iri"},
    "id": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
    "string": {"type": "string"},
    "dateTime": {"type": "string", "format": "date-time"},
    "decimal": {"type": "number"},
    "integer": {"type": "integer"},
}


def named_query_paths() -> JSON:
    """One path per named query with the parameters it needs, so that a client (and /docs)
    sees what each one asks for; the route itself is one, /queries/{name}."""
    answers = OPERATIONS[("get", "/queries/{name}")]["responses"]
    return {
        f"/queries/{name}": {
            "get": {
                "tags": ["Named queries"],
                "summary": query.title,
                "description": query.description,
                "operationId": f"named_query_{name.replace('-', '_')}",
                "parameters": [
                    {
                        "name": parameter.name,
                        "in": "query",
                        "required": True,
                        "description": parameter.description,
                        "schema": _PARAMETER_SCHEMAS[parameter.type],
                    }
                    for parameter in query.parameters
                ],
                "responses": {str(code): answer for code, answer in answers.items() if code != 404},
            }
        }
        for name, query in named_queries().items()
    }


_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _completed(operation: JSON, extra: JSON) -> JSON:
    """The operation with `extra` laid over it. The hub answers a bad parameter 400 with a
    problem report, so FastAPI's own 422 "Validation Error" goes."""
    responses = {
        code: answer
        for code, answer in operation.get("responses", {}).items()
        if answer.get("description") != "Validation Error"
    }
    responses.update({str(code): answer for code, answer in extra.get("responses", {}).items()})
    return {**operation, **extra, "responses": responses}


def with_components(document: JSON) -> JSON:
    """An OpenAPI document with the message model's schemas, the bearer scheme and every
    operation's bodies and answers added."""
    found = document.setdefault("components", {})
    found["schemas"] = {
        name: schema
        for name, schema in {**found.get("schemas", {}), **components()}.items()
        if name not in _FASTAPI_VALIDATION
    }
    found["securitySchemes"] = SECURITY_SCHEMES
    paths = document.setdefault("paths", {})
    for (method, path), extra in OPERATIONS.items():
        if "operationId" in extra:
            paths.setdefault(path, {})[method] = {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            extra = OPERATIONS.get((method, path), {})
            operations[method] = _completed(operation, extra)
    if paths.pop("/queries/{name}", None) is not None:
        paths.update(named_query_paths())
    return document
