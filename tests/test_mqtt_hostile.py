"""Hostile MQTT clients against a real hub over TCP: `heila serve` with its embedded broker, and
the documented Mosquitto.

Each attack must leave the hub answering, its memory bounded and its other clients served.
"""

import json
import queue
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub.app import create_app
from hub.commands.bench import Subscriber
from hub.config import EMBEDDED
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto, free_port
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from tests.conftest import hub_settings, wait_until_connected
from tests.test_server import ROOT, start_on, stop

_WAIT = 10.0
V311 = MQTTProtocolVersion.MQTTv311
LIMITS = {
    "max_message_bytes": 262_144,
    "max_queued_bytes": 65_536,
    "max_queued_messages": 5,
    "connections_per_second": 10,
}


@dataclass
class ServedHub:
    """`heila serve` in its own process, with its embedded broker and three actors."""

    url: str
    mqtt_port: int
    tokens: dict[str, str]
    process: subprocess.Popen[str]
    log: Path

    def login(self, actor: str) -> tuple[str, str]:
        return actor, self.tokens[actor]

    def listen(self, actor: str, topic_filter: str) -> Subscriber:
        return Subscriber("127.0.0.1", self.mqtt_port, topic_filter, V311, self.login(actor))

    def memory_kib(self) -> int:
        """The hub process's resident memory (VmRSS)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])

    def post(self, message: Message) -> None:
        httpx.post(
            f"{self.url}/messages",
            content=message.serialize("application/json"),
            headers={"Authorization": f"Bearer {self.tokens[message.sender]}"}
            | {"content-type": "application/json"},
        ).raise_for_status()

    def stop(self) -> str:
        """Stop the hub; its log."""
        if self.process.poll() is None:
            stop(self.process, signal.SIGTERM)
        return self.log.read_text()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServedHub]:
    tokens = {actor: new_token() for actor in ("spp-1", "dms-1", "mgms-1")}
    mqtt_port = free_port()
    actors = "".join(f'[actors.{a}]\ntoken_hash = "{hash_token(t)}"\n' for a, t in tokens.items())
    bounds = "".join(f"{key} = {value}\n" for key, value in LIMITS.items())
    config = tmp_path / "hub.toml"
    config.write_text(f"[mqtt]\nembedded_port = {mqtt_port}\n{bounds}{actors}")
    flags = ("--config", str(config), "--store", "memory", "--mqtt", EMBEDDED)
    log = tmp_path / "hub.log"
    with log.open("w") as output:
        process, url = start_on(free_port(), *flags, log=output)
    served = ServedHub(url, mqtt_port, tokens, process, log)
    yield served
    served.stop()


@pytest.fixture
def weather(story: list[Message]) -> Message:
    """spp-1's forecast, addressed to dms-1 and mgms-1."""
    return next(m for m in story if m.id == "weather-1")


class Client:
    """A paho client that reports the broker's answers and its own disconnection."""

    def __init__(
        self,
        port: int,
        login: tuple[str, str] | None,
        client_id: str = "",
        *,
        persistent: bool = False,
        protocol: MQTTProtocolVersion = V311,
    ) -> None:
        self.answers: queue.Queue[ReasonCode] = queue.Queue()
        self.heard: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.gone: queue.Queue[ReasonCode] = queue.Queue()
        clean = None if protocol == MQTTProtocolVersion.MQTTv5 else not persistent
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id, protocol=protocol, clean_session=clean
        )
        self._client.on_connect = lambda _c, _u, _f, reason, _p: self.answers.put(reason)
        self._client.on_subscribe = lambda _c, _u, _m, reasons, _p: self.answers.put(reasons[0])
        self._client.on_message = lambda _c, _u, message: self.heard.put(message)
        self._client.on_disconnect = lambda _c, _u, _f, reason, _p: self.gone.put(reason)
        if login is not None:
            self._client.username_pw_set(*login)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self.connack = self.answers.get(timeout=_WAIT)

    def subscribe(self, topic_filter: str) -> ReasonCode:
        self._client.subscribe(topic_filter, qos=1)
        return self.answers.get(timeout=_WAIT)

    def publish(self, topic: str, body: bytes) -> None:
        self._client.publish(topic, body, qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Clients a test opens; closed after it."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def _packet(kind: int, body: bytes) -> bytes:
    size, rest = b"", len(body)
    while True:
        rest, digit = divmod(rest, 128)
        size += bytes([digit | (0x80 if rest else 0)])
        if not rest:
            return bytes([kind]) + size + body


def _text(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def stuck_subscriber(
    hub: ServedHub, actor: str, client_id: str, topic_filter: str
) -> socket.socket:
    """A client that logs in, subscribes at QoS 1, and then never reads again (its receive
    buffer kept small, so that what is sent to it piles up at the hub's end)."""
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect(("127.0.0.1", hub.mqtt_port))
    assert logs_in(connection, hub.login(actor), client_id)
    connection.sendall(_packet(0x82, (1).to_bytes(2, "big") + _text(topic_filter) + b"\x01"))
    assert connection.recv(5) == b"\x90\x03\x00\x01\x01"
    return connection


def invalid_measurement(readings: int) -> bytes:
    """A measurement whose every reading breaks a rule: its refusal is as long as it is."""
    path = Path(__file__).resolve().parent.parent / "examples" / "valid" / "measurement.json"
    document = json.loads(path.read_text())
    reading = document["readings"][0]
    document["references"] = []
    document["readings"] = [reading | {"point": f"p-{n}", "value": "x"} for n in range(readings)]
    return json.dumps(document).encode()


def refuse(ear: Subscriber, body: bytes, times: int) -> None:
    """Have the inbox refuse `body` `times` times over, and hear every refusal."""
    for _ in range(times):
        ear.publish("heila/v1/inbox/mgms-1", body)
    for _ in range(times):
        ear.next(30)


def test_subscribers_that_never_read_are_dropped_and_the_hubs_memory_stays_bounded(hub):
    ear = hub.listen("mgms-1", "heila/v1/mgms-1/outcome")
    refused = invalid_measurement(1000)  # each refusal is about 170 KB
    refuse(ear, refused, 20)  # the hub's working memory for such a round, before measuring
    before = hub.memory_kib()
    stuck = [
        stuck_subscriber(hub, "mgms-1", f"mgms-1-{n}", "heila/v1/mgms-1/outcome") for n in range(4)
    ]
    refuse(ear, refused, 20)  # 3.4 MB for each stuck subscriber
    grown = hub.memory_kib() - before
    ear.stop()
    for connection in stuck:
        connection.close()
    assert hub.stop().count("reads too slowly") == len(stuck)
    assert grown < 8_192


def test_an_oversized_publish_ends_only_the_senders_connection(hub, clients, weather):
    sender = Client(hub.mqtt_port, hub.login("spp-1"))
    clients.append(sender)
    sender.publish("heila/v1/inbox/spp-1", b"{" + b" " * LIMITS["max_message_bytes"] + b"}")
    assert sender.gone.get(timeout=_WAIT).is_failure
    dms = hub.listen("dms-1", "heila/v1/dms-1/#")
    try:
        hub.post(weather)
        assert dms.next().body["id"] == "weather-1"
    finally:
        dms.stop()


def test_a_connection_storm_from_one_address_is_cut_short_and_the_hub_still_answers(hub):
    storm = [socket.create_connection(("127.0.0.1", hub.mqtt_port)) for _ in range(100)]
    admitted = sum(logs_in(connection, hub.login("dms-1")) for connection in storm)
    for connection in storm:
        connection.close()
    assert 0 < admitted <= 2 * LIMITS["connections_per_second"]
    assert httpx.get(f"{hub.url}/health").status_code == 200


def logs_in(connection: socket.socket, login: tuple[str, str], client_id: str = "") -> bool:
    """Whether the broker answers a CONNECT on `connection` with a CONNACK that accepts it."""
    flags = bytes([4, 0b11000010]) + (60).to_bytes(2, "big")  # 3.1.1, username, password, clean
    connect = _packet(
        0x10, _text("MQTT") + flags + _text(client_id) + _text(login[0]) + _text(login[1])
    )
    connection.settimeout(_WAIT)
    try:
        connection.sendall(connect)
        return connection.recv(4) == b"\x20\x02\x00\x00"
    except (ConnectionResetError, BrokenPipeError):
        return False


@pytest.mark.parametrize("persistent", [False, True], ids=["clean", "persistent"])
@pytest.mark.parametrize("impostor", ["spp-1", None], ids=["another-actor", "anonymous"])
def test_an_impostor_cannot_take_an_actors_client_id_and_the_actor_still_hears(
    hub, clients, weather, impostor, persistent
):
    victim = Client(hub.mqtt_port, hub.login("dms-1"), "heila-actor-dms-1", persistent=persistent)
    clients.append(victim)
    assert victim.subscribe("heila/v1/dms-1/#") == 1
    login = hub.login(impostor) if impostor else None
    intruder = Client(hub.mqtt_port, login, "heila-actor-dms-1", persistent=persistent)
    clients.append(intruder)
    hub.post(weather)
    heard = victim.heard.get(timeout=_WAIT)
    assert intruder.connack.is_failure
    assert json.loads(heard.payload)["id"] == "weather-1"
    assert victim.gone.empty()


def test_an_mqtt_5_client_is_told_that_its_version_is_not_spoken(hub, clients):
    client = Client(hub.mqtt_port, hub.login("dms-1"), protocol=MQTTProtocolVersion.MQTTv5)
    clients.append(client)
    assert client.connack.getName() == "Unsupported protocol version"


def test_a_refused_subscription_is_logged_with_its_client_and_topic(hub, clients):
    client = Client(hub.mqtt_port, hub.login("spp-1"), "spp-1-snoop")
    clients.append(client)
    assert client.subscribe("heila/v1/dms-1/#").is_failure
    client.close()
    assert "by spp-1 (client spp-1-snoop) on heila/v1/dms-1/# refused" in hub.stop()


def test_on_the_documented_mosquitto_an_impostor_gets_no_actors_session(
    shared_folder, serve, weather
):
    passwords = {login: new_token() for login in ("heila-hub", "dms-1", "spp-1")}
    password_file = shared_folder / "heila.passwd"
    password_file.touch()
    for login, password in passwords.items():
        subprocess.run(["mosquitto_passwd", "-b", password_file, login, password], check=True)
    documented = (ROOT / "docs" / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    ids_rule = next(line for line in documented if line.startswith("use_username_as_clientid"))
    acl = shutil.copy(ROOT / "docs" / "mosquitto" / "heila.acl", shared_folder)
    access = f"allow_anonymous false\npassword_file {password_file}\nacl_file {acl}\n{ids_rule}\n"
    tokens = {"spp-1": new_token()}
    with Mosquitto(access=access) as broker:
        hub_login = {"mqtt_username": "heila-hub", "mqtt_password": passwords["heila-hub"]}
        url = serve(create_app(hub_settings(broker, tokens, **hub_login), open_store("memory")))
        wait_until_connected(url)
        victim = Client(broker.port, ("dms-1", passwords["dms-1"]), "heila-actor-dms-1")
        intruder = Client(broker.port, ("spp-1", passwords["spp-1"]), "heila-actor-dms-1")
        try:
            assert victim.subscribe("heila/v1/dms-1/#") == 1
            httpx.post(
                f"{url}/messages",
                content=weather.serialize("application/json"),
                headers={"Authorization": f"Bearer {tokens['spp-1']}"}
                | {"content-type": "application/json"},
            ).raise_for_status()
            heard = json.loads(victim.heard.get(timeout=_WAIT).payload)
            kept = victim.gone.empty()
        finally:
            victim.close()
            intruder.close()
    assert (heard["id"], kept) == ("weather-1", True)


def test_a_persistent_session_keeps_only_its_bound_while_its_client_is_away(hub, clients):
    away = Client(hub.mqtt_port, hub.login("spp-1"), "spp-1-away", persistent=True)
    assert away.subscribe("heila/v1/spp-1/outcome") == 1
    away.close()
    sender = hub.listen("spp-1", "heila/v1/spp-1/outcome")
    try:
        for _ in range(LIMITS["max_queued_messages"] + 3):
            sender.publish("heila/v1/inbox/spp-1", b"{")
            sender.next()
    finally:
        sender.stop()
    back = Client(hub.mqtt_port, hub.login("spp-1"), "spp-1-away", persistent=True)
    clients.append(back)
    kept = 0
    while not _silent(back.heard):
        kept += 1
    assert kept == LIMITS["max_queued_messages"]
    assert "MQTT session spp-1-away is full" in hub.stop()


def _silent(heard: queue.Queue[mqtt.MQTTMessage], seconds: float = 1.0) -> bool:
    try:
        heard.get(timeout=seconds)
    except queue.Empty:
        return True
    return False


def test_an_mqtt_3_1_client_is_told_that_its_version_is_not_spoken(hub, clients):
    client = Client(
        hub.mqtt_port, hub.login("dms-1"), "dms-1-old", protocol=MQTTProtocolVersion.MQTTv31
    )
    clients.append(client)
    assert client.connack.getName() == "Unsupported protocol version"
