"""A cluster of hubs over real processes: a three-node NATS JetStream cluster on loopback and
`heila serve` nodes on on-disk stores, reached only over HTTP and MQTT."""

import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.enums import MQTTProtocolVersion as Protocol
from rdflib import Graph, Literal
from rdflib.compare import isomorphic

from hub.cluster.access import authorization, password_variable
from hub.cluster.engine import Access, NatsCluster
from hub.cluster.local import HubNode
from hub.commands.bench import SENDER, Subscriber, flexibility
from hub.commands.cli import main
from hub.config import Credential, Settings
from hub.model.message import Message
from hub.model.vocabulary import HEILA, MESSAGE, XSD
from hub.mqtt.broker import free_port, wait_for_port
from hub.mqtt.broker_access import HUB
from hub.storage.store import LOG_GRAPH
from hub.trust.auth import hash_token, new_token
from hub.web.read_after import APPLIED_SEQUENCE, MIN_SEQUENCE
from tests.conftest import STORY_ACTORS, story_messages
from tests.test_live import Viewer

WAIT = 30.0
ADMIN = "operator"
MQTTv311 = Protocol.MQTTv311
numbers = itertools.count()


@dataclass
class Cluster:
    """NATS nodes, admitting the logins the hub's configuration gives them, and the hub nodes
    joined to them, sharing the actors' tokens."""

    nats: NatsCluster
    folder: Path
    tokens: dict[str, str]
    passwords: dict[str, str]
    hubs: list[HubNode] = field(default_factory=list)

    def ear(self, nats_node: int, actor: str, topic_filter: str) -> Subscriber:
        """`actor` subscribed to `topic_filter` through NATS node `nats_node`'s MQTT."""
        node = self.nats.nodes[nats_node]
        login = (actor, self.passwords[actor])
        return Subscriber(node.host, node.ports.mqtt, topic_filter, MQTTv311, login)

    def add_hub(self, nats_node: int, cluster: str = "") -> HubNode:
        """A new hub node with every NATS server, and MQTT through NATS node `nats_node`;
        `cluster`: more lines for its [cluster] table."""
        hub = HubNode(
            self.folder / f"hub-{len(self.hubs)}",
            self.nats.nodes[nats_node],
            self.nats.urls,
            self.tokens,
            (HUB, self.passwords[HUB]),
            cluster,
            administrators=[ADMIN],
        )
        hub.start()
        self.hubs.append(hub)
        return hub


@contextmanager
def cluster_of(hub_count: int) -> Iterator[Cluster]:
    tokens = {actor: new_token() for actor in (*STORY_ACTORS, ADMIN)}
    passwords = {login: f"pw-{new_token()}" for login in (*tokens, HUB)}
    settings = Settings(actors={actor: Credential(hash_token(t)) for actor, t in tokens.items()})
    access = Access(
        authorization(settings),
        {password_variable(login): password for login, password in passwords.items()},
    )
    with (
        tempfile.TemporaryDirectory(prefix="heila-cluster-") as folder,
        NatsCluster(3, access) as nats,
    ):
        cluster = Cluster(nats, Path(folder), tokens, passwords)
        try:
            for n in range(hub_count):
                cluster.add_hub(n)
            yield cluster
        finally:
            for hub in cluster.hubs:
                hub.stop()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with cluster_of(2) as started:
        yield started


def post(hub: HubNode, body: bytes, sender: str) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/messages",
        content=body,
        headers={**hub.auth(sender), "content-type": "application/json"},
        timeout=WAIT,
    )


def post_message(hub: HubNode, message: Message) -> httpx.Response:
    return post(hub, message.serialize("application/json"), message.sender)


def fresh_flexibility() -> dict[str, Any]:
    number = next(numbers)
    return {**flexibility(number), "id": f"cluster-flex-{number}"}


def post_json(hub: HubNode, document: dict[str, Any]) -> httpx.Response:
    return post(hub, json.dumps(document).encode(), document["sender"])


def listed(hub: HubNode, applied: int) -> list[tuple[str, int]]:
    """Every message the node lists, in its order, once it applied the log up to `applied`."""
    answer = httpx.get(
        f"{hub.url}/messages",
        params={"limit": 1000},
        headers={MIN_SEQUENCE: str(applied)},
        timeout=WAIT,
    )
    assert answer.status_code == 200, answer.text
    return [(item["iri"], item["sequence"]) for item in answer.json()["items"]]


def post_story(cluster: Cluster) -> int:
    """Post the story, each message to the next node; the last sequence answered."""
    last = 0
    for message, hub in zip(story_messages(), itertools.cycle(cluster.hubs), strict=False):
        answer = post_message(hub, message)
        assert answer.status_code in (200, 201), answer.text
        last = max(last, answer.json()["sequence"])
    return last


def test_a_message_posted_to_one_node_is_readable_from_every_node(cluster: Cluster) -> None:
    first, second = cluster.hubs
    answer = post_json(first, fresh_flexibility())
    assert answer.status_code == 201, answer.text
    written = answer.json()
    read = httpx.get(
        f"{second.url}/messages/{written['id']}",
        headers={MIN_SEQUENCE: str(written["sequence"]), "accept": "application/json"},
        timeout=WAIT,
    )
    assert read.status_code == 200, read.text
    assert read.json()["id"] == written["id"]


def test_every_node_lists_the_messages_in_the_same_order(cluster: Cluster) -> None:
    last = post_story(cluster)
    first, second = (listed(hub, last) for hub in cluster.hubs)
    sequences = [sequence for _iri, sequence in first]
    assert first == second
    assert sequences == sorted(set(sequences))
    assert {message.iri for message in story_messages()} <= {iri for iri, _ in first}


def test_an_actor_subscribed_through_node_2_hears_what_was_posted_to_node_1(
    cluster: Cluster,
) -> None:
    ear = cluster.ear(1, "ams-1", "heila/v1/ams-1/#")
    try:
        document = fresh_flexibility()
        answer = post_json(cluster.hubs[0], document)
        assert answer.status_code == 201, answer.text
        heard = ear.next(WAIT)
        while heard.body["id"] != document["id"]:
            heard = ear.next(WAIT)
        assert heard.body["sequence"] == answer.json()["sequence"]
    finally:
        ear.stop()


def test_a_live_viewer_of_node_2_sees_what_was_posted_to_node_1(cluster: Cluster) -> None:
    viewer = Viewer(cluster.hubs[1].url)
    try:
        document = fresh_flexibility()
        answer = post_json(cluster.hubs[0], document)
        assert answer.status_code == 201, answer.text
        event = viewer.next(WAIT)
        while event["id"] != document["id"]:
            event = viewer.next(WAIT)
        assert event["event_id"] == str(answer.json()["sequence"])
    finally:
        viewer.close()


def test_an_inbox_message_is_taken_in_by_one_node_only(cluster: Cluster) -> None:
    actor = cluster.ear(1, SENDER, f"heila/v1/{SENDER}/outcome")
    try:
        document = fresh_flexibility()
        actor.publish(f"heila/v1/inbox/{SENDER}", json.dumps(document).encode())
        outcome = actor.next(WAIT).body
        assert (outcome["id"], outcome["status"]) == (document["id"], "stored")
        assert actor.silent(3.0)
    finally:
        actor.stop()


def test_inbox_messages_are_taken_in_the_order_they_were_sent(cluster: Cluster) -> None:
    actor = cluster.ear(0, SENDER, f"heila/v1/{SENDER}/outcome")
    try:
        documents = [fresh_flexibility() for _ in range(6)]
        for document in documents:
            actor.publish(f"heila/v1/inbox/{SENDER}", json.dumps(document).encode())
        outcomes = [actor.next(WAIT).body for _ in documents]
        assert [o["id"] for o in outcomes] == [d["id"] for d in documents]
        assert {o["status"] for o in outcomes} == {"stored"}
    finally:
        actor.stop()


def add_actor(hub: HubNode, actor: str) -> httpx.Response:
    """Register an MGMS through `hub`, as its administrator."""
    body = {"id": actor, "role": "MGMS"}
    return httpx.post(f"{hub.url}/actors", json=body, headers=hub.auth(ADMIN), timeout=WAIT)


def post_as(hub: HubNode, token: str, document: dict[str, Any], applied: str) -> httpx.Response:
    """Post with `token` once `hub` has applied the log up to `applied`."""
    headers = {"Authorization": f"Bearer {token}", MIN_SEQUENCE: applied}
    return httpx.post(f"{hub.url}/messages", json=document, headers=headers, timeout=WAIT)


def test_a_token_added_through_node_1_works_on_node_2(cluster: Cluster) -> None:
    added = add_actor(cluster.hubs[0], "mgms-added")
    assert added.status_code == 201, added.text
    document = {**fresh_flexibility(), "sender": "mgms-added"}
    answer = post_as(
        cluster.hubs[1], added.json()["token"], document, added.headers[APPLIED_SEQUENCE]
    )
    assert answer.status_code == 201, answer.text


def test_an_actor_revoked_through_node_2_is_refused_on_node_1(cluster: Cluster) -> None:
    first, second = cluster.hubs[:2]
    token = add_actor(first, "mgms-revoked").json()["token"]
    revoked = httpx.delete(f"{second.url}/actors/mgms-revoked", headers=second.auth(ADMIN))
    assert revoked.status_code == 204, revoked.text
    document = {**fresh_flexibility(), "sender": "mgms-revoked"}
    answer = post_as(first, token, document, revoked.headers[APPLIED_SEQUENCE])
    assert answer.status_code == 401, answer.text


def test_a_known_id_with_other_content_is_refused_on_another_node(cluster: Cluster) -> None:
    document = fresh_flexibility()
    assert post_json(cluster.hubs[0], document).status_code == 201
    answer = post_json(cluster.hubs[1], {**document, "power": 99.0})
    assert answer.status_code == 409, answer.text
    assert answer.json()["rule"] == "unique"


def test_the_same_message_posted_again_to_another_node_is_no_second_commit(
    cluster: Cluster,
) -> None:
    document = fresh_flexibility()
    first = post_json(cluster.hubs[0], document)
    again = post_json(cluster.hubs[1], document)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["sequence"] == first.json()["sequence"]


def test_a_new_hub_node_catches_up_by_replay(cluster: Cluster) -> None:
    last = post_story(cluster)
    newcomer = cluster.add_hub(2)
    assert listed(newcomer, last) == listed(cluster.hubs[0], last)


def test_a_sparql_update_on_a_cluster_node_is_refused_naming_the_rule(cluster: Cluster) -> None:
    hub = cluster.hubs[0]
    answer = httpx.post(
        f"{hub.url}/sparql",
        content="INSERT DATA { GRAPH <https://w3id.org/heila/message/x> { <a:b> <a:c> 1 } }",
        headers={**hub.auth(SENDER), "content-type": "application/sparql-update"},
        timeout=WAIT,
    )
    assert answer.status_code == 400
    assert answer.json()["rule"] == "cluster"


def test_a_node_says_in_each_answer_how_far_it_has_applied_the_log(cluster: Cluster) -> None:
    written = post_json(cluster.hubs[0], fresh_flexibility()).json()
    answer = httpx.get(
        f"{cluster.hubs[1].url}/health", headers={MIN_SEQUENCE: str(written["sequence"])}
    )
    assert int(answer.headers[APPLIED_SEQUENCE]) >= written["sequence"]


def test_a_min_sequence_that_is_no_number_is_refused_naming_the_header(cluster: Cluster) -> None:
    answer = httpx.get(f"{cluster.hubs[0].url}/messages", headers={MIN_SEQUENCE: "soon"})
    assert answer.status_code == 400
    assert answer.json()["field"] == MIN_SEQUENCE


class Writer:
    """Posts messages one after another to the live nodes in turn, as a load balancer would,
    trying the next node when one does not answer; remembers what was acknowledged."""

    def __init__(self, hubs: list[HubNode], count: int) -> None:
        self.hubs = hubs
        self.documents = [fresh_flexibility() for _ in range(count)]
        self.acknowledged: dict[str, int] = {}
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._write)
        self.progress = threading.Semaphore(0)

    def _write(self) -> None:
        turn = itertools.cycle(self.hubs)
        for document in self.documents:
            for hub in itertools.islice(turn, 10 * len(self.hubs)):
                try:
                    answer = post_json(hub, document)
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                    continue
                if answer.status_code in (200, 201):
                    self.acknowledged[document["id"]] = answer.json()["sequence"]
                    self.progress.release()
                    break
                self.failures.append(answer.text)


def hear_until(ear: Subscriber, wanted: set[str]) -> dict[str, set[int]]:
    """The sequences heard for each message id, until every wanted one was heard or nothing
    more comes within WAIT."""
    heard: dict[str, set[int]] = {}
    while not wanted <= heard.keys():
        try:
            body = ear.next(WAIT).body
        except TimeoutError:
            break
        heard.setdefault(body["id"], set()).add(body["sequence"])
    return heard


def test_killing_a_nats_node_and_a_hub_node_mid_stream_loses_no_acknowledged_message() -> None:
    with cluster_of(0) as cluster:
        survivor = cluster.add_hub(1)  # its MQTT through NATS node 2
        doomed = cluster.add_hub(2)
        ear = cluster.ear(2, "ams-1", "heila/v1/ams-1/#")
        try:
            writer = Writer([survivor, doomed], 60)
            writer.thread.start()
            for _ in range(20):
                assert writer.progress.acquire(timeout=WAIT), writer.failures
            cluster.nats.nodes[0].stop()
            doomed.kill()
            writer.thread.join(4 * WAIT)
            heard = hear_until(ear, set(writer.acknowledged))
        finally:
            ear.stop()
        stored = dict(listed(survivor, max(writer.acknowledged.values())))
        assert len(writer.acknowledged) == len(writer.documents), writer.failures
        for identifier, sequence in writer.acknowledged.items():
            assert stored[MESSAGE + identifier] == sequence
            assert heard.get(identifier) == {sequence}


def mqtt_login(cluster: Cluster, login: tuple[str, str] | None) -> mqtt.ReasonCode | None:
    """What NATS node 1's MQTT listener answers to a CONNECT with this login (None: none)."""
    node = cluster.nats.nodes[0]
    answered = threading.Event()
    reasons: list[mqtt.ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTv311)

    def on_connect(*arguments: Any) -> None:
        reasons.append(arguments[3])
        answered.set()

    client.on_connect = on_connect
    if login is not None:
        client.username_pw_set(*login)
    client.connect(node.host, node.ports.mqtt)
    client.loop_start()
    answered.wait(WAIT)
    client.disconnect()
    client.loop_stop()
    return reasons[0] if reasons else None


def test_nats_refuses_an_mqtt_client_without_a_login(cluster: Cluster) -> None:
    reason = mqtt_login(cluster, None)
    assert reason is not None and reason.is_failure


def test_nats_admits_an_actor_with_the_password_its_configuration_names(cluster: Cluster) -> None:
    reason = mqtt_login(cluster, ("ams-1", cluster.passwords["ams-1"]))
    assert reason is not None and not reason.is_failure


def test_an_actor_does_not_hear_the_notifications_of_another_through_nats(
    cluster: Cluster,
) -> None:
    spy = cluster.ear(0, "fmp-1", "heila/v1/ams-1/#")
    listener = cluster.ear(0, "ams-1", "heila/v1/ams-1/#")
    try:
        document = fresh_flexibility()
        assert post_json(cluster.hubs[0], document).status_code == 201
        while listener.next(WAIT).body["id"] != document["id"]:
            pass
        assert spy.silent(2.0)
    finally:
        spy.stop()
        listener.stop()


@pytest.mark.parametrize(
    ("configuration", "reason"),
    [
        ('[cluster]\nnats = ["nats://127.0.0.1:1"]\n', "[mqtt] url"),
        ('[cluster]\nnats = ["http://127.0.0.1:1"]\n', "no nats:// URL"),
        ("[cluster]\nreplicas = 0\n", "cluster_replicas must be positive"),
        ('[cluster]\nremote_username = "heila"\n', "remote_password"),
    ],
)
def test_a_cluster_setting_that_cannot_work_stops_the_hub_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], configuration: str, reason: str
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(configuration, encoding="utf-8")
    assert main(["serve", "--config", str(config), "--store", "memory"]) == 2
    error = capsys.readouterr().err
    assert reason in error
    assert len(error.strip().splitlines()) == 1


@dataclass(frozen=True)
class RemoteStore:
    """A SPARQL store started by a test: the [cluster] lines that make a node copy its graph
    there, and the endpoint where anyone may query it."""

    settings: str
    query: str


def remote_settings(
    query: str, update: str, graph_store: str, login: tuple[str, str] | None = None
) -> str:
    lines = [
        f'remote_query = "{query}"',
        f'remote_update = "{update}"',
        f'remote_graph_store = "{graph_store}"',
    ]
    if login is not None:
        lines += [f'remote_username = "{login[0]}"', f'remote_password = "{login[1]}"']
    return "\n".join(lines)


@contextmanager
def serving(command: list[str], port: int, folder: Path) -> Iterator[None]:
    """A server process started in `folder`, once it listens on `port`; stopped after."""
    process = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for_port("127.0.0.1", port, lambda: process.poll() is None, 4 * WAIT)
        yield
    finally:
        process.terminate()
        process.wait(WAIT)


@pytest.fixture
def oxigraph_server(tmp_path: Path) -> Iterator[RemoteStore]:
    """An Oxigraph server (PyPI `oxigraph`) on a free port, storing on disk, open to all."""
    binary = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    port = free_port()
    command = [binary, "serve", "--location", str(tmp_path / "oxigraph")]
    with serving([*command, "--bind", f"127.0.0.1:{port}"], port, tmp_path):
        base = f"http://127.0.0.1:{port}"
        yield RemoteStore(
            remote_settings(f"{base}/query", f"{base}/update", f"{base}/store"), f"{base}/query"
        )


VIRTUOSO_INI = """
[Database]
DatabaseFile = {folder}/virtuoso.db
ErrorLogFile = {folder}/virtuoso.log
LockFile = {folder}/virtuoso.lck
TransactionFile = {folder}/virtuoso.trx
xa_persistent_file = {folder}/virtuoso.pxa
[TempDatabase]
DatabaseFile = {folder}/virtuoso-temp.db
TransactionFile = {folder}/virtuoso-temp.trx
[Parameters]
ServerPort = 127.0.0.1:{sql}
NumberOfBuffers = 4000
MaxDirtyBuffers = 3000
DirsAllowed = {folder}
[HTTPServer]
ServerPort = 127.0.0.1:{http}
ServerRoot = {folder}
ServerThreads = 4
"""


@pytest.fixture
def virtuoso(tmp_path: Path) -> Iterator[RemoteStore]:
    """Debian's Virtuoso on free ports, its database in a folder of its own: anyone may query
    at /sparql; updates take a user of ours, by HTTP Digest, and the administrator's
    well-known password is changed before the first update."""
    binary, isql = shutil.which("virtuoso-t"), shutil.which("isql-vt")
    if binary is None or isql is None:
        pytest.skip("Virtuoso is not installed (scripts/system-packages installs it)")
    sql, http = free_port(), free_port()
    ini = tmp_path / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(folder=tmp_path, sql=sql, http=http), encoding="utf-8")
    with serving([binary, "+configfile", str(ini), "+foreground"], sql, tmp_path):
        login = ("heila", f"pw-{new_token()}")
        statements = (
            f"DB.DBA.USER_CREATE('{login[0]}', '{login[1]}'); "
            f'GRANT SPARQL_UPDATE TO "{login[0]}"; '
            f'SET PASSWORD "dba" "pw-{new_token()}";'
        )
        subprocess.run(
            [isql, f"127.0.0.1:{sql}", "dba", "dba", f"exec={statements}"],
            check=True,
            capture_output=True,
            timeout=WAIT,
        )
        base = f"http://127.0.0.1:{http}"
        yield RemoteStore(
            remote_settings(
                f"{base}/sparql-auth",
                f"{base}/sparql-auth",
                f"{base}/sparql-graph-crud-auth",
                login,
            ),
            f"{base}/sparql",
        )


def remote_log(store: RemoteStore) -> list[tuple[str, int]]:
    """The log graph of the remote store, in sequence order."""
    answer = httpx.post(
        store.query,
        data={
            "query": f"SELECT ?m ?n WHERE {{ GRAPH <{LOG_GRAPH}> {{ ?m <{HEILA}sequence> ?n }} "
            f"FILTER EXISTS {{ GRAPH ?m {{ ?m a ?type }} }} }} ORDER BY ?n"
        },
        headers={"accept": "application/sparql-results+json"},
        timeout=WAIT,
    )
    answer.raise_for_status()
    rows = answer.json()["results"]["bindings"]
    return [(row["m"]["value"], int(row["n"]["value"])) for row in rows]


def copying_node(cluster: Cluster, remote: RemoteStore) -> tuple[HubNode, list[tuple[str, int]]]:
    """A new node that copies to `remote`, and its log, once the remote store has it all."""
    last = post_story(cluster)
    node = cluster.add_hub(2, remote.settings)
    expected = listed(node, last)
    deadline = time.monotonic() + WAIT
    while remote_log(remote) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return node, expected


def remote_graph(remote: RemoteStore, iri: str) -> Graph:
    answer = httpx.post(
        remote.query,
        data={"query": f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}"},
        headers={"accept": "application/n-triples"},
        timeout=WAIT,
    )
    answer.raise_for_status()
    return Graph().parse(data=answer.text, format="nt")


def node_graph(node: HubNode, iri: str) -> Graph:
    identifier = iri.removeprefix(MESSAGE)
    answer = httpx.get(
        f"{node.url}/messages/{identifier}", headers={"accept": "application/n-triples"}
    )
    answer.raise_for_status()
    return Graph().parse(data=answer.text, format="nt")


@pytest.mark.parametrize("server", ["oxigraph_server", "virtuoso"])
def test_a_remote_sparql_store_holds_what_the_node_holds_in_the_same_order(
    cluster: Cluster, server: str, request: pytest.FixtureRequest
) -> None:
    remote: RemoteStore = request.getfixturevalue(server)
    _node, expected = copying_node(cluster, remote)
    assert remote_log(remote) == expected


def holds_a_duration(graph: Graph) -> bool:
    return any(
        isinstance(o, Literal) and str(o.datatype) == f"{XSD}duration" for o in graph.objects()
    )


@pytest.mark.parametrize(
    ("server", "keeps_durations"), [("oxigraph_server", True), ("virtuoso", False)]
)
def test_a_remote_sparql_store_holds_each_message_as_the_node_does(
    cluster: Cluster, server: str, keeps_durations: bool, request: pytest.FixtureRequest
) -> None:
    """All but one difference: Virtuoso 7.2 keeps an xsd:duration as its seconds ("PT1H"
    comes back as "3600.0"), so the messages holding one differ there."""
    remote: RemoteStore = request.getfixturevalue(server)
    node, expected = copying_node(cluster, remote)
    graphs = {iri: node_graph(node, iri) for iri, _sequence in expected}
    differing = [
        iri for iri, graph in graphs.items() if not isomorphic(graph, remote_graph(remote, iri))
    ]
    with_durations = [iri for iri, graph in graphs.items() if holds_a_duration(graph)]
    assert with_durations, "the story holds durations"
    assert differing == ([] if keeps_durations else with_durations)


def test_a_nats_server_whose_port_was_taken_meanwhile_starts_on_other_ports() -> None:
    servers = NatsCluster(3)
    taken = servers.nodes[1].ports.route
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        with servers:
            assert servers.nodes[1].ports.route != taken
            assert all(node.ready() for node in servers.nodes)


def test_a_hub_node_whose_port_was_taken_meanwhile_starts_on_another(tmp_path: Path) -> None:
    absent = NatsCluster(3)  # never started: the node serves without reaching the log
    hub = HubNode(tmp_path / "hub", absent.nodes[0], absent.urls, {SENDER: new_token()})
    taken = hub.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        hub.start(reaching_the_log=False)
        try:
            assert hub.port != taken
            assert httpx.get(f"{hub.url}/health", timeout=WAIT).status_code == 200
        finally:
            hub.stop()
            absent.stop()


def test_a_node_whose_nats_is_away_serves_reads_and_refuses_writes_naming_the_rule(
    tmp_path: Path,
) -> None:
    absent = NatsCluster(3)  # never started: nothing listens on its ports
    tokens = {SENDER: new_token()}
    hub = HubNode(tmp_path / "hub", absent.nodes[0], absent.urls, tokens)
    hub.start(reaching_the_log=False)
    try:
        assert httpx.get(f"{hub.url}/messages", timeout=WAIT).status_code == 200
        answer = post(hub, json.dumps(flexibility(next(numbers))).encode(), SENDER)
        assert answer.status_code == 503
        assert answer.json()["rule"] == "quorum"
    finally:
        hub.stop()
        absent.stop()
