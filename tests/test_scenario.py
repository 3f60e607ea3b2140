"""The scenario generator: days of a market of many actors, written through the hub's intake."""

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.commands.scenario import Filled, fill
from hub.model.vocabulary import MESSAGE, SMARTAPI
from hub.storage.store import OxigraphStore, open_store
from hub.web.queries import run_query

FIRST = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> tuple[OxigraphStore, Filled]:
    store = open_store("memory")
    return store, fill(store, 3, FIRST)


def types(store: OxigraphStore) -> Counter[str]:
    result = store.query(
        f"SELECT ?type (COUNT(?m) AS ?n) WHERE {{ GRAPH ?m {{ ?m a ?type }} "
        f'FILTER(STRSTARTS(STR(?m), "{MESSAGE}")) }} GROUP BY ?type'
    )
    return Counter({t.value.split("#")[1]: int(n.value) for t, n in result.rows if t and n})


def test_every_message_of_the_days_is_stored(market):
    store, filled = market
    assert filled.messages == store.last_sequence == sum(types(store).values())


def test_the_market_has_many_aggregators_sites_and_feeders(market):
    store, _filled = market
    senders = store.query(f"SELECT DISTINCT ?s WHERE {{ ?m <{SMARTAPI}generatedBy> ?s }}")
    names = {row[0].value.rsplit("/", 1)[1] for row in senders.rows if row[0]}
    assert len({n for n in names if n.startswith("ams-")}) == 4
    assert len({n for n in names if n.startswith("mgms-")}) == 20


def test_every_activation_is_commanded_measured_and_verified(market):
    store, _filled = market
    counted = types(store)
    assert counted["ActivationNotification"] > 0
    assert (
        counted["ActivationNotification"]
        == counted["ControlSignal"]
        == counted["Measurement"]
        == counted["VerificationNotification"]
    )


def test_some_activations_fall_short_and_some_bids_find_no_offer(market):
    store, _filled = market
    assert run_query(store, "undelivered-activations", {}).rows
    assert run_query(store, "unserved-bids", {}).rows


def test_the_same_days_come_out_the_same_every_time(market):
    store, _filled = market
    again = open_store("memory")
    fill(again, 3, FIRST)
    assert types(again) == types(store)


def test_heila_demo_days_fills_a_store_and_says_how_fast(tmp_path: Path):
    store = tmp_path / "store"
    answer = subprocess.run(
        [sys.executable, "-m", "hub.commands.cli", "demo", "--days", "1", "--store", str(store)],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 0, answer.stderr
    assert "messages of 1 days in" in answer.stdout and "a second" in answer.stdout


def test_heila_demo_days_without_a_store_exits_2_with_one_line():
    answer = subprocess.run(
        [sys.executable, "-m", "hub.commands.cli", "demo", "--days", "2"],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 2
    assert answer.stderr.strip().splitlines() == [
        "heila demo: --days takes a positive number of days and needs --store DIR"
    ]
