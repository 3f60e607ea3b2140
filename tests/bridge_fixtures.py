"""Fixtures of the field bridge's tests: a real hub, a real Mosquitto, a simulated substation.

Everything runs over real sockets on free ports; timeouts and back-offs are short so that the
fault tests stay quick.
"""

import contextlib
import functools
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from actors.bridge import pointmap
from actors.bridge.control import Outcome
from actors.bridge.iec104.link import Tls
from actors.bridge.iec61850 import scl
from actors.bridge.main import Bridge, Settings
from hub.app import create_app
from hub.config import ORDERS, Credential
from hub.config import Settings as HubSettings
from hub.model import pointmaps
from hub.mqtt.broker import Mosquitto, free_port
from hub.storage.store import OxigraphStore, open_store
from hub.trust.auth import hash_token
from hub.trust.certificates import issue
from substation import config as substation_config
from substation.ied import Ied
from substation.server import Substation

ACTOR = "mgms-1"
DSO = "control-room-1"
"""who orders the microgrid here: the DSO's control room, which acts as its DMS and commands the
microgrid's devices through the MGMS (the ontology's Control Signal from DMS to MGMS)"""
AGGREGATOR = "ams-1"
"""who passes the DSO's activation on to the microgrid, as the ontology's flows have it"""
TOKENS = {actor: f"{actor}-token" for actor in (ACTOR, DSO, "dms-1", AGGREGATOR, "fmp-1", "spp-1")}
ROLES = {DSO: "DMS"}
"""roles that the ids do not name"""
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "valid"


def eventually(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until `condition()` is truthy; its value, or an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)


@dataclass
class FieldHub:
    """The real hub under uvicorn, which a test can stop and start again on the same port."""

    mqtt: str
    store: OxigraphStore
    port: int = field(default_factory=free_port)
    notify_payload: frozenset[str] = ORDERS
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, name: str, path: Path) -> Path:
        """The point map at `path`, published under `name`: its points' quantities and units
        reach the readings that name them."""
        self.store.publish_point_map(pointmaps.graph_of(name), pointmaps.read([path]))
        return path

    def start(self) -> None:
        settings = HubSettings(
            port=self.port,
            mqtt=self.mqtt,
            actors={a: Credential(hash_token(t), role=ROLES.get(a)) for a, t in TOKENS.items()},
            notify_payload=self.notify_payload,
        )
        config = uvicorn.Config(
            create_app(settings, self.store), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        eventually(lambda: self._server is not None and self._server.started, 10)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def tell_story(self) -> None:
        """Store the example story (offers, bid, reserve-1, ...) that activations build on."""
        story = [json.loads(path.read_text()) for path in EXAMPLES.glob("*.json")]
        for message in sorted(story, key=lambda m: datetime.fromisoformat(m["time"])):
            response = self.post(message["sender"], message)
            assert response.status_code == 201, response.text

    def post(self, actor: str, message: dict[str, Any]) -> httpx.Response:
        """Send a message as `actor`, as that actor's own system would."""
        headers = {"Authorization": f"Bearer {TOKENS[actor]}"}
        return httpx.post(f"{self.url}/messages", json=message, headers=headers, timeout=10)

    def select(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of a SPARQL SELECT over the hub's store, as Python values."""
        prefixes = (
            "PREFIX heila: <https://w3id.org/heila/ontology#>\n"
            "PREFIX qudt: <http://qudt.org/schema/qudt/>\n"
            "PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>\n"
        )
        result = self.store.query(prefixes + query)
        return [tuple(None if t is None else t.value for t in row) for row in result.rows]


@pytest.fixture
def field_hub(mosquitto: Mosquitto) -> Iterator[FieldHub]:
    """A hub knowing the microgrid and the DSO, on the tests' Mosquitto, in memory."""
    running = FieldHub(mosquitto.url, open_store("memory"))
    running.start()
    yield running
    running.stop()


def station_config(
    stations: tuple[str, ...] = ("substation-1",),
) -> substation_config.SubstationConfig:
    """The shipped substation on free ports, with the named stations only.

    Its deadband is wide so that noise stays quiet: tests report the values they look for.
    """
    shipped = substation_config.load()
    chosen = tuple(replace(s, port=free_port()) for s in shipped.stations if s.name in stations)
    return replace(shipped, stations=chosen, deadband_percent=50.0)


def station_file(folder: Path, port: int, zone: str | None = None) -> Path:
    """The shipped configuration with substation-1 only, on `port`, its clock in `zone`, as a
    file for `heila simulate --config`."""
    text = (Path(substation_config.__file__).parent / substation_config.DEFAULT_CONFIG).read_text()
    first = text[: text.index("[[stations]]", text.index("[[stations]]") + 1)]
    first = first.replace("port = 2404", f"port = {port}")
    if zone is not None:
        first = first.replace("common_address = 1\n", f'common_address = 1\ntime_zone = "{zone}"\n')
    path = folder / "station.toml"
    path.write_text(first)
    return path


@pytest.fixture
def substation() -> Iterator[Substation]:
    running = Substation(station_config())
    running.start()
    yield running
    running.stop()


def endpoints(station: Substation) -> dict[str, tuple[str, int]]:
    return {s.name: (s.host, s.port) for s in station.config.stations}


@functools.cache
def default_point_map() -> pointmap.PointMap:
    """The bridge's shipped point map, read and checked once per test process: checking a map
    against its shape takes seconds, and most bridge tests start a bridge on this one."""
    return pointmap.load(pointmap.default_files())


MakeBridge = Callable[..., Bridge]
_sessions = itertools.count(1)


@pytest.fixture
def make_bridge(tmp_path: Path) -> Iterator[MakeBridge]:
    """Start bridges against a hub and a substation; outcomes are collected in `bridge.outcomes`."""
    started: list[Bridge] = []

    def make(
        hub: FieldHub,
        station: Substation | Ied | None,
        maps: list[Path] | None = None,
        wait: float | None = 10.0,
        **overrides: Any,
    ) -> Bridge:
        """`wait`: seconds for the link to open and MQTT to subscribe; None to wait for neither."""
        settings = Settings(
            hub=hub.url,
            token=TOKENS[ACTOR],
            actor=ACTOR,
            mqtt=hub.mqtt,
            buffer=tmp_path / f"buffer-{len(started)}",
            state=tmp_path / f"state-{len(started)}",
            endpoints=endpoints(station) if isinstance(station, Substation) else {},
            command_timeout=1.0,
            retry_backoff=(0.05, 0.2),
        )
        settings = replace(settings, session=f"heila-bridge-test-{next(_sessions)}")
        outcomes: list[Outcome] = []
        bridge = Bridge(
            replace(settings, **overrides),
            pointmap.load(maps) if maps else default_point_map(),
            on_outcome=outcomes.append,
        )
        bridge.outcomes = outcomes  # type: ignore[attr-defined]
        bridge.start()
        started.append(bridge)
        if wait is not None:
            eventually(lambda: bridge.field.connected and bridge.subscribed, wait)
        return bridge

    yield make
    for bridge in started:
        bridge.stop()


class Cable:
    """A TCP relay between the bridge and a station that a test can cut, as a link drop.

    New connections go to `target`, which a test may change: a server started again elsewhere
    is then reached at the cable's port as before."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection through the cable; new ones are accepted again."""
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._listener.accept()
            except OSError:
                return
            try:
                far = socket.create_connection(self.target, timeout=2)
            except OSError:  # nothing listens there now: the client sees its connection close
                near.close()
                continue
            far.settimeout(None)
            with self._lock:
                self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:  # shut down first: a close alone leaves the other direction's recv blocked
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def certificates(folder: Path, authority: str = "heila test CA") -> dict[str, Path]:
    """A CA and a server and a client certificate it signs (PEM files), for a TLS 104 link."""
    return issue(folder, ("server", "client"), authority)


def station_end(files: dict[str, Path], trusting: dict[str, Path] | None = None) -> Tls:
    """A station's TLS files from `certificates()`; `trusting`: another set's CA for the bridge."""
    return Tls(files["server"], files["server-key"], (trusting or files)["ca"])


def bridge_end(files: dict[str, Path], trusting: dict[str, Path] | None = None) -> Tls:
    """The bridge's TLS files from `certificates()`; `trusting`: another set's CA for stations."""
    return Tls(files["client"], files["client-key"], (trusting or files)["ca"])


@contextlib.contextmanager
def running(station: Substation) -> Iterator[Substation]:
    station.start()
    try:
        yield station
    finally:
        station.stop()


TlsStation = tuple[Substation, Tls]


@pytest.fixture
def tls_station(tmp_path: Path) -> Iterator[TlsStation]:
    """The shipped station serving TLS, and the bridge's TLS files it accepts."""
    files = certificates(tmp_path)
    with running(Substation(station_config(), tls=station_end(files))) as station:
        yield station, bridge_end(files)


def relay_map(folder: Path, point_prefix: str) -> Path:
    """The simulated IED's map, made from its ICD (`heila pointmap from-scl --point-prefix
    PREFIX`) as an engineer moving the feeders from the RTU to a relay makes it: it commands
    the devices of the IEC 104 station's shipped map, and with the prefix "" its points and
    commands have that map's ids too."""
    path = folder / "ied-1.ttl"
    graph = scl.point_map(
        scl.read(scl.SIMULATED_IED), "ied-1", "127.0.0.1", 102, 10.0, 1.0, point_prefix
    )
    graph.serialize(path, format="turtle")
    return path


def edited_copy(source: Path, target: Path, old: str, new: str) -> Path:
    """`source` written to `target` with the first `old` replaced, as an engineer edits a file."""
    text = source.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    return target
