"""examples/pandas_query.py, run against a real hub holding the example story: what it shows
researchers works."""

import runpy
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.storage.store import QueryLimits, open_store
from tests.conftest import Hub, hub_settings

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "pandas_query.py"


@pytest.fixture
def example(hub: Hub, story) -> dict:
    for sent in story:
        answer = httpx.post(
            f"{hub.url}/messages",
            content=sent.serialize("application/json"),
            headers={**hub.auth(sent.sender), "content-type": "application/json"},
        )
        assert answer.status_code == 201
    return runpy.run_path(str(SCRIPT))


def test_a_named_query_loads_into_a_frame_with_typed_columns(hub, example):
    offers = example["named_query"](hub.url, "merit-order", bid="bid-1")
    assert list(offers["offer"]) == ["https://w3id.org/heila/message/offer-1"]
    assert offers["pricePerMWh"].dtype.kind == "f"


def test_a_query_of_ones_own_loads_into_a_frame(hub, example):
    per_type = example["sparql"](hub.url, example["MESSAGES_PER_TYPE"])
    assert per_type["messages"].sum() == 12


def test_a_result_cut_at_the_limit_is_refused_not_handed_back_short(mosquitto, serve, example):
    store = open_store("memory", QueryLimits(result_limit=3))
    url = serve(create_app(hub_settings(mosquitto, {}), store))
    with pytest.raises(RuntimeError, match="cut at the hub's limit"):
        example["sparql"](url, "SELECT ?s WHERE { ?s ?p ?o }")


def test_the_script_prints_both_frames(hub, example):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), hub.url], capture_output=True, text=True, check=True
    )
    assert "offers for bid-1, cheapest first:" in run.stdout
    assert "Measurement" in run.stdout
