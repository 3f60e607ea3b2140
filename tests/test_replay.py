"""Replay protection: a message is taken in only near the time it says it was made, and an id
is never taken again with other content, whichever door it comes through."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.config import ConfigError, load_settings
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.trust.auth import new_token
from tests.conftest import STORY_ACTORS, Hub, Serve, running_hub

WINDOW = 300


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve):
    """A running hub that takes messages made within five minutes of their receipt."""
    tokens = {actor: new_token() for actor in STORY_ACTORS}
    with running_hub(mosquitto, serve, tokens, trust_window=WINDOW) as hub:
        yield hub


def made(weather: Message, moment: datetime) -> bytes:
    """The story's forecast, said to be made at `moment`."""
    return json.dumps({**weather.to_json(), "time": moment.isoformat()}).encode()


@pytest.fixture
def weather(story: list[Message]) -> Message:
    return next(m for m in story if m.id == "weather-1")


def post(hub: Hub, body: bytes) -> httpx.Response:
    headers = {**hub.auth("spp-1"), "content-type": "application/json"}
    return httpx.post(f"{hub.url}/messages", content=body, headers=headers)


def test_a_message_made_within_the_window_is_stored(hub: Hub, weather: Message):
    answer = post(hub, made(weather, datetime.now(UTC) - timedelta(seconds=WINDOW / 2)))
    assert answer.status_code == 201


@pytest.mark.parametrize("off", [timedelta(days=-10), timedelta(hours=1)])
def test_a_message_far_outside_the_window_is_refused_naming_the_rule(
    hub: Hub, weather: Message, off: timedelta
):
    answer = post(hub, made(weather, datetime.now(UTC) + off))
    assert answer.status_code == 403
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("window", "time")
    assert f"it takes messages made within {WINDOW} s" in problem["detail"]
    assert hub.store.get(weather.iri) is None


def test_a_message_outside_the_window_is_rejected_on_the_inbox_too(
    hub: Hub, weather: Message, subscribe
):
    spp = subscribe("heila/v1/spp-1/outcome")
    spp.publish("heila/v1/inbox/spp-1", made(weather, datetime.now(UTC) - timedelta(days=1)))
    outcome = spp.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "window")
    assert hub.store.get(weather.iri) is None


def test_an_id_posted_then_published_with_other_content_is_refused_as_not_unique(
    hub: Hub, weather: Message, subscribe
):
    now = datetime.now(UTC)
    assert post(hub, made(weather, now)).status_code == 201
    spp = subscribe("heila/v1/spp-1/outcome")
    spp.publish("heila/v1/inbox/spp-1", made(weather, now + timedelta(seconds=1)))
    outcome = spp.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "unique")


def test_an_id_published_then_posted_with_other_content_is_a_conflict(
    hub: Hub, weather: Message, subscribe
):
    now = datetime.now(UTC)
    spp = subscribe("heila/v1/spp-1/outcome")
    spp.publish("heila/v1/inbox/spp-1", made(weather, now))
    assert spp.next().body["status"] == "stored"
    answer = post(hub, made(weather, now + timedelta(seconds=1)))
    assert (answer.status_code, answer.json()["rule"]) == (409, "unique")


def test_a_negative_window_stops_the_hub_with_a_reason(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text("[trust]\nwindow_seconds = -1\n")
    with pytest.raises(ConfigError, match="window_seconds must not be negative"):
        load_settings(config)
