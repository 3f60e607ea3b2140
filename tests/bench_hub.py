"""Benchmarks of the hub's message paths (run: pytest tests/bench_hub.py --benchmark-enable).

The suite runs each once, untimed. `heila bench` measures the same paths with the hub in a
process of its own; here hub and clients share one process, so figures run a little higher.
"""

import itertools
import json

import httpx
import pytest

from hub.commands.bench import RECIPIENT, SENDER, flexibility
from hub.intake import Intake, StoreCommitter
from hub.storage.store import open_store
from hub.trust.roles import Roles
from hub.trust.signature import Signing
from tests.conftest import Hub

ROUNDS = 1000
numbers = itertools.count()


@pytest.fixture
def ear(hub: Hub, subscribe):
    return subscribe(f"heila/v1/{RECIPIENT}/Flexibility")


def test_http_post_until_the_recipient_holds_the_notification(benchmark, hub: Hub, ear):
    with httpx.Client(base_url=hub.url, headers=hub.auth(SENDER)) as client:

        def round_trip() -> None:
            document = flexibility(next(numbers))
            answer = client.post("/messages", json=document)
            assert answer.status_code == 201
            assert ear.next().body["id"] == document["id"]

        benchmark.pedantic(round_trip, rounds=ROUNDS, warmup_rounds=20)


def test_mqtt_inbox_until_the_recipient_holds_the_notification(benchmark, hub: Hub, subscribe, ear):
    sender = subscribe(f"heila/v1/{SENDER}/outcome")

    def round_trip() -> None:
        document = flexibility(next(numbers))
        sender.publish(f"heila/v1/inbox/{SENDER}", json.dumps(document).encode())
        assert ear.next().body["id"] == document["id"]

    benchmark.pedantic(round_trip, rounds=ROUNDS, warmup_rounds=20)


def test_validate_and_store_in_one_thread(benchmark):
    store = open_store("memory")
    intake = Intake(
        store,
        StoreCommitter(store, lambda _message, _stored: None),
        Roles({}),
        lambda _actor: Signing(),
    )

    def take_in() -> None:
        body = json.dumps(flexibility(next(numbers))).encode()
        intake.submit(body, "application/json", SENDER)

    benchmark.pedantic(take_in, rounds=ROUNDS, warmup_rounds=20)
