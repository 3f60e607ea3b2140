"""Control direction: activations and control signals operate the station, outcomes are stored."""

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from bridge_fixtures import (
    ACTOR,
    AGGREGATOR,
    DSO,
    FieldHub,
    MakeBridge,
    default_point_map,
    eventually,
)

from actors.bridge import control
from actors.bridge.control import Order, OrderError, Outcome, orders
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store
from substation.model import Breaker
from substation.server import Substation

POINT_MAP = default_point_map()
_ids = itertools.count(1)


def activation(**fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    message = {
        "type": "ActivationNotification",
        "id": f"activation-{next(_ids)}-{now.timestamp():.0f}",
        "sender": AGGREGATOR,
        "time": now.isoformat(),
        "recipients": [ACTOR],
        "flexibilityType": "up",
        "power": 40.0,
        "start": now.isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "reserve": "reserve-1",
    }
    return message | fields


def control_signal(**fields: Any) -> dict[str, Any]:
    message = {
        "type": "ControlSignal",
        "id": f"control-{next(_ids)}-{datetime.now(UTC).timestamp():.0f}",
        "sender": DSO,
        "time": datetime.now(UTC).isoformat(),
        "recipients": [ACTOR],
    }
    return message | fields


@pytest.fixture
def field_hub(field_hub: FieldHub) -> FieldHub:
    """The hub with the story's reserve-1 stored, so activations can refer to it."""
    field_hub.tell_story()
    return field_hub


def outcome_of(hub: FieldHub, order_id: str) -> tuple[Any, ...]:
    """The state and failure reason of the Control Signal that answers the order."""
    rows = hub.select(
        "SELECT ?state ?reason WHERE { ?signal a heila:ControlSignal ; "
        f"heila:outcomeOf|heila:executes <https://w3id.org/heila/message/{order_id}> ; "
        "heila:commandState ?state . OPTIONAL { ?signal heila:failureReason ?reason } }"
    )
    return rows[0] if rows else ()


FAILED = "https://w3id.org/heila/ontology#Failed"


def test_activation_without_device_acts_on_the_commands_marked_for_activation() -> None:
    found = orders(POINT_MAP, activation())
    assert [(o.device, o.action) for o in found] == [("breaker-1", "close")]


def test_activation_of_a_resource_sets_its_power_signed_by_direction() -> None:
    found = orders(POINT_MAP, activation(device="battery-1", flexibilityType="down"))
    assert (found[0].action, found[0].setpoint) == ("setActivePower", -40.0)


def test_control_signal_for_an_unmapped_device_is_refused_with_the_reason() -> None:
    [order] = orders(POINT_MAP, control_signal(device="pump-9", action="close"))
    assert order.refusal == "the point map has no command for device pump-9"


def test_setpoint_for_a_breaker_is_refused_naming_the_command_type() -> None:
    signal = control_signal(device="breaker-1", action="setActivePower", setpoint=5)
    [order] = orders(POINT_MAP, signal)
    assert order.refusal == (
        "device breaker-1 cannot setActivePower: its command point "
        "feeder-1.breaker-command is C_DC_NA_1"
    )


def test_a_message_of_another_type_asks_for_no_order() -> None:
    with pytest.raises(OrderError, match="a Bid asks for no command"):
        orders(POINT_MAP, {"type": "Bid", "id": "bid-1"})


@pytest.mark.parametrize(
    "signal",
    [
        control_signal(device="pump-9", action="close"),
        control_signal(device="breaker-1", action="setActivePower", setpoint=5.0),
    ],
    ids=["unknown device", "set-point to a breaker"],
)
def test_an_order_the_point_map_cannot_carry_out_is_answered_as_failed_in_the_hub(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge, signal: dict[str, Any]
) -> None:
    make_bridge(field_hub, substation)
    assert field_hub.post(DSO, signal).status_code == 201
    state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, substation.operations) == (FAILED, [])
    assert reason == orders(POINT_MAP, signal)[0].refusal


def test_an_activation_whose_window_has_passed_expires_without_operating_the_device(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    make_bridge(field_hub, substation)
    start, end = datetime.now(UTC) - timedelta(minutes=20), datetime.now(UTC) - timedelta(minutes=5)
    message = activation(device="breaker-1", start=start.isoformat(), end=end.isoformat())
    assert field_hub.post(AGGREGATOR, message).status_code == 201
    state, reason = eventually(lambda: outcome_of(field_hub, message["id"]))
    assert (state, substation.operations) == ("https://w3id.org/heila/ontology#Expired", [])
    assert reason.endswith("not carried out late")


def test_an_order_for_a_station_away_is_answered_as_failed_naming_the_station(
    field_hub: FieldHub,
    substation: Substation,
    make_bridge: MakeBridge,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(control, "INTERROGATION_WAIT", 0.5)
    bridge = make_bridge(field_hub, substation)
    substation.stop()
    station = POINT_MAP.stations[0]
    eventually(lambda: bridge.field.away_for(station) > 0.5)
    signal = control_signal(device="battery-1", action="setActivePower", setpoint=20.0)
    assert field_hub.post(DSO, signal).status_code == 201
    state, reason = eventually(lambda: outcome_of(field_hub, signal["id"]))
    assert (state, reason) == (FAILED, "station substation-1 away: no link to it")


def test_an_order_answered_before_a_restart_is_not_carried_out_again(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge, tmp_path: Path
) -> None:
    substation.trip("feeder-1")
    bridge = make_bridge(field_hub, substation)
    field_hub.post(AGGREGATOR, activation(device="breaker-1"))
    eventually(lambda: bridge.outcomes)
    bridge.stop()
    substation.trip("feeder-1")  # someone opened it since: a second close would operate again
    (tmp_path / "state-0" / "mailbox.json").write_text('{"after": 0}')  # read the log again
    again = make_bridge(field_hub, substation, state=tmp_path / "state-0")
    eventually(lambda: again.mailbox.after >= bridge.mailbox.after)
    assert (again.outcomes, substation.operations) == ([], [("feeder-1", "breakerCommand")])


def test_activation_closes_the_breaker_and_the_outcome_is_stored(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    bridge = make_bridge(field_hub, substation)
    message = activation(device="breaker-1")
    assert field_hub.post(AGGREGATOR, message).status_code == 201
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert substation.feeder("feeder-1").breaker is Breaker.CLOSED
    assert outcome.sent and outcome.confirmed and outcome.executed
    assert outcome.sent <= outcome.confirmed <= outcome.executed
    state = eventually(lambda: outcome_of(field_hub, message["id"]))
    assert state == ("https://w3id.org/heila/ontology#Executed", None)


@pytest.fixture
def hub_without_payloads(mosquitto: Mosquitto) -> Iterator[FieldHub]:
    """A hub whose notifications carry no message, the story told."""
    running = FieldHub(mosquitto.url, open_store("memory"), notify_payload=frozenset())
    running.start()
    running.tell_story()
    yield running
    running.stop()


def test_without_the_message_in_its_notification_the_bridge_reads_the_activation_from_the_hub(
    hub_without_payloads: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    bridge = make_bridge(hub_without_payloads, substation)
    assert hub_without_payloads.post(AGGREGATOR, activation(device="breaker-1")).status_code == 201
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert outcome.executed is not None, outcome.reason


def test_control_signal_moves_the_battery_to_its_setpoint(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge(field_hub, substation)
    signal = control_signal(device="battery-1", action="setActivePower", setpoint=30.0)
    assert field_hub.post(DSO, signal).status_code == 201
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert outcome.executed is not None, outcome.reason
    assert substation.feeder("feeder-1").setpoint_kw == 30.0


def test_a_breaker_already_in_position_is_not_operated(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge(field_hub, substation)
    field_hub.post(AGGREGATOR, activation(device="breaker-1"))
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert (outcome.executed is not None, outcome.sent, substation.operations) == (
        True,
        None,
        [],
    ), outcome.reason


def test_a_command_unanswered_after_every_try_is_stored_as_failed_with_its_reason(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    substation.faults.mute_commands = True
    bridge = make_bridge(field_hub, substation, command_timeout=0.3)
    message = activation(device="breaker-1")
    field_hub.post(AGGREGATOR, message)
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert (outcome.confirmed, outcome.executed, outcome.failed is not None) == (None, None, True)
    state, reason = eventually(lambda: outcome_of(field_hub, message["id"]))
    assert state == FAILED
    assert reason.startswith("no confirmation") and reason.endswith("after 3 tries")


def test_the_outcome_keeps_the_time_of_every_try(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    substation.faults.mute_commands = True
    make_bridge(field_hub, substation, command_timeout=0.3)
    message = activation(device="breaker-1")
    field_hub.post(AGGREGATOR, message)
    eventually(lambda: outcome_of(field_hub, message["id"]))
    [(signal,)] = field_hub.select(
        "SELECT ?signal WHERE { ?signal heila:executes "
        f"<https://w3id.org/heila/message/{message['id']}> }}"
    )
    stored = httpx.get(f"{field_hub.url}/messages/{signal.rsplit('/', 1)[1]}").json()
    assert len(stored["triedAt"]) == 3
    assert stored["sentAt"] == min(stored["triedAt"])


def test_every_set_point_of_a_long_run_is_confirmed(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    """c104 misses a confirmation that comes back before it starts waiting (docs/c104.md),
    one command in a few dozen to a few here: the link reads it off the wire and wakes c104."""
    bridge = make_bridge(field_hub, substation)
    battery = POINT_MAP.commands["battery-1"]
    set_points = itertools.islice(itertools.cycle(range(10, 50)), 300)
    answers = [bridge.field.operate(battery, float(kw)) for kw in set_points]
    assert answers.count(False) == 0


def test_every_order_of_a_run_is_recorded_as_confirmed(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    bridge = make_bridge(field_hub, substation)
    signals = [
        control_signal(device="battery-1", action="setActivePower", setpoint=float(kw))
        for kw in range(10, 50)
    ]
    for number, signal in enumerate(signals, 1):
        assert field_hub.post(DSO, signal).status_code == 201
        eventually(lambda: len(bridge.outcomes) >= number)  # noqa: B023 (waited on at once)
    unconfirmed = [o.order.source for o in bridge.outcomes if o.confirmed is None]
    assert (unconfirmed, len(bridge.outcomes)) == ([], len(signals))
    recorded = field_hub.select(
        "SELECT ?signal WHERE { ?signal heila:outcomeOf ?order ; heila:confirmedAt ?at }"
    )
    assert len(recorded) == len(signals)


def test_an_unconfirmed_execution_is_judged_by_the_status_point_and_not_retried(
    field_hub: FieldHub, substation: Substation, make_bridge: MakeBridge
) -> None:
    substation.trip("feeder-1")
    substation.faults.unconfirmed_execution = True
    bridge = make_bridge(field_hub, substation, command_timeout=0.3)
    field_hub.post(AGGREGATOR, activation(device="breaker-1"))
    outcome: Outcome = eventually(lambda: bridge.outcomes and bridge.outcomes[0])
    assert outcome.executed is not None and outcome.confirmed is None
    assert substation.operations == [("feeder-1", "breakerCommand")]


def test_orders_name_the_activation_they_carry_out_and_its_window() -> None:
    message = activation(device="battery-2", power=12.5)
    command = POINT_MAP.commands["battery-2"]
    end = datetime.fromisoformat(message["end"])
    assert orders(POINT_MAP, message) == [
        Order(
            "battery-2",
            "setActivePower",
            12.5,
            message["id"],
            message["id"],
            AGGREGATOR,
            end,
            command,
        )
    ]
