"""The SPARQL 1.1 Protocol at /sparql, spoken by real clients over HTTP to uvicorn."""

import csv
import io
import json
from collections.abc import Callable

import httpx
import pytest
import rdflib
from fastapi import FastAPI, Request
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import JSON, POST, TURTLE, XML, SPARQLWrapper

from hub.config import Credential
from hub.model.message import Message
from hub.model.vocabulary import HEILA, MESSAGE
from hub.storage.query_pool import QueryPool
from hub.storage.results import TRUNCATED_HEADER
from hub.storage.store import QueryLimits, Store, open_store
from hub.trust.auth import Credentials, hash_token
from hub.web import sparql
from hub.web.authentication import authenticated_actor
from tests.conftest import Serve, bare_app

TOKEN = "writer-token"
WRITER = {"Authorization": f"Bearer {TOKEN}"}
PREFIXES = f"PREFIX heila: <{HEILA}> PREFIX msg: <{MESSAGE}> "
OFFERS = PREFIXES + "SELECT ?offer ?power WHERE { ?offer a heila:Offer ; heila:power ?power }"
POWER_OF_OFFER = PREFIXES + "SELECT ?power WHERE { msg:offer-1 heila:power ?power }"


def add_endpoint(
    app: FastAPI, store: Store, pool: QueryPool, writer: Callable[[Request], str]
) -> None:
    """/sparql on `app`, with no console page in front of it."""
    app.add_middleware(
        sparql.SparqlEndpoint,
        store=store,
        pool=pool,
        authorise_administrator=writer,
        page=lambda _scope: False,
    )


def hub_app(story: list[Message], limits: QueryLimits | None = None) -> FastAPI:
    store = open_store("memory", limits)
    for message in story:
        store.put(message)
    writer = authenticated_actor(Credentials({"ams-1": Credential(hash_token(TOKEN))}))
    pool = QueryPool(store, store.limits)
    app = bare_app(pool)
    add_endpoint(app, store, pool, writer)
    return app


@pytest.fixture
def endpoint(serve: Serve, story: list[Message]) -> str:
    return serve(hub_app(story)) + "/sparql"


def wrapper(endpoint: str, query: str, return_format: str) -> SPARQLWrapper:
    client = SPARQLWrapper(endpoint)
    client.setQuery(query)
    client.setReturnFormat(return_format)
    return client


def test_sparqlwrapper_selects_in_json(endpoint):
    result = wrapper(endpoint, OFFERS, JSON).queryAndConvert()
    assert result["results"]["bindings"] == [
        {
            "offer": {"type": "uri", "value": MESSAGE + "offer-1"},
            "power": {
                "type": "literal",
                "datatype": "http://www.w3.org/2001/XMLSchema#decimal",
                "value": "120",
            },
        }
    ]


def test_sparqlwrapper_selects_in_xml_by_post(endpoint):
    client = wrapper(endpoint, OFFERS, XML)
    client.setMethod(POST)
    document = client.queryAndConvert()
    uris = [node.firstChild.data for node in document.getElementsByTagName("uri")]
    assert uris == [MESSAGE + "offer-1"]


def test_sparqlwrapper_asks(endpoint):
    answer = wrapper(endpoint, PREFIXES + "ASK { msg:bid-1 a heila:Bid }", JSON).queryAndConvert()
    assert answer["boolean"] is True


def test_sparqlwrapper_constructs_turtle(endpoint):
    query = PREFIXES + "CONSTRUCT WHERE { msg:offer-1 heila:sells ?flexibility }"
    graph = rdflib.Graph().parse(
        data=wrapper(endpoint, query, TURTLE).queryAndConvert(), format="turtle"
    )
    assert set(graph) == {
        (
            rdflib.URIRef(MESSAGE + "offer-1"),
            rdflib.URIRef(HEILA + "sells"),
            rdflib.URIRef(MESSAGE + "flex-1"),
        )
    }


def test_rdflib_sparqlstore_reads_the_hub_as_a_graph(endpoint):
    graph = rdflib.Graph(SPARQLStore(endpoint))
    rows = list(graph.query(POWER_OF_OFFER))
    assert [row[0].toPython() for row in rows] == [120]


def test_rdflib_sparqlupdatestore_writes_as_an_authorised_writer(endpoint):
    store = SPARQLUpdateStore(endpoint, endpoint, headers=WRITER)
    store.update(
        PREFIXES + "WITH msg:offer-1 DELETE { msg:offer-1 heila:power ?p } "
        "INSERT { msg:offer-1 heila:power 110.0 } WHERE { msg:offer-1 heila:power ?p }"
    )
    rows = list(rdflib.Graph(SPARQLStore(endpoint)).query(POWER_OF_OFFER))
    assert [row[0].toPython() for row in rows] == [110]


def test_a_form_posted_query_honours_default_graph_uris(endpoint):
    answer = httpx.post(
        endpoint,
        data={
            "query": "SELECT ?m WHERE { ?m a ?type }",
            "default-graph-uri": [MESSAGE + "bid-1"],
        },
        headers={"Accept": "application/sparql-results+json"},
    )
    bindings = answer.json()["results"]["bindings"]
    assert [b["m"]["value"] for b in bindings] == [MESSAGE + "bid-1"]


def test_repeated_named_graph_uris_make_the_named_graphs(endpoint):
    answer = httpx.get(
        endpoint,
        params=[
            ("query", "SELECT ?g WHERE { GRAPH ?g { ?m a ?type } }"),
            ("named-graph-uri", MESSAGE + "bid-1"),
            ("named-graph-uri", MESSAGE + "offer-1"),
        ],
    )
    graphs = {b["g"]["value"] for b in answer.json()["results"]["bindings"]}
    assert graphs == {MESSAGE + "bid-1", MESSAGE + "offer-1"}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "application/sparql-results+json"),
        ("text/csv;q=0.9, application/sparql-results+xml;q=0.5", "text/csv"),
        ("text/tab-separated-values, */*;q=0.1", "text/tab-separated-values"),
        ("application/*;q=0.2, application/sparql-results+xml", "application/sparql-results+xml"),
    ],
)
def test_select_results_take_the_type_the_client_prefers(endpoint, accept, expected):
    answer = httpx.get(endpoint, params={"query": OFFERS}, headers={"Accept": accept})
    assert answer.headers["content-type"].split(";")[0] == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("*/*", "text/turtle"),
        ("application/n-triples", "application/n-triples"),
        ("application/n-quads", "application/n-quads"),
        ("application/ld+json", "application/ld+json"),
        ("application/rdf+xml", "application/rdf+xml"),
    ],
)
def test_graph_results_take_the_type_the_client_prefers(endpoint, accept, expected):
    query = PREFIXES + "CONSTRUCT WHERE { msg:offer-1 heila:sells ?flexibility }"
    answer = httpx.get(endpoint, params={"query": query}, headers={"Accept": accept})
    graph = rdflib.Graph().parse(data=answer.content, format=expected)
    assert (answer.headers["content-type"].split(";")[0], len(graph)) == (expected, 1)


def test_csv_results_are_a_table_with_a_header(endpoint):
    answer = httpx.get(endpoint, params={"query": OFFERS}, headers={"Accept": "text/csv"})
    assert list(csv.reader(io.StringIO(answer.text))) == [
        ["offer", "power"],
        [MESSAGE + "offer-1", "120"],
    ]


def test_text_results_say_they_are_utf_8(endpoint):
    answer = httpx.get(endpoint, params={"query": OFFERS}, headers={"Accept": "text/csv"})
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"


def test_a_type_nobody_offers_is_not_acceptable(endpoint):
    answer = httpx.get(endpoint, params={"query": OFFERS}, headers={"Accept": "image/png"})
    assert (answer.status_code, answer.headers["content-type"]) == (
        406,
        "application/problem+json",
    )


def test_a_malformed_query_is_a_400_with_the_parsers_message(endpoint):
    answer = httpx.get(endpoint, params={"query": "SELECT ?s WHERE { ?s ?p }"})
    problem = answer.json()
    assert (answer.status_code, problem["status"], problem["line"]) == (400, 400, 1)
    assert "expected" in problem["detail"]


@pytest.mark.parametrize(
    ("parameters", "field", "rule"),
    [
        ({}, "query", "required"),
        ({"query": OFFERS, "default-graph-uri": "not an iri"}, "default-graph-uri", "iri"),
    ],
)
def test_a_missing_query_or_bad_graph_uri_is_a_400_naming_the_parameter(
    endpoint, parameters, field, rule
):
    problem = httpx.get(endpoint, params=parameters).json()
    assert (problem["status"], problem["field"], problem["rule"]) == (400, field, rule)


def test_a_post_of_another_media_type_is_a_415(endpoint):
    answer = httpx.post(endpoint, content=OFFERS, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415


def test_a_service_call_is_refused(endpoint):
    query = "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }"
    assert httpx.get(endpoint, params={"query": query}).status_code == 400


def test_a_service_call_to_a_configured_endpoint_is_made(serve, story):
    remote = serve(hub_app(story)) + "/sparql"
    local = serve(hub_app([], QueryLimits(service_endpoints=frozenset({remote})))) + "/sparql"
    query = PREFIXES + f"SELECT ?bid WHERE {{ SERVICE <{remote}> {{ ?bid a heila:Bid }} }}"
    bindings = httpx.get(local, params={"query": query}).json()["results"]["bindings"]
    assert [b["bid"]["value"] for b in bindings] == [MESSAGE + "bid-1"]


def test_describe_answers_the_description_of_a_message(endpoint):
    answer = httpx.get(endpoint, params={"query": PREFIXES + "DESCRIBE msg:bid-1"})
    graph = rdflib.Graph().parse(data=answer.text, format="turtle")
    assert (
        rdflib.URIRef(MESSAGE + "bid-1"),
        rdflib.RDF.type,
        rdflib.URIRef(HEILA + "Bid"),
    ) in graph


def test_a_truncated_result_says_so_in_a_header(serve, story):
    endpoint = serve(hub_app(story, QueryLimits(result_limit=2))) + "/sparql"
    answer = httpx.get(endpoint, params={"query": "SELECT ?m WHERE { GRAPH ?m { ?m a ?t } }"})
    assert (len(answer.json()["results"]["bindings"]), answer.headers[TRUNCATED_HEADER]) == (
        2,
        "true",
    )


def test_a_query_past_the_timeout_is_a_503(serve, story):
    limits = QueryLimits(timeout=0.2, result_limit=10**9)
    endpoint = serve(hub_app(story, limits)) + "/sparql"
    query = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    assert httpx.get(endpoint, params={"query": query}).status_code == 503


def test_an_update_without_credentials_is_a_401(endpoint):
    update = PREFIXES + "DROP GRAPH msg:offer-1"
    answer = httpx.post(
        endpoint, content=update, headers={"Content-Type": "application/sparql-update"}
    )
    assert answer.status_code == 401


def test_an_update_that_breaks_a_rule_is_a_422_naming_field_and_rule(endpoint):
    update = (
        PREFIXES + "WITH msg:offer-1 DELETE { msg:offer-1 heila:power ?p } "
        'INSERT { msg:offer-1 heila:power "lots" } WHERE { msg:offer-1 heila:power ?p }'
    )
    answer = httpx.post(endpoint, data={"update": update}, headers=WRITER)
    problem = answer.json()
    assert answer.status_code == 422
    assert {(v["field"], v["rule"]) for v in problem["violations"]} >= {("power", "datatype")}
    assert json.loads(httpx.get(endpoint, params={"query": POWER_OF_OFFER}).text)["results"][
        "bindings"
    ] == [
        {
            "power": {
                "type": "literal",
                "datatype": "http://www.w3.org/2001/XMLSchema#decimal",
                "value": "120",
            }
        }
    ]


def test_an_update_of_another_actors_message_is_a_403(endpoint):
    update = PREFIXES + "DROP GRAPH msg:bid-1"
    answer = httpx.post(endpoint, data={"update": update}, headers=WRITER)
    assert (answer.status_code, answer.json()["field"]) == (403, "sender")


def test_a_malformed_update_is_a_400_with_the_parsers_message(endpoint):
    answer = httpx.post(
        endpoint,
        content="INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> } }",
        headers={"Content-Type": "application/sparql-update", **WRITER},
    )
    assert (answer.status_code, answer.headers["content-type"]) == (
        400,
        "application/problem+json",
    )


def test_a_query_sees_a_message_stored_on_disk_just_before_it(serve, story, tmp_path):
    store = open_store(str(tmp_path / "store"))
    writer = authenticated_actor(Credentials({}))
    pool = QueryPool(store, store.limits)
    app = bare_app(pool)
    add_endpoint(app, store, pool, writer)
    endpoint = serve(app) + "/sparql"
    asked = PREFIXES + "ASK { msg:offer-1 a heila:Offer }"
    before = httpx.get(endpoint, params={"query": asked}).json()["boolean"]
    for message in story:
        store.put(message)
    assert (before, httpx.get(endpoint, params={"query": asked}).json()["boolean"]) == (False, True)


def test_a_query_nested_past_the_limit_is_refused_before_it_is_parsed(endpoint):
    query = "SELECT * WHERE { FILTER(" + "(" * 100 + "1" + ")" * 100 + ") }"
    problem = httpx.get(endpoint, params={"query": query}).json()
    assert (problem["status"], problem["field"]) == (400, "query")
    assert "nests 102 levels deep" in problem["detail"]


def test_an_empty_update_changes_nothing_and_answers_204(endpoint):
    assert httpx.post(endpoint, data={"update": ""}, headers=WRITER).status_code == 204


def test_a_form_with_both_a_query_and_an_update_is_a_400(endpoint):
    answer = httpx.post(endpoint, data={"query": OFFERS, "update": ""}, headers=WRITER)
    assert (answer.status_code, answer.json()["rule"]) == (400, "oneOf")


def test_an_update_with_dataset_parameters_is_a_400_naming_them(endpoint):
    form = {"update": "", "named-graph-uri": MESSAGE + "offer-1"}
    answer = httpx.post(endpoint, data=form, headers=WRITER)
    assert (answer.status_code, answer.json()["field"]) == (400, "named-graph-uri")


def test_a_method_other_than_get_and_post_is_refused_naming_those_allowed(endpoint):
    answer = httpx.put(endpoint, content=b"ASK {}")
    assert (answer.status_code, answer.headers["allow"], answer.json()["status"]) == (
        405,
        "GET, HEAD, POST",
        405,
    )
