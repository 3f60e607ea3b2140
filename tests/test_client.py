"""The hub's Python client against a real hub: what an integrator's program relies on."""

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from heila_client import Commit, HubClient, Refused
from tests.bridge_fixtures import eventually
from tests.conftest import Hub

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "first_offer.py"


@pytest.fixture
def told(hub: Hub, story) -> Hub:
    """The hub holding the example story, each message posted by its own sender."""
    for sent in story:
        with HubClient(hub.url, hub.tokens[sent.sender]) as client:
            client.send(sent.to_json())
    return hub


def test_the_client_package_pulls_in_nothing_of_the_hub_or_the_actors() -> None:
    probe = (
        "import sys, heila_client, heila_client.objects, heila_client.parts, "
        "heila_client.vocabulary; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hub', 'actors'}))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_an_integrators_first_offer_is_taken_and_joins_its_products_chain(told: Hub) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), told.url, "flex-1"],
        capture_output=True,
        text=True,
        env={**os.environ, "HEILA_TOKEN": told.tokens["ams-1"]},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    offered = run.stdout.splitlines()[0].rsplit(" ", 1)[-1]
    assert offered.startswith("offer-")
    chain = HubClient(told.url, told.tokens["ams-1"]).named("product-chain", flexibility="flex-1")
    assert offered in {row["message"].rsplit("/", 1)[-1] for row in chain}


def test_a_refused_message_raises_with_the_hubs_problem_report(told: Hub, story) -> None:
    offer = next(m.to_json() for m in story if m.type == "Offer")
    del offer["price"]
    offer["id"] = "offer-unpriced"
    with HubClient(told.url, told.tokens["ams-1"]) as client, pytest.raises(Refused) as refused:
        client.send(offer)
    assert refused.value.status == 422
    (violation,) = refused.value.problem["violations"]
    assert (violation["field"], violation["rule"]) == ("price", "minCount")


def test_following_the_log_reads_what_was_committed_then_what_is_committed_meanwhile(
    told: Hub, story
) -> None:
    heard: queue.Queue[Commit] = queue.Queue()
    client = HubClient(told.url, told.tokens["ams-1"])

    def follow() -> None:
        for commit in client.follow():
            heard.put(commit)
            if commit.id == "offer-later":
                return

    threading.Thread(target=follow, daemon=True).start()
    logged = [heard.get(timeout=10) for _ in story]
    assert [commit.id for commit in logged] == [message.id for message in story]
    eventually(lambda: "heila_live_viewers 1.0" in httpx.get(f"{told.url}/metrics").text)
    offer = next(m.to_json() for m in story if m.type == "Offer") | {"id": "offer-later"}
    client.send(offer)
    assert heard.get(timeout=10) == Commit(len(story) + 1, "offer-later", "Offer", "ams-1")
