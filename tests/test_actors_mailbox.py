"""An actor handles every message addressed to it once: those notified, and those stored while
it was away, read from the hub's log on (re)start; its state file says where it stopped. Its
first start begins at the log's end."""

import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Hub

from actors.actor import Actor
from actors.clock import Clock
from actors.mailbox import Mailbox
from heila_client.hub import HubClient

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "valid" / "weather-forecast.json"
_ids = itertools.count(1)

Start = Callable[[], tuple[Actor, list[str]]]


def forecast(hub: Hub) -> str:
    """Store a Weather Forecast from the SPP to the DMS; its id."""
    message = json.loads(EXAMPLE.read_text())
    message["id"] = f"forecast-{next(_ids)}-{time.time_ns()}"
    response = httpx.post(f"{hub.url}/messages", json=message, headers=hub.auth("spp-1"))
    assert response.status_code == 201, response.text
    return str(message["id"])


def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.05)


@pytest.fixture
def start_dms(hub: Hub, tmp_path: Path) -> Iterator[Start]:
    """Start the DMS as an actor that notes each forecast it handles; one state file for all."""
    running: list[Actor] = []

    def start() -> tuple[Actor, list[str]]:
        handled: list[str] = []
        actor = Actor(
            "dms-1",
            HubClient(hub.url, hub.tokens["dms-1"]),
            hub.broker.url,
            Clock.wall(),
            state=tmp_path / "dms-1.json",
        )
        actor.on("WeatherForecast")(lambda message: handled.append(message["id"]))
        actor.start()
        assert actor.ready.wait(10)
        running.append(actor)
        return actor, handled

    yield start
    for actor in running:
        actor.stop()


def test_an_actor_started_for_the_first_time_begins_at_the_end_of_its_log(
    hub: Hub, start_dms: Start
) -> None:
    forecast(hub)
    _, handled = start_dms()
    later = forecast(hub)
    until(lambda: later in handled)
    assert handled == [later]


def test_an_actor_restarted_handles_only_what_came_while_it_was_away(
    hub: Hub, start_dms: Start
) -> None:
    actor, handled = start_dms()
    before = forecast(hub)
    until(lambda: handled == [before])
    actor.stop()
    missed = forecast(hub)
    _, handled_again = start_dms()
    until(lambda: missed in handled_again)
    time.sleep(0.5)  # the notifications the broker kept for the session arrive too
    assert handled_again == [missed]


def test_a_message_notified_and_then_listed_is_handled_once(hub: Hub, tmp_path: Path) -> None:
    client = HubClient(hub.url, hub.tokens["dms-1"])
    mailbox = Mailbox("dms-1", tmp_path / "state.json")
    mailbox.begin(client)
    stored = forecast(hub)
    [entry] = client.addressed_to("dms-1", 0)
    handled: list[dict[str, Any]] = []
    mailbox.deliver({"id": stored, "sequence": entry["sequence"]}, client, handled.append)
    mailbox.catch_up(client, handled.append, lambda _: True)
    mailbox.deliver({"id": stored, "sequence": entry["sequence"]}, client, handled.append)
    assert [m["id"] for m in handled] == [stored]


def test_the_state_file_keeps_the_cursor_across_restarts(hub: Hub, tmp_path: Path) -> None:
    forecast(hub)
    client = HubClient(hub.url, hub.tokens["dms-1"])
    Mailbox("dms-1", tmp_path / "state.json").catch_up(client, lambda _: None, lambda _: True)
    handled: list[dict[str, Any]] = []
    later = forecast(hub)
    Mailbox("dms-1", tmp_path / "state.json").catch_up(client, handled.append, lambda _: True)
    assert [m["id"] for m in handled] == [later]


def test_a_cursor_into_another_hubs_log_starts_again_from_the_beginning(
    hub: Hub, tmp_path: Path
) -> None:
    stored = forecast(hub)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"after": 999, "last": "a-message-of-an-older-store", "early": {}}))
    client = HubClient(hub.url, hub.tokens["dms-1"])
    handled: list[dict[str, Any]] = []
    Mailbox("dms-1", state).catch_up(client, handled.append, lambda _: True)
    assert [m["id"] for m in handled] == [stored]
