"""Derived values: window lengths, energies and slot times the store writes beside each message."""

import io
from decimal import Decimal

import pytest

from hub.model.derived import DERIVED_GRAPH, seconds_of
from hub.model.errors import QueryRefused
from hub.model.message import Message
from hub.model.vocabulary import HEILA, MESSAGE
from hub.storage.store import OxigraphStore, open_store

PREFIXES = f"PREFIX heila: <{HEILA}> PREFIX msg: <{MESSAGE}> "


@pytest.fixture
def store(story: list[Message]) -> OxigraphStore:
    filled = open_store("memory")
    for message in story:
        filled.put(message)
    return filled


def values(store: OxigraphStore, pattern: str) -> list[str]:
    """The values of ?v in `pattern`, in order."""
    result = store.query(f"{PREFIXES} SELECT ?v WHERE {{ {pattern} }} ORDER BY ?v")
    return [row[0].value for row in result.rows if row[0] is not None]


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("PT15M", 900), ("PT14M30S", 870), ("P1DT2H", 93600), ("PT0.5S", Decimal("0.5"))],
)
def test_a_day_time_duration_is_read_to_the_second(duration, seconds):
    assert seconds_of(duration) == seconds


def test_a_duration_of_months_has_no_length_in_seconds():
    with pytest.raises(ValueError, match="day-time"):
        seconds_of("P1M")


def test_a_window_gets_its_length_in_hours_and_its_energy(store):
    assert values(store, "msg:activation-1 heila:windowHours ?v") == ["1"]
    assert values(store, "msg:activation-1 heila:energy ?v") == ["100"]


def test_each_slot_gets_its_start_end_and_energy(store):
    starts = values(store, "msg:verification-1 heila:slot/heila:slotStart ?v")
    assert starts == [f"2026-11-26T17:{m}:00+02:00" for m in ("00", "15", "30", "45")]
    assert values(store, "msg:verification-1 heila:slot/heila:energy ?v") == [
        "-3.5",
        "-3",
        "-1.625",
        "-0.875",
    ]


def test_derived_values_live_in_their_own_graph(store):
    assert values(store, f"GRAPH <{DERIVED_GRAPH}> {{ msg:bid-1 heila:energy ?v }}") == ["100"]
    assert values(store, "GRAPH msg:bid-1 { msg:bid-1 heila:energy ?v }") == []


def test_the_derived_graph_is_read_only(store):
    with pytest.raises(QueryRefused, match="read-only"):
        store.update(f"INSERT DATA {{ GRAPH <{DERIVED_GRAPH}> {{ <urn:a> <urn:b> <urn:c> }} }}")


def test_an_update_of_a_message_derives_its_values_again(store):
    store.update(
        PREFIXES + "WITH msg:bid-1 DELETE { msg:bid-1 heila:power ?p } "
        "INSERT { msg:bid-1 heila:power 50.0 } WHERE { msg:bid-1 heila:power ?p }"
    )
    assert values(store, "msg:bid-1 heila:energy ?v") == ["50"]


def test_a_dump_leaves_derived_values_out_and_a_load_derives_them_again(store):
    dump = io.BytesIO()
    store.dump(dump)
    assert DERIVED_GRAPH.encode() not in dump.getvalue()
    restored = open_store("memory")
    restored.load(io.BytesIO(dump.getvalue()))
    assert values(restored, "msg:verification-1 heila:slot/heila:energy ?v") == values(
        store, "msg:verification-1 heila:slot/heila:energy ?v"
    )
