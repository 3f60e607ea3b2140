"""Named queries: each answers its question on the example story and a few more messages."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyoxigraph import Literal

from hub.commands.cli import main
from hub.model import message, pointmaps
from hub.model.message import Message
from hub.model.vocabulary import MESSAGE
from hub.storage.query_pool import QueryPool
from hub.storage.store import OxigraphStore, open_store
from hub.web.queries import BadParameter, named_queries, queries_router, read_query, run_query
from tests.conftest import EXAMPLES, Serve, bare_app

POINT_MAP = EXAMPLES / "pointmap.ttl"
SHIPPED = {
    "open-offers",
    "merit-order",
    "product-chain",
    "chain-timing",
    "feeder-measurements",
    "delivered-vs-promised",
    "messages-per-actor-hour",
    "unserved-bids",
    "latest-values",
    "point-readings",
    "offers-to-whom",
    "undelivered-activations",
    "forecast-vs-clearing",
    "signed-messages",
}


def variant(example: str, **changes: Any) -> Message:
    """An example message with some fields changed, e.g. another id and price."""
    document = json.loads((EXAMPLES / "valid" / f"{example}.json").read_text())
    return message.parse(json.dumps({**document, **changes}).encode(), "application/json")


def more_messages() -> list[Message]:
    """Beyond the story: a second product with three open offers, an unserved bid, a reading."""
    price = {"currency": "EUR", "per": "MWH"}
    later = {"validUntil": "2099-01-01T00:00:00Z"}
    return [
        variant("flexibility", id="flex-2", time="2026-11-26T07:30:00+02:00"),
        variant(
            "offer", id="offer-2", flexibility="flex-2", price={**price, "amount": 80.0}, **later
        ),
        variant(
            "offer",
            id="offer-3",
            flexibility="flex-2",
            price={"amount": 0.07, "currency": "EUR", "per": "KWH"},
            **later,
        ),
        variant(
            "offer",
            id="offer-4",
            flexibility="flex-2",
            flexibilityType="down",
            price={**price, "amount": 150.0},
            **later,
        ),
        variant(  # its validUntil (that of the story's offer) has passed
            "offer",
            id="offer-5",
            flexibility="flex-2",
            flexibilityType="down",
            price={**price, "amount": 60.0},
        ),
        variant(  # a window of 14 min 30 s
            "activation-notification",
            id="activation-2",
            time="2026-11-26T17:30:00+02:00",
            start="2026-11-26T18:00:00+02:00",
            end="2026-11-26T18:14:30+02:00",
        ),
        variant(
            "bid", id="bid-2", start="2026-11-26T19:00:00+02:00", end="2026-11-26T20:00:00+02:00"
        ),
        variant(
            "measurement",
            id="measurement-2",
            time="2026-11-26T15:05:00Z",
            references=[],
            readings=[{"point": "q1-voltage-l1", "value": 229.0, "time": "2026-11-26T15:05:00Z"}],
        ),
    ]


@pytest.fixture(scope="module")
def store(story: list[Message]) -> OxigraphStore:
    filled = open_store("memory")
    filled.publish_point_map(pointmaps.graph_of("example"), pointmaps.read([POINT_MAP]))
    for item in [*story, *more_messages()]:
        filled.put(item)
    return filled


def rows(store: OxigraphStore, name: str, **values: str) -> list[dict[str, str]]:
    """The query's rows as {variable: value text}, unbound variables left out."""
    result = run_query(store, name, values)
    return [
        {var: term.value for var, term in zip(result.variables, row, strict=True) if term}
        for row in result.rows
    ]


def ids(found: list[dict[str, str]], column: str) -> list[str]:
    return [row[column].removeprefix(MESSAGE) for row in found]


def test_the_hub_ships_the_queries_researchers_need():
    assert set(named_queries()) >= SHIPPED


def test_every_query_has_a_title_a_description_and_typed_parameters():
    for query in named_queries().values():
        assert query.title and query.description, query.name


def test_open_offers_leave_out_expired_ones(store):
    assert "offer-5" not in ids(rows(store, "open-offers"), "offer")


def test_open_offers_leave_out_accepted_ones_and_put_the_cheapest_first(store):
    found = rows(store, "open-offers")
    assert ids(found, "offer") == ["offer-3", "offer-2", "offer-4"]
    assert Decimal(found[0]["pricePerMWh"]) == 70


def test_the_merit_order_of_a_bid_ranks_offers_of_its_direction_by_price(store):
    found = rows(store, "merit-order", bid="bid-1")
    assert ids(found, "offer") == ["offer-3", "offer-2", "offer-1"]
    assert [row["accepted"] for row in found] == ["false", "false", "true"]


def test_the_product_chain_runs_from_flexibility_to_verification(store):
    found = rows(store, "product-chain", flexibility="flex-1")
    assert [row["step"] for row in found] == [
        "Flexibility",
        "Offer",
        "Bid",
        "OfferList",
        "ReserveNotification",
        "ActivationNotification",
        "ControlSignal",
        "ActivationNotification",  # activation-2, of the same reserve
        "VerificationNotification",
    ]


def test_chain_timing_gives_the_time_since_the_step_before(store):
    found = {row["step"]: row for row in rows(store, "chain-timing", flexibility="flex-1")}
    assert "sincePrevious" not in found["Flexibility"]
    assert (found["Offer"]["sincePrevious"], found["ReserveNotification"]["sincePrevious"]) == (
        "PT15M",
        "PT1M",
    )
    assert found["VerificationNotification"]["sinceFlexibility"] == "PT11H5M"


def test_feeder_measurements_keep_to_the_feeder_and_the_window(store):
    found = rows(
        store,
        "feeder-measurements",
        feeder="feeder-1",
        **{"from": "2026-11-26T15:00:00Z", "to": "2026-11-26T15:00:02Z"},
    )
    points = [row["point"].rsplit("/", 1)[1] for row in found]
    assert (len(points), "q1-position" in points, points[0]) == (8, False, "battery-1-soc")


def test_delivered_against_promised_compares_energies(store):
    found, _unverified = rows(store, "delivered-vs-promised")
    assert (Decimal(found["promisedEnergy"]), Decimal(found["deliveredEnergy"])) == (
        100,
        Decimal("99.5"),
    )
    assert Decimal(found["ratio"]) == Decimal("0.995")


def test_delivered_against_promised_counts_the_seconds_of_a_window(store):
    _verified, found = rows(store, "delivered-vs-promised")
    assert (found["hours"], Decimal(found["promisedEnergy"])) == (
        "0.241666667",
        Decimal("24.166666667"),
    )
    assert "ratio" not in found


def test_undelivered_activations_are_the_verified_ones_short_of_their_promise(store):
    found = rows(store, "undelivered-activations")
    assert ids(found, "activation") == ["activation-1"]
    assert Decimal(found[0]["shortfall"]) == Decimal("0.5")


def test_forecast_against_clearing_sets_each_slot_beside_the_reserves_over_it(store):
    found = rows(store, "forecast-vs-clearing")
    assert [
        (row["slotStart"], row["forecastPrice"], row.get("clearingPrice")) for row in found
    ] == [
        ("2026-11-26T16:00:00+02:00", "72.4", None),
        ("2026-11-26T17:00:00+02:00", "88.9", "95.5"),
        ("2026-11-26T18:00:00+02:00", "104.3", None),
        ("2026-11-26T19:00:00+02:00", "81.5", None),
    ]


def test_messages_per_actor_hour_count_every_message_once(store, story):
    found = rows(store, "messages-per-actor-hour")
    assert sum(int(row["messages"]) for row in found) == len(story) + len(more_messages())
    assert {
        "sender": "https://w3id.org/heila/actor/fmp-1",
        "hour": "2026-11-26T07:00Z",
        "type": "ReserveNotification",
        "messages": "1",
    } in found


def test_unserved_bids_are_those_no_reserve_serves(store):
    assert ids(rows(store, "unserved-bids"), "bid") == ["bid-2"]


def test_latest_values_take_the_newest_reading_of_each_point(store):
    found = {row["point"].rsplit("/", 1)[1]: row for row in rows(store, "latest-values")}
    assert (found["q1-voltage-l1"]["value"], found["battery-1-soc"]["quality"]) == (
        "229",
        "Substituted",
    )


def test_point_readings_are_one_points_readings_in_the_window_oldest_first(store):
    window = {"from": "2026-11-26T15:00:00Z", "to": "2026-11-26T15:10:00Z"}
    found = rows(store, "point-readings", point="q1-voltage-l1", **window)
    assert [(row["time"], row["value"]) for row in found] == [
        ("2026-11-26T15:00:01Z", "231.4"),
        ("2026-11-26T15:05:00Z", "229"),
    ]


def test_latest_values_give_the_unit_and_quantity_of_the_published_point(store):
    found = {row["point"].rsplit("/", 1)[1]: row for row in rows(store, "latest-values")}
    assert (found["q1-voltage-l1"]["unit"], found["q1-voltage-l1"]["quantity"]) == (
        "http://qudt.org/vocab/unit/V",
        "https://w3id.org/heila/ontology#PhaseVoltage",
    )


def test_of_two_readings_measured_in_the_same_instant_the_latest_value_is_the_one_received_last():
    store = open_store("memory")
    reading = {"time": "2026-11-26T15:05:00.125Z", "point": "q1-voltage-l1"}
    for number, (value, received) in enumerate([(231.0, "00.300"), (229.0, "00.200")]):
        late = {"references": [], "receivedAt": f"2026-11-26T15:05:{received}Z"}
        readings = [{**reading, "value": value}]
        store.put(variant("measurement", id=f"same-{number}", readings=readings, **late))
    assert [row["value"] for row in rows(store, "latest-values")] == ["231"]


def test_offers_to_whom_reads_the_flows_of_the_ontology(store):
    found = rows(store, "offers-to-whom")
    assert {"object": "Offer", "from": "AMS", "to": "FMP", "function": "Market Operations"} in found


def test_a_value_that_is_not_of_its_type_is_refused_naming_the_parameter(store):
    with pytest.raises(BadParameter) as raised:
        run_query(store, "product-chain", {"flexibility": 'flex-1" } } DROP ALL #'})
    assert (raised.value.name, raised.value.rule) == ("flexibility", "id")


def test_a_missing_or_unknown_parameter_is_refused(store):
    with pytest.raises(BadParameter, match="required"):
        run_query(store, "merit-order", {})
    with pytest.raises(BadParameter, match="no parameter"):
        run_query(store, "open-offers", {"price": "1"})


def test_a_time_without_zone_is_refused(store):
    with pytest.raises(BadParameter, match="zone"):
        rows(
            store,
            "feeder-measurements",
            feeder="feeder-1",
            **{"from": "2026-11-26T15:00", "to": "2026-11-26T16:00Z"},
        )


def test_a_string_parameter_is_bound_as_a_literal_never_as_sparql(tmp_path: Path, store):
    (tmp_path / "by-currency.rq").write_text(
        "# Offers in one currency\n# Offers priced in the given currency.\n"
        "# param currency: string — an ISO 4217 code\n"
        "SELECT ?price WHERE { ?price <http://purl.org/goodrelations/v1#hasCurrency> ?currency }\n"
    )
    query = read_query(tmp_path / "by-currency.rq")
    assert store.query(query.bind({"currency": '"} ?s ?p ?o . {'})).rows == ()
    assert len(store.query(query.bind({"currency": "EUR"})).rows) > 0


ECHO = (
    "# Echo\n# Gives back its parameter.\n# param text: string — any text\nSELECT ?text WHERE { }\n"
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text())
def test_any_string_parameter_comes_back_as_the_same_literal(tmp_path: Path, store, text):
    (tmp_path / "echo.rq").write_text(ECHO)
    query = read_query(tmp_path / "echo.rq")
    ((value,),) = store.query(query.bind({"text": text})).rows
    assert value == Literal(text)


@pytest.fixture
def hub_url(serve: Serve, store: OxigraphStore) -> str:
    pool = QueryPool(store, store.limits)
    app = bare_app(pool)
    app.include_router(queries_router(pool))
    return serve(app)


def test_get_queries_lists_each_with_its_title_and_parameters(hub_url):
    listed = {entry["name"]: entry for entry in httpx.get(f"{hub_url}/queries").json()}
    assert listed["merit-order"]["parameters"] == [
        {"name": "bid", "type": "id", "description": "the bid's message id"}
    ]
    assert listed["merit-order"]["href"] == f"{hub_url}/queries/merit-order"


def test_get_a_named_query_answers_sparql_json(hub_url):
    answer = httpx.get(f"{hub_url}/queries/unserved-bids")
    bindings = answer.json()["results"]["bindings"]
    assert (answer.headers["content-type"], [b["bid"]["value"] for b in bindings]) == (
        "application/sparql-results+json",
        [MESSAGE + "bid-2"],
    )


def test_get_a_named_query_negotiates_like_the_sparql_endpoint(hub_url):
    answer = httpx.get(
        f"{hub_url}/queries/merit-order", params={"bid": "bid-1"}, headers={"Accept": "text/csv"}
    )
    assert answer.text.splitlines()[0].startswith("offer,sender")


def test_an_unknown_query_is_a_404(hub_url):
    assert httpx.get(f"{hub_url}/queries/no-such-query").status_code == 404


def test_a_bad_parameter_is_a_400_naming_it(hub_url):
    answer = httpx.get(f"{hub_url}/queries/merit-order", params={"bid": "bid 1"})
    assert (answer.status_code, answer.json()["field"], answer.json()["rule"]) == (400, "bid", "id")


def test_heila_query_prints_an_aligned_table(tmp_path: Path, story, capsys):
    filled = open_store(str(tmp_path / "store"))
    for item in story:
        filled.put(item)
    filled.close()
    code = main(
        ["query", "merit-order", "--param", "bid=bid-1", "--store", str(tmp_path / "store")]
    )
    header, rule, first = capsys.readouterr().out.splitlines()
    assert code == 0
    assert header.split()[:2] == ["offer", "sender"] and set(rule) <= {"-", " "}
    assert first.split()[:2] == ["msg:offer-1", "actor:ams-1"]
    assert header.index("sender") == first.index("actor:ams-1")


@pytest.mark.parametrize(
    "arguments",
    [["no-such-query"], ["merit-order", "--param", "bid=bid 1"], ["merit-order", "--param", "bid"]],
)
def test_heila_query_with_a_bad_name_or_parameter_exits_2_with_one_line(
    tmp_path: Path, capsys, arguments
):
    assert main(["query", *arguments, "--store", str(tmp_path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_heila_query_without_a_name_lists_the_queries(capsys):
    assert main(["query"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == set(named_queries())
