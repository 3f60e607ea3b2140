"""SELECT results as the query workers write them: whole within the limit, cut past it, and
saying so inside the document."""

import csv
import io
import json
import time
import xml.etree.ElementTree as ElementTree

import pyoxigraph as ox
import pytest

from hub.storage import results

ROWS = 50
_SELECT = "SELECT ?s ?o WHERE { ?s ?p ?o }"
_XML_RESULT = "{http://www.w3.org/2005/sparql-results#}result"
_XML_LINK = "{http://www.w3.org/2005/sparql-results#}link"


def _store(value: str) -> ox.Store:
    """ROWS triples, each with this value in its object."""
    store = ox.Store()
    for n in range(ROWS):
        subject = ox.NamedNode(f"https://example.org/s{n}")
        store.add(ox.Quad(subject, ox.NamedNode("https://example.org/p"), ox.Literal(value)))
    return store


def _answer(store: ox.Store, accept: str, limit: int) -> results.Answer:
    answer = results.answer(lambda: store.query(_SELECT), accept, limit, time.monotonic() + 10)
    assert answer is not None
    return answer


def _rows(answer: results.Answer) -> int:
    if answer.media_type == results.RESULTS_JSON:
        return len(json.loads(answer.body)["results"]["bindings"])
    if answer.media_type == results.RESULTS_XML:
        return len(ElementTree.fromstring(answer.body).findall(f".//{_XML_RESULT}"))
    return len(list(csv.reader(io.StringIO(answer.body.decode())))) - 1


@pytest.mark.parametrize(
    "accept", [results.RESULTS_JSON, results.RESULTS_XML, results.CSV, results.TSV]
)
@pytest.mark.parametrize("value", ["plain", 'a,{"b": 1}, "line\nbreak"', "<result>"])
def test_a_result_as_long_as_the_limit_is_written_whole(accept, value):
    answer = _answer(_store(value), accept, limit=ROWS)
    assert (answer.media_type, _rows(answer), answer.truncated) == (accept, ROWS, False)


@pytest.mark.parametrize("value", ["plain", 'a,{"b": 1}'])
def test_a_result_past_the_limit_is_cut_and_links_to_why_in_its_json_head(value):
    answer = _answer(_store(value), results.RESULTS_JSON, limit=ROWS - 1)
    head = json.loads(answer.body)["head"]
    assert (_rows(answer), answer.truncated, head["link"]) == (
        ROWS - 1,
        True,
        [results.TRUNCATED_LINK],
    )


def test_a_result_past_the_limit_is_cut_and_links_to_why_in_its_xml_head():
    answer = _answer(_store("plain"), results.RESULTS_XML, limit=ROWS - 1)
    link = ElementTree.fromstring(answer.body).find(f".//{_XML_LINK}")
    assert (_rows(answer), answer.truncated, link is not None and link.get("href")) == (
        ROWS - 1,
        True,
        results.TRUNCATED_LINK,
    )


def test_a_query_past_its_deadline_gets_no_answer():
    store = _store("plain")
    assert results.answer(lambda: store.query(_SELECT), "", ROWS, time.monotonic() - 1) is None
