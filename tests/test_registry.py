"""The actor registry: a graph of its own, changed by administrators while the hub runs."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.config import Credential
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto
from hub.storage.store import REGISTRY_GRAPH, open_store
from hub.trust.auth import hash_token, new_token
from hub.trust.registry import Registry
from tests.conftest import Hub, Serve, hub_settings, running_hub, wait_until_connected

ADMIN = "operator"


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve) -> Iterator[Hub]:
    """A running hub whose configuration knows only an administrator and dms-1."""
    tokens = {ADMIN: new_token(), "dms-1": new_token()}
    actors = {
        ADMIN: Credential(hash_token(tokens[ADMIN]), admin=True),
        "dms-1": Credential(hash_token(tokens["dms-1"]), party="DSO"),
    }
    with running_hub(mosquitto, serve, tokens, actors=actors) as hub:
        yield hub


@pytest.fixture
def weather(story: list[Message]) -> bytes:
    """spp-1's forecast, which needs no other message stored first."""
    return next(m for m in story if m.id == "weather-1").serialize("application/json")


def post_as(hub: Hub, token: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    return httpx.post(f"{hub.url}/messages", content=body, headers=headers)


def add(hub: Hub, actor: str, role: str) -> httpx.Response:
    body = {"id": actor, "role": role, "party": "Forecasts Ltd"}
    return httpx.post(f"{hub.url}/actors", json=body, headers=hub.auth(ADMIN))


def test_a_token_added_while_the_hub_runs_is_accepted_without_a_restart(hub: Hub, weather):
    answer = add(hub, "spp-1", "SPP")
    assert answer.status_code == 201
    assert post_as(hub, answer.json()["token"], weather).status_code == 201


def test_a_revoked_token_is_refused_at_once(hub: Hub, weather):
    token = add(hub, "spp-1", "SPP").json()["token"]
    assert httpx.delete(f"{hub.url}/actors/spp-1", headers=hub.auth(ADMIN)).status_code == 204
    assert post_as(hub, token, weather).status_code == 401
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 404


def test_a_rotated_out_token_is_refused_and_the_new_one_accepted(hub: Hub, weather):
    old = add(hub, "spp-1", "SPP").json()["token"]
    answer = httpx.post(f"{hub.url}/actors/spp-1/rotate", headers=hub.auth(ADMIN))
    assert post_as(hub, old, weather).status_code == 401
    assert post_as(hub, answer.json()["token"], weather).status_code == 201


def test_only_an_administrator_changes_the_registry(hub: Hub):
    answer = httpx.post(
        f"{hub.url}/actors", json={"id": "spp-2", "role": "SPP"}, headers=hub.auth("dms-1")
    )
    assert answer.status_code == 403
    assert httpx.post(f"{hub.url}/actors", json={"id": "spp-2", "role": "SPP"}).status_code == 401


def test_an_unknown_role_is_refused_naming_the_field(hub: Hub):
    answer = add(hub, "spp-2", "Regulator")
    assert (answer.status_code, answer.json()["field"]) == (422, "role")


def test_an_actor_registered_twice_is_a_conflict(hub: Hub):
    add(hub, "spp-1", "SPP")
    assert add(hub, "spp-1", "SPP").status_code == 409


def test_the_configured_actors_are_in_the_registry_graph_for_any_reader(hub: Hub):
    query = (
        "SELECT ?actor ?party WHERE { GRAPH <" + REGISTRY_GRAPH + "> "
        "{ ?actor <https://w3id.org/heila/ontology#operatorName> ?party } }"
    )
    answer = httpx.get(
        f"{hub.url}/sparql",
        params={"query": query},
        headers={"Accept": "application/sparql-results+json"},
    )
    rows = answer.json()["results"]["bindings"]
    assert [(r["actor"]["value"], r["party"]["value"]) for r in rows] == [
        ("https://w3id.org/heila/actor/dms-1", "DSO")
    ]


def test_the_registry_graph_is_read_only_to_sparql_update(hub: Hub):
    update = (
        f"INSERT DATA {{ GRAPH <{REGISTRY_GRAPH}> {{ <https://w3id.org/heila/actor/x> "
        f'<https://w3id.org/heila/ontology#tokenHash> "sha256$a$b" }} }}'
    )
    answer = httpx.post(f"{hub.url}/sparql", data={"update": update}, headers=hub.auth(ADMIN))
    assert answer.status_code == 400
    assert "read-only" in answer.json()["detail"]


def test_the_listing_shows_roles_and_parties_but_no_hashes(hub: Hub):
    listed = httpx.get(f"{hub.url}/actors", headers=hub.auth(ADMIN)).json()
    assert listed == [
        {"actor": "dms-1", "role": "", "party": "DSO", "token": True, "certificate": False},
        {"actor": ADMIN, "role": "administrator", "party": "", "token": True, "certificate": False},
    ]


def heila(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hub.commands.cli", "actor", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_actor_add_on_a_store_prints_a_token_a_hub_on_that_store_accepts(
    tmp_path: Path, mosquitto: Mosquitto, serve: Serve, weather
):
    store_dir = str(tmp_path / "store")
    added = heila("add", "spp-1", "--role", "SPP", "--store", store_dir)
    assert added.returncode == 0, added.stderr
    token = added.stdout.splitlines()[-1]
    store = open_store(store_dir)
    try:
        kept = store.query(f"SELECT ?o WHERE {{ GRAPH <{REGISTRY_GRAPH}> {{ ?s ?p ?o }} }}")
        assert not any(token in str(row[0]) for row in kept.rows)  # only its salted hash
        assert Registry(store)["spp-1"].role == "SPP"
        url = serve(create_app(hub_settings(mosquitto, {}), store))
        wait_until_connected(url)
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        assert httpx.post(f"{url}/messages", content=weather, headers=headers).status_code == 201
    finally:
        store.close()


def test_actor_revoke_of_an_unknown_actor_says_so_in_one_line(tmp_path: Path):
    answer = heila("revoke", "nobody-1", "--store", str(tmp_path / "store"))
    assert answer.returncode == 2
    assert answer.stderr == "heila actor: no actor 'nobody-1' is registered\n"


def test_actor_list_asks_a_running_hub_as_its_administrator(hub: Hub):
    command = [sys.executable, "-m", "hub.commands.cli", "actor", "list", "--hub", hub.url]
    environment = {**os.environ, "HEILA_TOKEN": hub.tokens[ADMIN]}
    answer = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.splitlines()[0] == "dms-1\t\tDSO\ttoken"


def test_the_inbox_of_a_revoked_actor_takes_nothing_in(hub: Hub, subscribe, weather):
    dms = subscribe("heila/v1/dms-1/outcome")
    assert httpx.delete(f"{hub.url}/actors/dms-1", headers=hub.auth(ADMIN)).status_code == 204
    dms.publish("heila/v1/inbox/dms-1", weather)
    outcome = dms.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "revoked")
