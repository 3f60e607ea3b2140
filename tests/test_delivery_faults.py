"""No order lost, every order answered: faults injected from outside, over real processes.

The hub (`heila serve` on an on-disk store), the broker (a real Mosquitto, or the hub's embedded
one), the bridge (`python -m hub.commands.cli bridge`) and the station (`heila simulate`) each run
as a process of their own, over loopback TCP. While the DSO posts Control Signals over HTTP (a new
set-point for battery-1 every half second) and the station streams readings, one component is killed
(SIGKILL) or stopped (SIGTERM) and started again. Then, of the orders the hub acknowledged: none may
be missing from the store, each must have its outcome stored in the hub, and the station may have
executed none twice. The time from the component's start to the first order carried out after it is
kept as a figure (printed, and in the README).

The hub comes back on another port behind a relay (bridge_fixtures.Cable) that the bridge and
the DSO reach it through, so that its restart does not wait for the port's closed connections.
"""

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bridge_fixtures import Cable, eventually, station_file

from hub.mqtt.broker import free_port, mosquitto_binary, wait_for_port
from hub.trust.auth import hash_token

DSO, MICROGRID = "dms-1", "mgms-1"
TOKENS = {DSO: "dso-delivery-token", MICROGRID: "microgrid-delivery-token"}
HEILA = str(Path(sys.executable).with_name("heila"))
EXECUTED = re.compile(r"setpointCommand executed: (-?[0-9.]+)")
STARTUP = 60.0
"""seconds a component may take to listen: on a busy machine a Python program's imports alone
can take longer than wait_for_port's default"""
OUTCOMES = """PREFIX heila: <https://w3id.org/heila/ontology#>
SELECT ?order ?state ?executed WHERE {
    ?outcome heila:outcomeOf ?order ; heila:commandState ?state .
    OPTIONAL { ?outcome heila:executedAt ?executed } }"""


@dataclass
class Process:
    """A component as a process, started again with the same command (or a new one)."""

    command: list[str]
    log: Path
    ready: tuple[str, int] | None = None
    """host and port it listens on once it is up"""
    running: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.running = subprocess.Popen(self.command, stdout=log, stderr=log)
        if self.ready is not None:
            running = self.running
            up = wait_for_port(*self.ready, lambda: running.poll() is None, STARTUP)
            assert up, self.log.read_text()

    def end(self, how: signal.Signals) -> None:
        assert self.running is not None
        self.running.send_signal(how)
        self.running.wait(timeout=60)
        self.running = None


@dataclass
class System:
    folder: Path
    broker: str
    hub_relay: Cable
    processes: dict[str, Process] = field(default_factory=dict)
    mqtt_relay: Cable | None = None
    """in front of the embedded broker, which moves with the hub"""

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_relay.port}"

    def start_hub(self) -> None:
        """The hub on a port of its own (a new one after a stop), the relay pointed at it."""
        port, broker_port = free_port(), free_port()
        hub = self.processes["hub"]
        config = self.folder / "hub.toml"
        config.write_text(hub_config(self.folder, port, broker_port, self.mqtt_relay is None))
        hub.ready = ("127.0.0.1", port)
        hub.start()
        self.hub_relay.target = ("127.0.0.1", port)
        if self.mqtt_relay is not None:
            assert wait_for_port("127.0.0.1", broker_port, lambda: True, STARTUP)
            self.mqtt_relay.target = ("127.0.0.1", broker_port)

    def start(self, name: str) -> None:
        if name == "hub":
            self.start_hub()
        else:
            self.processes[name].start()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.running is not None:
                process.end(signal.SIGKILL)
        for relay in (self.hub_relay, self.mqtt_relay):
            if relay is not None:
                relay.close()


def hub_config(folder: Path, port: int, broker_port: int, mosquitto: bool) -> str:
    actors = "".join(
        f'[actors.{actor}]\ntoken_hash = "{hash_token(token)}"\n' for actor, token in TOKENS.items()
    )
    url = f"mqtt://127.0.0.1:{MOSQUITTO_PORT}" if mosquitto else "embedded"
    return (
        f'[hub]\nport = {port}\nstore = "{folder / "store"}"\n'
        f'[mqtt]\nurl = "{url}"\nembedded_port = {broker_port}\n{actors}'
    )


MOSQUITTO_PORT = free_port()


@contextmanager
def system(folder: Path, embedded: bool) -> Iterator[System]:
    """The four components, started; the hub's broker is Mosquitto unless `embedded`. They
    are stopped afterwards, also when one of them failed to start."""
    folder.mkdir(parents=True)
    nowhere = ("127.0.0.1", 1)
    made = System(
        folder,
        "embedded" if embedded else "Mosquitto",
        Cable(nowhere),
        mqtt_relay=Cable(nowhere) if embedded else None,
    )
    try:
        start_components(made, embedded)
        yield made
    finally:
        made.stop_all()


def start_components(made: System, embedded: bool) -> None:
    """Broker (unless `embedded`), hub, station and bridge, each once it can be reached."""
    folder, station_port = made.folder, free_port()
    log = folder.joinpath
    if not embedded:
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {MOSQUITTO_PORT} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nlog_dest stderr\nlog_type error\n"
        )
        made.processes["broker"] = Process(
            [mosquitto_binary(), "-c", str(config)],
            log("broker.log"),
            ("127.0.0.1", MOSQUITTO_PORT),
        )
        made.start("broker")
    made.processes["hub"] = Process(
        [HEILA, "serve", "--config", str(folder / "hub.toml")], log("hub.log")
    )
    made.start("hub")
    made.processes["station"] = Process(
        [HEILA, "simulate", "--config", str(station_file(folder, station_port))],
        log("station.log"),
        ("127.0.0.1", station_port),
    )
    made.start("station")
    mqtt_port = made.mqtt_relay.port if made.mqtt_relay is not None else MOSQUITTO_PORT
    bridge = [sys.executable, "-m", "hub.commands.cli", "bridge", "--hub", made.hub_url]
    bridge += ["--token", TOKENS[MICROGRID], "--actor", MICROGRID]
    bridge += ["--mqtt", f"mqtt://127.0.0.1:{mqtt_port}"]
    bridge += ["--endpoint", f"substation-1=127.0.0.1:{station_port}"]
    bridge += ["--buffer", str(folder / "buffer"), "--state", str(folder / "state")]
    made.processes["bridge"] = Process(bridge, log("bridge.log"))
    made.start("bridge")
    # the bridge has placed itself in the hub's log (its first start begins at the end) and
    # has interrogated the station (a first Measurement), as a bridge in service has
    eventually(lambda: (folder / "state" / "mailbox.json").exists() and measured(made), 30)


def measured(made: System) -> bool:
    query = {"type": "Measurement", "sender": MICROGRID, "limit": "1"}
    return bool(httpx.get(f"{made.hub_url}/messages", params=query, timeout=5).json()["items"])


@pytest.fixture(scope="module", params=["Mosquitto", "embedded"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """The four components, the hub's broker named by the parameter; one set for the module."""
    folder = tmp_path_factory.mktemp("delivery") / "system"
    with system(folder, request.param == "embedded") as started:
        yield started


@dataclass
class Order:
    id: str
    setpoint: float
    acknowledged: bool


class Dso:
    """Posts a set-point order every `every` seconds while running, as the DSO's system would."""

    def __init__(self, hub_url: str, every: float = 0.5) -> None:
        self.orders: list[Order] = []
        self._url = hub_url
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._prefix = f"order-{time.time_ns():x}"

    def __enter__(self) -> "Dso":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKENS[DSO]}"}, timeout=3) as http:
            while not self._stop.wait(self._every):
                number = len(self.orders) + 1
                order = Order(f"{self._prefix}-{number}", float(number), False)
                try:
                    response = http.post(f"{self._url}/messages", json=signal_for(order))
                    order.acknowledged = response.status_code == 201
                except httpx.HTTPError:
                    pass
                self.orders.append(order)


def signal_for(order: Order) -> dict[str, Any]:
    return {
        "type": "ControlSignal",
        "id": order.id,
        "sender": DSO,
        "time": datetime.now(UTC).isoformat(),
        "recipients": [MICROGRID],
        "device": "battery-1",
        "action": "setActivePower",
        "setpoint": order.setpoint,
    }


def outcomes(made: System) -> dict[str, tuple[str, str | None]]:
    """State and execution time of every stored outcome, by the id of the order it answers."""
    try:
        response = httpx.post(
            f"{made.hub_url}/sparql",
            data={"query": OUTCOMES},
            headers={"Accept": "application/sparql-results+json"},
            timeout=5,
        )
    except httpx.HTTPError:
        return {}
    found = {}
    assert response.status_code == 200, response.text
    for row in response.json()["results"]["bindings"]:
        executed = row.get("executed", {}).get("value")
        found[row["order"]["value"].rsplit("/", 1)[1]] = (row["state"]["value"], executed)
    return found


def stored(made: System, order: Order) -> bool:
    return httpx.get(f"{made.hub_url}/messages/{order.id}", timeout=5).status_code == 200


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "clean restart"])
@pytest.mark.parametrize("component", ["hub", "broker", "bridge", "station"])
def test_no_acknowledged_order_is_lost_unanswered_or_done_twice(
    running: System, component: str, how: signal.Signals
) -> None:
    if running.broker == "embedded" and component != "hub":
        pytest.skip("with the embedded broker the hub is the broker; the rest is as on Mosquitto")
    station_log = running.processes["station"].log
    executions_before = len(EXECUTED.findall(station_log.read_text()))
    with Dso(running.hub_url) as dso:
        time.sleep(0.6)
        running.processes[component].end(how)
        time.sleep(1.0)
        running.start(component)
        returned = datetime.now(UTC)  # listening again (the bridge: its process started)
        time.sleep(1.5)
    acknowledged = [order for order in dso.orders if order.acknowledged]
    eventually(lambda: {o.id for o in acknowledged} <= outcomes(running).keys(), 45)
    answered = outcomes(running)
    executions = [float(v) for v in EXECUTED.findall(station_log.read_text())[executions_before:]]
    carried_out = sorted(
        datetime.fromisoformat(moment)
        for _state, moment in (answered[o.id] for o in acknowledged)
        if moment is not None and datetime.fromisoformat(moment) > returned
    )
    figures = {
        "broker": running.broker,
        "component": component,
        "fault": "kill -9" if how == signal.SIGKILL else "clean restart",
        "acknowledged": len(acknowledged),
        "lost": sum(1 for o in acknowledged if not stored(running, o)),
        "without outcome": sum(1 for o in acknowledged if o.id not in answered),
        "executed twice": sum(1 for o in acknowledged if executions.count(o.setpoint) > 1),
        "failed": sum(1 for o in acknowledged if answered[o.id][0].endswith("Failed")),
        "first carried out after return (s)": (
            round((carried_out[0] - returned).total_seconds(), 2) if carried_out else None
        ),
    }
    print(json.dumps(figures))
    assert (figures["lost"], figures["without outcome"], figures["executed twice"]) == (0, 0, 0)
