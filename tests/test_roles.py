"""Roles from the ontology: an actor sends only what its role sends, to roles that receive it."""

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.config import ConfigError, Credential, load_settings
from hub.model.message import Message
from hub.model.vocabulary import HEILA, MESSAGE
from hub.mqtt.broker import Mosquitto
from hub.storage.store import Store, open_store
from hub.trust.auth import hash_token, new_token
from hub.trust.roles import Roles, flows
from tests.conftest import STORY_ACTORS, Hub, Serve, hub_settings, wait_until_connected

CONTROL_ROOM = "control-room-1"
"""The DSO's control room: its id names no role, it is given the DMS's."""
ROLES = {"cems-1": None, "reader": "researcher", "operator": "administrator", CONTROL_ROOM: "DMS"}


@pytest.fixture
def hub(mosquitto: Mosquitto, serve: Serve) -> Iterator[Hub]:
    """The story's actors, a CEMS, a researcher and an administrator, on a real hub."""
    tokens = {actor: new_token() for actor in (*STORY_ACTORS, *ROLES)}
    actors = {
        actor: Credential(hash_token(token), role=ROLES.get(actor))
        for actor, token in tokens.items()
    }
    store = open_store("memory")
    url = serve(create_app(hub_settings(mosquitto, tokens, actors=actors), store))
    wait_until_connected(url)
    yield Hub(url, store, tokens, mosquitto)
    store.close()


def dumped(store: Store) -> list[str]:
    out = io.BytesIO()
    store.dump(out)
    return sorted(out.getvalue().decode().splitlines())


def post(hub: Hub, document: dict[str, object], actor: str) -> httpx.Response:
    return httpx.post(f"{hub.url}/messages", json=document, headers=hub.auth(actor))


def post_story_until(hub: Hub, story: list[Message], last: str) -> None:
    """Post the story from its senders up to and without the message `last`."""
    for message in story:
        if message.id == last:
            return
        assert post(hub, message.to_json(), message.sender).status_code == 201, message.id


def as_sent_by(story: list[Message], identifier: str, actor: str) -> dict[str, object]:
    document = next(m for m in story if m.id == identifier).to_json()
    return {**document, "sender": actor}


def test_the_whole_story_is_accepted_from_its_senders(hub: Hub, story):
    post_story_until(hub, story, last="")
    assert len(httpx.get(f"{hub.url}/messages").json()["items"]) == len(story)


def test_a_cems_posting_a_reserve_notification_is_refused_and_nothing_is_stored(hub: Hub, story):
    post_story_until(hub, story, last="reserve-1")
    before = dumped(hub.store)
    answer = post(hub, as_sent_by(story, "reserve-1", "cems-1"), "cems-1")
    assert answer.status_code == 403
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("role", "type")
    assert "cems-1 acts as CEMS, which sends " in problem["detail"]
    assert problem["detail"].endswith("; not ReserveNotification")
    assert dumped(hub.store) == before


def test_an_ams_placing_a_bid_is_refused_and_nothing_is_stored(hub: Hub, story):
    post_story_until(hub, story, last="bid-1")
    before = dumped(hub.store)
    answer = post(hub, as_sent_by(story, "bid-1", "ams-1"), "ams-1")
    assert answer.status_code == 403
    assert (answer.json()["rule"], answer.json()["field"]) == ("role", "type")
    assert dumped(hub.store) == before


def test_the_mqtt_inbox_refuses_what_the_role_never_sends(hub: Hub, subscribe, story):
    cems = subscribe("heila/v1/cems-1/outcome")
    cems.publish(
        "heila/v1/inbox/cems-1", json.dumps(as_sent_by(story, "weather-1", "cems-1")).encode()
    )
    outcome = cems.next().body
    assert (outcome["status"], outcome["violations"][0]["rule"]) == ("rejected", "role")
    assert outcome["violations"][0]["field"] == "type"
    assert httpx.get(f"{hub.url}/messages/weather-1").status_code == 404


def test_a_message_to_a_role_that_never_receives_its_type_is_refused(hub: Hub, story):
    post_story_until(hub, story, last="bid-1")
    document = {**as_sent_by(story, "bid-1", "dms-1"), "recipients": ["mgms-1"]}
    answer = post(hub, document, "dms-1")
    assert answer.status_code == 403
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("role", "recipients")
    assert "a Bid from DMS goes to FMP; not to mgms-1, which acts as MGMS" in problem["detail"]


def test_a_control_room_acting_as_the_dms_may_send_everything_the_dms_sends(hub: Hub, story):
    for message in story:
        sender = CONTROL_ROOM if message.sender == "dms-1" else message.sender
        assert post(hub, as_sent_by(story, message.id, sender), sender).status_code == 201


def test_a_control_room_may_command_a_microgrids_devices_through_its_mgms(hub: Hub, story):
    post_story_until(hub, story, last="control-1")
    document = {**as_sent_by(story, "control-1", CONTROL_ROOM), "recipients": ["mgms-1"]}
    assert post(hub, document, CONTROL_ROOM).status_code == 201


def test_a_control_room_is_refused_what_the_dms_never_sends(hub: Hub, story):
    post_story_until(hub, story, last="flex-1")
    answer = post(hub, as_sent_by(story, "flex-1", CONTROL_ROOM), CONTROL_ROOM)
    assert answer.status_code == 403
    problem = answer.json()
    assert (problem["rule"], problem["field"]) == ("role", "type")
    assert problem["detail"] == (
        "control-room-1 acts as DMS, which sends ActivationNotification, Bid, ControlSignal, "
        "VerificationNotification; not Flexibility"
    )


def test_a_control_room_may_not_command_a_device_past_its_mgms(hub: Hub, story):
    post_story_until(hub, story, last="control-1")
    document = {**as_sent_by(story, "control-1", CONTROL_ROOM), "recipients": ["ied-1"]}
    answer = post(hub, document, CONTROL_ROOM)
    assert answer.status_code == 403
    assert (answer.json()["rule"], answer.json()["field"]) == ("role", "recipients")
    assert "a ControlSignal from DMS goes to MGMS; not to ied-1" in answer.json()["detail"]


def test_a_researcher_cannot_post_a_message(hub: Hub, story):
    answer = post(hub, as_sent_by(story, "weather-1", "reader"), "reader")
    assert answer.status_code == 403
    assert answer.json()["rule"] == "role"
    assert httpx.get(f"{hub.url}/messages").json()["items"] == []


UPDATE = f"INSERT DATA {{ GRAPH <{MESSAGE}x> {{ <{MESSAGE}x> a <{HEILA}Offer> }} }}"


def test_a_researchers_sparql_update_is_refused(hub: Hub):
    before = dumped(hub.store)
    answer = httpx.post(f"{hub.url}/sparql", data={"update": UPDATE}, headers=hub.auth("reader"))
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("/not-administrator")
    assert dumped(hub.store) == before


def test_an_actors_sparql_update_is_refused_even_for_its_own_message(hub: Hub, story):
    post_story_until(hub, story, last="bid-1")
    before = dumped(hub.store)
    update = f"DROP GRAPH <{MESSAGE}priceforecast-1>"
    answer = httpx.post(f"{hub.url}/sparql", data={"update": update}, headers=hub.auth("spp-1"))
    assert answer.status_code == 403
    assert dumped(hub.store) == before


def test_an_administrator_may_update_by_sparql(hub: Hub):
    update = "DROP SILENT GRAPH <https://example.org/nothing>"
    answer = httpx.post(f"{hub.url}/sparql", data={"update": update}, headers=hub.auth("operator"))
    assert answer.status_code == 204


def test_an_actor_without_a_role_acts_as_the_role_its_id_names():
    assert Roles({"mgms-7": Credential(hash_token(new_token()))}).role("mgms-7") == "MGMS"


def test_admin_true_makes_an_administrator():
    roles = Roles({"operator": Credential(hash_token(new_token()), admin=True)})
    assert roles.is_administrator("operator")


def test_a_role_the_ontology_does_not_know_is_refused_at_start_up():
    with pytest.raises(ConfigError, match=r"\[actors.x-1\] role 'Regulator' is none of"):
        Roles({"x-1": Credential(hash_token(new_token()), role="Regulator")})


def test_the_roles_are_the_ontologys_flows():
    assert ("Offer", "AMS", "FMP") in flows()
    assert not any(sender == "CEMS" and obj == "ReserveNotification" for obj, sender, _ in flows())


def test_the_role_key_is_read_from_the_configuration(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text(f'[actors.reader]\ntoken_hash = "{hash_token("t")}"\nrole = "researcher"\n')
    assert load_settings(config).actors["reader"].role == "researcher"


def test_the_demos_field_bridge_may_report_a_command_to_its_mgms(story):
    signal = next(m for m in story if m.type == "ControlSignal")
    as_field = replace(signal, sender="ied-1", recipients=("mgms-1",))
    Roles({}).check(as_field)
