"""The hub's pages for people, over real HTTP: a browser asking for HTML gets a page where a
program gets the API's answer on the same path, and the pages' files are cached for good."""

import re

import httpx
import pytest

from hub.model.vocabulary import INFORMATION_OBJECTS
from hub.web.queries import named_queries
from tests.conftest import Hub

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def client(hub: Hub):
    with httpx.Client(base_url=hub.url) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/console", "/sparql"])
def test_a_browser_gets_the_console_at_the_root_and_on_a_bare_sparql(client, path):
    answer = client.get(path, headers=BROWSER)
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="yasgui"' in answer.text


def test_the_console_offers_every_named_query(client):
    page = client.get("/console", headers=BROWSER).text
    assert set(re.findall(r'data-query="([^"]+)"', page)) == set(named_queries())


def test_a_program_asking_sparql_without_a_query_still_gets_a_problem_report(client):
    answer = client.get("/sparql", headers={"accept": "application/sparql-results+json"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_browser_with_a_query_gets_the_results_not_the_console(client):
    answer = client.get("/sparql", params={"query": "ASK {}"}, headers=BROWSER)
    assert answer.headers["content-type"].startswith("application/xml")


def test_a_browser_gets_the_ontology_as_a_page_naming_the_twelve_objects(client):
    answer = client.get("/ontology", headers=BROWSER)
    assert answer.headers["content-type"].startswith("text/html")
    for name in INFORMATION_OBJECTS:
        assert f'id="{name}"' in answer.text


def test_a_client_preferring_turtle_gets_turtle_though_it_takes_html(client):
    answer = client.get("/ontology", headers={"accept": "text/turtle, text/html;q=0.5"})
    assert answer.headers["content-type"].startswith("text/turtle")


def test_a_browser_gets_the_named_queries_as_a_page_and_a_program_as_json(client):
    page = client.get("/queries", headers=BROWSER)
    listed = client.get("/queries")
    assert all(f'id="{name}"' in page.text for name in named_queries())
    assert {query["name"] for query in listed.json()} == set(named_queries())


def test_a_handbook_page_links_to_the_pages_of_the_documents_it_names(client):
    page = client.get("/guide/dataset", headers=BROWSER).text
    assert "<h1>The dataset: what a SPARQL query sees</h1>" in page
    assert 'href="/guide/messages"' in page


def test_an_unknown_handbook_page_is_a_404_problem(client):
    answer = client.get("/guide/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_page_lets_the_browser_fetch_nothing_off_the_hub(client):
    policy = client.get("/console", headers=BROWSER).headers["content-security-policy"]
    assert "default-src 'self'" in policy


def test_the_pages_files_are_cached_as_immutable_under_a_fingerprinted_url(client):
    page = client.get("/docs", headers=BROWSER).text
    files = re.findall(r'(?:src|href)="(/static/[0-9a-f]{12}/[^"]+)"', page)
    assert any("swagger-ui-bundle.js" in path for path in files)
    for path in files:
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_every_link_within_the_ontology_page_lands_on_one_entry(client):
    page = client.get("/ontology", headers=BROWSER).text
    anchors = re.findall(r' id="([^"]+)"', page)
    assert len(anchors) == len(set(anchors))
    assert set(re.findall(r'href="#([^"]+)"', page)) <= set(anchors)
