"""Published point maps: checked by their shape, kept in a graph of their own, queryable beside
the readings, published offline into a store or online by an administrator."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bridge_fixtures import relay_map

from actors.bridge import pointmap
from hub.app import create_app
from hub.commands.cli import main
from hub.config import Credential, Settings
from hub.model import pointmaps
from hub.model.errors import QueryRefused
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from tests.conftest import EXAMPLES, Serve

POINT_MAP = EXAMPLES / "pointmap.ttl"
UNIT_OF_A_READING = """SELECT ?unit WHERE {
  ?reading <https://w3id.org/heila/ontology#point> ?point .
  ?point <http://qudt.org/schema/qudt/unit> ?unit .
  FILTER(?point = <https://w3id.org/heila/point/q1-voltage-l1>) }"""


@dataclass(frozen=True)
class Running:
    url: str
    admin: str
    writer: str


@pytest.fixture
def running(mosquitto: Mosquitto, serve: Serve) -> Iterator[Running]:
    admin, writer = new_token(), new_token()
    actors = {
        "operator": Credential(hash_token(admin), admin=True),
        "mgms-1": Credential(hash_token(writer)),
    }
    store = open_store("memory")
    yield Running(
        serve(create_app(Settings(mqtt=mosquitto.url, actors=actors), store)), admin, writer
    )
    store.close()


def test_a_unit_that_does_not_fit_the_quantity_is_refused_naming_the_point(tmp_path: Path):
    wrong = tmp_path / "wrong.ttl"
    text = POINT_MAP.read_text()
    wrong.write_text(
        text.replace("heila:Current ; qudt:unit unit:A", "heila:Current ; qudt:unit unit:V")
    )
    with pytest.raises(pointmaps.PointMapRefused, match="q1-current-l1: the unit"):
        pointmaps.read([wrong])


def test_publishing_again_under_a_name_replaces_what_it_held(tmp_path: Path):
    store = open_store(str(tmp_path / "store"))
    graph = pointmaps.graph_of("example")
    store.publish_point_map(graph, pointmaps.read([POINT_MAP]))
    store.publish_point_map(graph, pointmaps.read([POINT_MAP])[:4])
    assert len(store.query(f"SELECT * WHERE {{ GRAPH {graph} {{ ?s ?p ?o }} }}").rows) == 4


def test_heila_pointmap_publish_makes_a_readings_unit_queryable(tmp_path: Path, story):
    location = str(tmp_path / "store")
    args = ["pointmap", "publish", str(POINT_MAP), "--name", "example", "--store", location]
    assert main(args) == 0
    store = open_store(location)
    for message in story:
        store.put(message)
    assert [row[0].value for row in store.query(UNIT_OF_A_READING).rows] == [
        "http://qudt.org/vocab/unit/V"
    ]


def test_publishing_two_maps_that_command_one_device_is_refused_in_one_line_storing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    rtu, relay = pointmap.default_files()[0], relay_map(tmp_path, "ied-1.")
    location = tmp_path / "store"
    files = ["pointmap", "publish", str(rtu), str(relay), "--name", "field"]
    assert main([*files, "--store", str(location)]) == 2
    [reason] = capsys.readouterr().err.splitlines()
    assert reason.startswith("heila pointmap: device battery-1 is commanded by")
    assert str(rtu) in reason and str(relay) in reason
    assert not location.exists()


def test_an_administrator_publishes_a_point_map_to_a_running_hub(running: Running, tmp_path):
    token = tmp_path / "token"
    token.write_text(running.admin)
    args = ["pointmap", "publish", str(POINT_MAP), "--name", "example"]
    assert main([*args, "--hub", running.url, "--token-file", str(token)]) == 0
    answer = httpx.post(
        f"{running.url}/sparql",
        data={"query": "ASK { GRAPH <https://w3id.org/heila/hub/pointmap/example> { ?s ?p ?o } }"},
    )
    assert answer.json()["boolean"] is True


def put_point_map(running: Running, name: str, body: bytes) -> httpx.Response:
    return httpx.put(
        f"{running.url}/pointmaps/{name}",
        content=body,
        headers={"Authorization": f"Bearer {running.admin}", "Content-Type": "text/turtle"},
        timeout=60,
    )


def point_map_graphs(running: Running) -> list[str]:
    answer = httpx.post(
        f"{running.url}/sparql",
        data={"query": "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"},
        timeout=60,
    )
    graphs = [row["g"]["value"] for row in answer.json()["results"]["bindings"]]
    return [graph for graph in graphs if graph.startswith(pointmaps.GRAPHS)]


def test_a_map_that_describes_a_point_published_under_another_name_is_refused_by_the_hub(
    running: Running,
):
    assert put_point_map(running, "example", POINT_MAP.read_bytes()).status_code == 204
    answer = put_point_map(running, "again", POINT_MAP.read_bytes())
    assert (answer.status_code, answer.json()["rule"], answer.json()["field"]) == (
        409,
        "describedOnce",
        "again",
    )
    assert "point q1-voltage-l1 is described over IEC 104 in example and" in answer.json()["detail"]


def test_a_refused_map_leaves_the_published_maps_as_they_were(running: Running):
    put_point_map(running, "example", POINT_MAP.read_bytes())
    put_point_map(running, "again", POINT_MAP.read_bytes())
    assert point_map_graphs(running) == [pointmaps.GRAPHS + "example"]


def test_a_map_that_commands_a_device_published_under_another_name_is_refused_by_the_hub(
    running: Running, tmp_path: Path
):
    rtu = pointmap.default_files()[0]
    assert put_point_map(running, "rtu", rtu.read_bytes()).status_code == 204
    answer = put_point_map(running, "relay", relay_map(tmp_path, "ied-1.").read_bytes())
    assert answer.status_code == 409
    assert (
        "device battery-1 is commanded by feeder-1.setpoint-command over IEC 104 in rtu"
        in answer.json()["detail"]
    )


def test_republishing_under_its_own_name_is_no_conflict(running: Running):
    assert put_point_map(running, "example", POINT_MAP.read_bytes()).status_code == 204
    assert put_point_map(running, "example", POINT_MAP.read_bytes()).status_code == 204


def _second_name_refused(where: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one line `heila pointmap publish` exits 2 with, publishing under a second name the
    map it just published (`where`: --hub or --store, and their options)."""
    assert main(["pointmap", "publish", str(POINT_MAP), "--name", "example", *where]) == 0
    capsys.readouterr()
    assert main(["pointmap", "publish", str(POINT_MAP), "--name", "again", *where]) == 2
    [reason] = capsys.readouterr().err.splitlines()
    return reason


def test_heila_pointmap_publish_refuses_a_map_another_name_holds_in_one_line(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    token = tmp_path / "token"
    token.write_text(running.admin)
    reason = _second_name_refused(["--hub", running.url, "--token-file", str(token)], capsys)
    assert reason.startswith("heila pointmap: the hub answered 409: ")
    assert "point q1-voltage-l1 is described over IEC 104 in example" in reason


def test_an_actor_who_is_no_administrator_cannot_publish_a_point_map(running: Running):
    answer = httpx.put(
        f"{running.url}/pointmaps/example",
        content=POINT_MAP.read_bytes(),
        headers={"Authorization": f"Bearer {running.writer}"},
    )
    assert answer.status_code == 403


def test_a_point_map_that_breaks_its_shape_is_refused_with_a_problem_report(running: Running):
    answer = httpx.put(
        f"{running.url}/pointmaps/example",
        content=POINT_MAP.read_bytes().replace(b"iec:address 2 ;", b""),
        headers={"Authorization": f"Bearer {running.admin}"},
    )
    assert (answer.status_code, answer.json()["rule"], answer.json()["field"]) == (
        422,
        "pointmap",
        "example",
    )


def test_publishing_offline_refuses_a_map_another_name_holds_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    reason = _second_name_refused(["--store", str(tmp_path / "store")], capsys)
    assert reason.startswith("heila pointmap: ")
    assert "point q1-voltage-l1 is described over IEC 104 in example and" in reason


def test_sparql_update_cannot_touch_a_point_map():
    store = open_store("memory")
    graph = pointmaps.graph_of("example")
    store.publish_point_map(graph, pointmaps.read([POINT_MAP]))
    with pytest.raises(QueryRefused, match="not a message graph"):
        store.update(f"DROP GRAPH {graph}")


def test_a_power_factor_past_one_is_refused_once_its_point_is_published(running: Running):
    publish = httpx.put(
        f"{running.url}/pointmaps/example",
        content=POINT_MAP.read_bytes(),
        headers={"Authorization": f"Bearer {running.admin}", "Content-Type": "text/turtle"},
        timeout=60,
    )
    assert publish.status_code < 300
    measurement = json.loads((EXAMPLES / "valid" / "measurement.json").read_text())
    next(r for r in measurement["readings"] if r["point"] == "q1-power-factor")["value"] = 1.2
    answer = httpx.post(
        f"{running.url}/messages",
        json=measurement,
        headers={"Authorization": f"Bearer {running.writer}"},
        timeout=60,
    )
    assert answer.status_code == 422
    assert [(v["field"], v["rule"]) for v in answer.json()["violations"]] == [
        ("readings[5].value", "powerFactorRange")
    ]
