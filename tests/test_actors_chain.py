"""The actors against a real hub (uvicorn on a free port, real Mosquitto): one product's chain,
Flexibility → Offer → Bid → Offer List → Reserve → Activation → Control Signal → Verification,
every step stored and referring to the step before it."""

import ast
import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Hub

from actors.actor import Actor
from actors.ams import Aggregator
from actors.clock import Clock
from actors.dms import Operator
from actors.fmp import Market
from actors.mgms import MICROGRID, EnergyManager
from actors.spp import forecasts, horizon
from heila_client.hub import HubClient
from heila_client.parts import now

SPEED = 3600.0
"""a modelled hour per real second: the evening peak comes about two seconds after the start"""
ACTORS = Path(__file__).resolve().parent.parent / "actors"


@pytest.fixture
def chain(hub: Hub) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Run MGMS, AMS, FMP and DMS as actors, publish the SPP's forecasts, and answer every
    message stored by type once the Verification has reached the DSO."""
    evening = now() + timedelta(seconds=0.5)
    clock = Clock(evening - timedelta(hours=16) / SPEED, SPEED)

    def actor(identifier: str) -> Actor:
        client = HubClient(hub.url, hub.tokens[identifier])
        return Actor(identifier, client, hub.broker.url, clock)

    running = {name: actor(name) for name in ("mgms-1", "ams-1", "fmp-1", "dms-1")}
    EnergyManager(running["mgms-1"], dataclasses.replace(MICROGRID, field=None), "ams-1", "dms-1")
    Aggregator(running["ams-1"], "fmp-1", margin=0.1)
    Market(running["fmp-1"], gate=timedelta(hours=1))
    Operator(running["dms-1"], "feeder-1", 205.0, {"mgms-1"}, "fmp-1", premium=0.25)
    for started in running.values():
        started.start()
    try:
        assert all(started.ready.wait(10) for started in running.values())
        spp = HubClient(hub.url, hub.tokens["spp-1"])
        ahead = horizon(clock, 16.0, 6.0, 15.0)
        for forecast in forecasts(
            "spp-1", ahead, clock, "feeder-1", ["mgms-1", "dms-1"], ["ams-1", "dms-1"]
        ):
            spp.send(forecast)
        spp.close()
        deadline = time.monotonic() + 30
        while not hub.store.messages(type="VerificationNotification", sender="ams-1"):
            assert time.monotonic() < deadline, "no verification reached the DSO"
            time.sleep(0.1)
        stored: dict[str, list[dict[str, Any]]] = {}
        for entry in hub.store.messages(limit=1000):
            found = hub.store.get(entry.iri)
            assert found is not None
            stored.setdefault(found.type, []).append(found.to_json())
        yield stored
    finally:
        for started in running.values():
            started.stop()


def one(stored: dict[str, list[dict[str, Any]]], kind: str, sender: str) -> dict[str, Any]:
    [found] = [m for m in stored[kind] if m["sender"] == sender]
    return found


def test_a_flexibility_is_offered_bought_activated_and_verified(
    chain: dict[str, list[dict[str, Any]]],
) -> None:
    plan = one(chain, "OperationPlan", "mgms-1")
    flexibility = one(chain, "Flexibility", "mgms-1")
    offer = one(chain, "Offer", "ams-1")
    bid = one(chain, "Bid", "dms-1")
    offer_list = one(chain, "OfferList", "fmp-1")
    reserve = one(chain, "ReserveNotification", "fmp-1")
    ordered = one(chain, "ActivationNotification", "dms-1")
    passed_on = one(chain, "ActivationNotification", "ams-1")
    verified = one(chain, "VerificationNotification", "mgms-1")
    reported = one(chain, "VerificationNotification", "ams-1")

    assert flexibility["operationPlan"] == plan["id"]
    assert (offer["flexibility"], offer["recipients"]) == (flexibility["id"], ["fmp-1"])
    assert offer_list["bid"] == bid["id"]
    assert offer_list["entries"] == [{"rank": 1, "offer": offer["id"]}]
    assert (reserve["offer"], reserve["bid"], reserve["power"]) == (
        offer["id"],
        bid["id"],
        bid["power"],
    )
    assert sorted(reserve["recipients"]) == ["ams-1", "dms-1"]
    assert (ordered["reserve"], ordered["recipients"]) == (reserve["id"], ["ams-1"])
    assert (passed_on["reserve"], passed_on["recipients"]) == (reserve["id"], ["mgms-1"])
    assert (passed_on["references"], passed_on["device"]) == ([ordered["id"]], "battery-1")
    assert verified["activation"] == passed_on["id"]
    assert (reported["activation"], reported["references"]) == (ordered["id"], [verified["id"]])


def test_the_microgrid_drives_its_battery_for_the_window_and_gives_it_back(
    chain: dict[str, list[dict[str, Any]]],
) -> None:
    passed_on = one(chain, "ActivationNotification", "ams-1")
    commands = sorted(chain["ControlSignal"], key=lambda m: m["time"])
    assert [(c["activation"], c["device"], c["setpoint"]) for c in commands] == [
        (passed_on["id"], "battery-1", passed_on["power"]),
        (passed_on["id"], "battery-1", 0.0),
    ]


def test_actors_use_only_the_hubs_public_interfaces() -> None:
    """Actors talk HTTP and MQTT through the client package; they share none of the hub's code
    but what their signer needs: the graph of a plain-JSON message in its canonical form."""
    for path in ACTORS.glob("*.py"):
        if path.name == "demo.py":  # the demo runs the hub; it is no actor
            continue
        allowed = (
            {"hub.model.json_form", "hub.trust.signature"} if path.name == "signing.py" else set()
        )
        tree = ast.parse(path.read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert {m for m in imported if m.split(".")[0] == "hub"} <= allowed, path.name
