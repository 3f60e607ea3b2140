"""The live view: commits as server-sent events over real HTTP, resumed by Last-Event-ID, and
viewers that cannot slow the write path; the page and its plots as served."""

import asyncio
import contextlib
import http.client
import json
import queue
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hub.app import create_app
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import Stored, open_store
from hub.trust.auth import new_token
from hub.web.live import LiveFeed, replay
from tests.conftest import EXAMPLES, STORY_ACTORS, Hub, Serve, hub_settings, wait_until_connected
from tests.test_server import start, stop


class Viewer:
    """A browser's EventSource, reduced: reads /events in a thread, one event at a time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        address = urlsplit(url)
        self._connection = http.client.HTTPConnection(address.hostname, address.port)
        self._connection.request("GET", "/events", headers=headers or {})
        self._response = self._connection.getresponse()
        self.content_type = self._response.getheader("content-type", "")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):  # closed by us
            while line := self._response.readline():
                text = line.decode().rstrip("\n")
                if text == "":
                    if "data" in fields:
                        event = json.loads(fields["data"])
                        self.events.put({**event, "event_id": fields.get("id")})
                    fields = {}
                elif not text.startswith(":"):
                    name, _, value = text.partition(":")
                    fields[name] = value.removeprefix(" ")
        self._connection.close()

    def next(self, timeout: float = 1.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        """Close as a browser does: the server sees the connection end at once."""
        if self._connection.sock is not None:  # else the server ended the stream
            self._connection.sock.shutdown(socket.SHUT_RDWR)  # the reader then sees the end


@pytest.fixture
def viewers() -> Iterator[list[Viewer]]:
    opened: list[Viewer] = []
    yield opened
    for viewer in opened:
        viewer.close()


def story_document(name: str) -> str:
    return (EXAMPLES / "valid" / f"{name}.json").read_text()


def post(hub: Hub, message: Message) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/messages",
        content=message.serialize("application/json"),
        headers={**hub.auth(message.sender), "content-type": "application/json"},
    )


def test_a_viewer_of_events_receives_a_posted_message_within_a_second(hub, story, viewers):
    viewer = Viewer(hub.url)
    viewers.append(viewer)
    assert viewer.content_type.startswith("text/event-stream")
    post(hub, story[0])
    event = viewer.next(timeout=1.0)
    assert (event["type"], event["sender"]) == (story[0].type, story[0].sender)
    assert event["event_id"] == str(event["sequence"]) == str(hub.store.last_sequence)


def test_each_event_names_the_messages_it_links_to(hub, story, viewers):
    viewer = Viewer(hub.url)
    viewers.append(viewer)
    for message in story[:4]:
        post(hub, message)
    events = {event["type"]: event for event in (viewer.next() for _ in range(4))}
    assert events["OperationPlan"]["links"] == ["weather-1"]


def test_a_viewer_resuming_with_last_event_id_receives_the_commits_it_missed(hub, story, viewers):
    sequences = [post(hub, message) for message in story[:3]]
    assert all(answer.status_code == 201 for answer in sequences)
    first = hub.store.messages(limit=1)[0].sequence
    viewer = Viewer(hub.url, {"Last-Event-ID": str(first)})
    viewers.append(viewer)
    resumed = [viewer.next()["type"] for _ in range(2)]
    assert resumed == [message.type for message in story[1:3]]
    post(hub, story[3])
    assert viewer.next()["type"] == story[3].type


def test_a_viewer_that_never_reads_does_not_block_commits(
    mosquitto: Mosquitto, serve: Serve, story: list[Message]
):
    tokens = {actor: new_token() for actor in STORY_ACTORS}
    store = open_store("memory")
    url = serve(create_app(hub_settings(mosquitto, tokens, live_queue_length=2), store))
    wait_until_connected(url)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port)) as stalled:
        stalled.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        hub = Hub(url, store, tokens, mosquitto)
        answers = [post(hub, message).status_code for message in story]
    assert answers == [201] * len(story)
    store.close()


def test_a_full_viewer_queue_drops_that_viewer_and_keeps_the_others(story: list[Message]):
    async def watch() -> tuple[bool, int, int]:
        feed = LiveFeed(queue_length=3)
        stalled, reading = feed.join(), feed.join()
        got = 0
        for sequence, message in enumerate(story, 1):
            feed.publish(message, Stored(message.iri, sequence, created=True))
            got += len(await reading.next_frames(1.0))
        return stalled.dropped, feed.viewers, got

    dropped, left, received = asyncio.run(watch())
    assert (dropped, left, received) == (True, 1, len(story))


def test_publishing_with_nobody_watching_does_nothing(story: list[Message]):
    feed = LiveFeed(queue_length=3)
    feed.publish(story[0], Stored(story[0].iri, 1, created=True))
    assert feed.viewers == 0


def test_the_live_page_follows_the_event_stream_and_shows_the_chain_steps(hub):
    page = httpx.get(f"{hub.url}/live")
    assert page.headers["content-type"].startswith("text/html")
    for part in ('new EventSource("/events?after=0")', "forecasts", "offer list", "verification"):
        assert part in page.text
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")


def test_the_price_forecast_plot_is_svg_with_one_step_per_slot(hub, story):
    for message in story:
        post(hub, message)
    plot = httpx.get(f"{hub.url}/live/price-forecast/priceforecast-1.svg")
    assert plot.headers["content-type"] == "image/svg+xml"
    assert plot.text.startswith("<svg") and "forecast price" in plot.text
    assert "16:00" in plot.text or "14:00" in plot.text


def test_the_merit_order_plot_marks_the_accepted_offer_and_the_bid(hub, story):
    for message in story:
        post(hub, message)
    plot = httpx.get(f"{hub.url}/live/merit-order/offerlist-1.svg").text
    assert "offer-1: 120 kW at 95.5 (accepted)" in plot
    assert "bid price 110" in plot and "bid volume 100 kW" in plot


def test_the_delivery_plot_sets_delivered_power_against_the_activation(hub, story):
    for message in story:
        post(hub, message)
    plot = httpx.get(f"{hub.url}/live/delivery/verification-1.svg").text
    assert "activated 100 kW" in plot and "delivered" in plot and "baseline" in plot


def test_a_point_plot_draws_its_readings_and_an_unknown_one_says_so(hub, story):
    for message in story:
        post(hub, message)
    plot = httpx.get(f"{hub.url}/live/point/q1-voltage-l1.svg").text
    assert "Readings of q1-voltage-l1" in plot and "<polyline" in plot
    unknown = httpx.get(f"{hub.url}/live/point/nowhere.svg")
    assert (unknown.status_code, "no readings of nowhere" in unknown.text) == (200, True)


def test_serve_stops_at_once_and_cleanly_with_viewers_connected(mosquitto: Mosquitto):
    process, url = start(mosquitto)
    viewer = Viewer(url)
    code, log = stop(process, signal.SIGTERM)
    viewer.close()
    assert (code, "Traceback" in log, "graceful shutdown exceeded" in log) == (0, False, False)


def test_a_point_plot_over_many_days_labels_its_axis_with_dates(hub, story):
    early, late = ("2026-11-20T12:00:00Z", "2026-11-29T12:00:00Z")
    for number, moment in enumerate((early, late)):
        reading = {"value": 230.0 + number}
        document = {
            **json.loads(story_document("measurement")),
            "id": f"measurement-day-{number}",
            "time": moment,
            "references": [],
            "readings": [{**reading, "time": moment, "point": "p-days"}],
        }
        answer = httpx.post(
            f"{hub.url}/messages",
            json=document,
            headers=hub.auth(document["sender"]),
        )
        assert answer.status_code == 201, answer.text
    plot = httpx.get(f"{hub.url}/live/point/p-days.svg")
    assert plot.status_code == 200 and ">11-2" in plot.text


def test_a_viewer_who_missed_more_than_the_replay_limit_gets_the_latest_commits(
    story: list[Message],
):
    store = open_store("memory")
    for message in story:
        store.put(message)
    sequences = [sequence for sequence, _frame in replay(store, 0, limit=3)]
    assert sequences == [len(story) - 2, len(story) - 1, len(story)]


def test_a_viewer_past_the_most_allowed_is_answered_503_naming_the_rule(
    mosquitto: Mosquitto, serve: Serve, viewers: list[Viewer]
):
    tokens = {actor: new_token() for actor in STORY_ACTORS}
    store = open_store("memory")
    url = serve(create_app(hub_settings(mosquitto, tokens, live_viewers=1), store))
    viewers.append(Viewer(url))
    answer = httpx.get(f"{url}/events")
    assert (answer.status_code, answer.json()["rule"]) == (503, "maxViewers")
    assert answer.headers["retry-after"] == "10"
