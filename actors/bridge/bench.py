"""The field bridge's benchmark scenarios, registered with `heila bench` (hub.commands.bench).

Each scenario runs a bridge in this process against the bench's hub, with the simulated
substation in this process where the scenario changes its values and in a process of its own
where it only commands it, and prints its component figures before the headline one:
- `bridge-value`: a device value change until the reading is queryable in the hub (its
  notification heard), split into the simulator's send delay (report to c104 callback), the
  bridge's own share (c104 callback to the message sent) and the hub's (POST to notified);
- `bridge-command`: a Control Signal stored until the device confirms the command, and the
  bridge's own share (notification heard to confirmation);
- `bridge-command-loaded`: the same while another process sends readings into the hub as fast
  as it takes them;
- `bridge-throughput`: readings per second through the bridge's conversion alone, into the
  hub's store by POST /messages in batches, and written straight into an on-disk Oxigraph
  store as the hub writes them: the ceiling of any path into the store, for this model.
"""

import dataclasses
import itertools
import json
import multiprocessing
import queue
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyoxigraph as ox

from actors.bridge import pointmap
from actors.bridge.buffer import DiskBuffer
from actors.bridge.control import Outcome
from actors.bridge.main import Bridge, Settings
from actors.bridge.monitoring import MAX_READINGS, Converter, Sample
from actors.bridge.uplink import Uplink
from heila_client import objects
from hub.commands.bench import ORDERER, SENDER, Bench, Figure, Heard, Subscriber, scenario
from hub.model.message import accept
from hub.mqtt.broker import free_port
from substation import config
from substation.config import StationConfig, SubstationConfig
from substation.server import Substation

LATENCY_ROUNDS = 300
"""Rounds of the latency scenarios at most: each waits for the simulator's send tick."""
THROUGHPUT_READINGS = 20_000
"""Readings a round at most: 20 batches of MAX_READINGS (fewer for a small --count)."""
THROUGHPUT_ROUNDS = 5
_JSON = {"Content-Type": "application/json"}
_ids = itertools.count()


def quiet_substation() -> SubstationConfig:
    """The default station on a free port, quiet but for what the bench reports."""
    shipped = config.load()
    station = replace(shipped.stations[0], port=free_port())
    return replace(shipped, stations=(station,), deadband_percent=1000.0)


@contextmanager
def substation_here(settings: SubstationConfig) -> Iterator[Substation]:
    """The substation in this process, for scenarios that make its values change."""
    substation = Substation(settings)
    substation.start()
    try:
        yield substation
    finally:
        substation.stop()


@contextmanager
def substation_apart(settings: SubstationConfig) -> Iterator[None]:
    """The substation in a process of its own, as a station is a device of its own: c104's
    client and server in one busy process lose confirmations several times as often."""
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    process = spawn.Process(target=_serve, args=(settings, stop), daemon=True)
    process.start()
    try:
        yield None
    finally:
        stop.set()
        process.join(30)


def _serve(settings: SubstationConfig, stop: Any) -> None:
    with substation_here(settings):
        stop.wait()


@contextmanager
def field(
    bench: Bench, station: StationConfig, point_map: pointmap.PointMap | None = None
) -> Iterator[tuple[Bridge, "queue.SimpleQueue[Outcome]"]]:
    """A bridge between `station` (running) and the hub, once it has interrogated the station;
    `point_map`: the default station's when not given."""
    outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    with tempfile.TemporaryDirectory(prefix="heila-bridge-bench-") as folder:
        settings = Settings(
            hub=bench.url,
            token=bench.tokens[SENDER],
            actor=SENDER,
            mqtt=bench.broker.url,
            session=f"heila-bridge-bench-{time.time_ns()}",
            buffer=Path(folder),
            state=Path(folder) / "state",
            endpoints={station.name: (station.host, station.port)},
        )
        chosen = point_map or pointmap.load(pointmap.default_files())
        bridge = Bridge(settings, chosen, outcomes.put)
        bridge.start()
        try:
            _settle(bridge)
            yield bridge, outcomes
        finally:
            bridge.stop()


def _settle(bridge: Bridge) -> None:
    """Wait until the link is up and the first interrogation has reached the hub."""
    deadline = time.monotonic() + 30
    while not (bridge.field.connected and bridge.subscribed and bridge.uplink.delivered):
        if time.monotonic() > deadline:
            raise TimeoutError("the bridge did not connect within 30 s")
        time.sleep(0.05)
    time.sleep(0.5)


@dataclass
class ValuePath:
    """Where a device value's way to a queryable reading goes, round by round. The stored
    message tells the bridge's part: its receivedAt (the device side done) to its time (sent)."""

    device: list[float] = dataclasses.field(default_factory=list)
    bridge: list[float] = dataclasses.field(default_factory=list)
    hub: list[float] = dataclasses.field(default_factory=list)
    totals: list[float] = dataclasses.field(default_factory=list)
    started: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        """The device is given its value now (wall clock and performance counter)."""
        self.started = (time.time(), time.perf_counter())

    def heard(self, heard: Heard, message: dict[str, Any]) -> None:
        """The reading's notification and its stored message end the round."""
        started_wall, started_perf = self.started
        heard_wall = started_wall + (heard.at - started_perf)
        received = datetime.fromisoformat(message["receivedAt"]).timestamp()
        sent = datetime.fromisoformat(message["time"]).timestamp()
        self.totals.append(heard_wall - started_wall)
        self.device.append(received - started_wall)
        self.bridge.append(sent - received)
        self.hub.append(heard_wall - sent)

    def figure(self, device: str, name: str) -> Figure:
        """Prints the three shares and answers the whole path."""
        rounds = len(self.totals)
        print(Figure(f"  {device}", rounds, tuple(self.device)).row())
        print(Figure("  bridge: received -> sent", rounds, tuple(self.bridge)).row())
        print(Figure("  hub: POST -> notified", rounds, tuple(self.hub)).row())
        return Figure(name, rounds, tuple(self.totals))


@scenario("bridge-value")
def value_to_triple(bench: Bench) -> Figure:
    """From a value given to the simulated station to its reading's notification (ValuePath)."""
    rounds = min(bench.count, LATENCY_ROUNDS)
    ear = Subscriber(bench.broker.host, bench.broker.port, "heila/v1/all/Measurement")
    path = ValuePath()
    settings = quiet_substation()
    with (
        substation_here(settings) as substation,
        field(bench, settings.stations[0]),
        httpx.Client(base_url=bench.url) as client,
    ):
        for number in range(rounds):
            value = 230.0 + (number % 2) + number / 1e4
            path.start()
            substation.report(1, 1000, value)
            path.heard(*measurement_of(ear, client, value))
    ear.stop()
    return path.figure("simulator send delay", "device value -> queryable")


def measurement_of(
    ear: Subscriber, client: httpx.Client, value: float
) -> tuple[Heard, dict[str, Any]]:
    """The next Measurement with a reading of `value` (a short float, so within 5e-5): an
    earlier Measurement still on its way (an interrogation's) is skipped."""
    while True:
        heard = ear.next()
        message = client.get(f"/messages/{heard.body['id']}").json()
        if any(abs(reading["value"] - value) < 5e-5 for reading in message["readings"]):
            return heard, message


@scenario("bridge-command")
def command_to_confirmation(bench: Bench) -> Figure:
    return command_rounds(bench, "command stored -> confirmed")


@scenario("bridge-command-loaded")
def command_while_readings_stream(bench: Bench) -> Figure:
    """The same, while another process sends readings into the hub as fast as it takes them:
    an activation competes with the monitoring traffic for the hub and both cores."""
    spawn = multiprocessing.get_context("spawn")
    stop, streamed = spawn.Event(), spawn.Value("q", 0)
    streamer = spawn.Process(
        target=stream_readings, args=(bench.url, bench.tokens[SENDER], stop, streamed)
    )
    streamer.start()
    try:
        while streamed.value == 0:  # the first batch is in: the stream is running
            if not streamer.is_alive():
                raise RuntimeError("the reading stream stopped before its first batch")
            time.sleep(0.05)
        before, started = streamed.value, time.perf_counter()
        figure = command_rounds(bench, "command -> confirmed, loaded")
        meanwhile = streamed.value - before
        rate = meanwhile / (time.perf_counter() - started)
    finally:
        stop.set()
        streamer.join(30)
    print(Figure("  readings meanwhile", meanwhile, per_second=rate).row())
    return figure


def stream_readings(url: str, token: str, stop: Any, streamed: Any) -> None:
    """Send batches of 1,000 readings until `stop` is set, counting them in `streamed`."""
    converter = Converter(pointmap.load(pointmap.default_files()), SENDER)
    with tempfile.TemporaryDirectory(prefix="heila-bridge-bench-") as folder:
        uplink = Uplink(url, token, DiskBuffer(Path(folder)))
        while not stop.is_set():
            uplink.send_json(converter.messages(synthetic_samples(MAX_READINGS)))
            with streamed.get_lock():
                streamed.value += MAX_READINGS
        uplink.close()


@contextmanager
def iec104_station() -> Iterator[tuple[StationConfig, pointmap.PointMap | None]]:
    """The default IEC 104 station in a process of its own, mapped by the default map."""
    settings = quiet_substation()
    with substation_apart(settings):
        yield settings.stations[0], None


Device = Callable[[], AbstractContextManager[tuple[StationConfig, pointmap.PointMap | None]]]
"""A device served for the command rounds: its station and point map (None: the default)."""


def command_rounds(bench: Bench, name: str, device: Device = iec104_station) -> Figure:
    """Control Signals for breaker-1, open and close in turn, each posted once the previous
    one's outcome is in; the bridge's own share is printed before the figure is returned."""
    rounds = min(bench.count, LATENCY_ROUNDS)
    headers = {"Authorization": f"Bearer {bench.tokens[ORDERER]}"}
    totals, own, library, failed, unconfirmed = [], [], [], 0, 0
    with (
        device() as (station, point_map),
        field(bench, station, point_map) as (_bridge, outcomes),
        httpx.Client(base_url=bench.url) as client,
    ):
        for number in range(rounds):
            signal: objects.ControlSignal = {
                "type": "ControlSignal",
                "id": f"bench-command-{next(_ids)}-{time.time_ns()}",
                "sender": ORDERER,
                "time": datetime.now(UTC).isoformat(),
                "recipients": [SENDER],
                "device": "breaker-1",
                "action": "open" if number % 2 == 0 else "close",
            }
            started = time.time()
            answer = client.post("/messages", json=signal, headers=headers)
            answer.raise_for_status()
            outcome = outcomes.get(timeout=30)
            # when c104 misses the device's confirmation, the status point's change stands in
            answered = outcome.confirmed or outcome.executed
            if answered is None or outcome.notified is None:
                failed += 1
                continue
            unconfirmed += outcome.confirmed is None or len(outcome.tries) > 1
            totals.append(answered.timestamp() - started)
            own.append((answered - outcome.notified).total_seconds())
            if outcome.confirmed is not None and outcome.sent is not None:
                library.append((outcome.confirmed - outcome.sent).total_seconds())
    if len(totals) < 2:
        raise RuntimeError(f"the device carried out {len(totals)} of {rounds} commands")
    if failed:
        print(f"  commands failed: {failed} of {rounds} (see the log for why)")
    print(
        f"  rounds that lost a confirmation (tried again or judged by the status point): "
        f"{unconfirmed} of {len(totals)}"
    )
    print(Figure("  bridge: heard -> confirmed", len(own), tuple(own)).row())
    print(Figure("  protocol: sent -> confirmed", len(library), tuple(library)).row())
    return Figure(name, len(totals), tuple(totals))


def synthetic_samples(count: int) -> list[Sample]:
    """Phase voltages and currents of feeder 1, over and over."""
    points = pointmap.load(pointmap.default_files()).points
    feeder = [
        points[f"feeder-1.{name}-l{phase}"]
        for name in ("voltage", "current")
        for phase in (1, 2, 3)
    ]
    measured = datetime.now(UTC)
    now = time.time_ns()
    return [
        Sample(feeder[n % len(feeder)], 230.0 + n / count, (), measured, now) for n in range(count)
    ]


@scenario("bridge-throughput")
def readings_per_second(bench: Bench) -> Figure:
    """Each batch goes into the hub by POST /messages, then the same quads of a twin batch into
    an on-disk store alone, in turn, so both see the same machine from moment to moment; the
    rates of each round, their medians and the ratio of the medians are printed."""
    samples = synthetic_samples(min(THROUGHPUT_READINGS, bench.count * MAX_READINGS))
    converter = Converter(pointmap.load(pointmap.default_files()), SENDER)
    started = time.perf_counter()
    converter.messages(samples)
    converted = time.perf_counter() - started
    print(Figure("  bridge conversion", len(samples), per_second=len(samples) / converted).row())
    hub, alone = [], []
    with (
        tempfile.TemporaryDirectory(prefix="heila-bridge-bench-") as folder,
        httpx.Client(base_url=bench.url, headers=_bearer(bench), timeout=60) as client,
    ):
        store = ox.Store(folder)  # like the hub's, it keeps what earlier rounds wrote
        for _round in range(THROUGHPUT_ROUNDS):
            into_hub, into_store = _round_in_turn(client, store, converter, samples)
            hub.append(len(samples) / into_hub)
            alone.append(len(samples) / into_store)
        del store
    ceiling, rate = statistics.median(alone), statistics.median(hub)
    quads = _quads_per_reading(converter.messages(samples))
    print(Figure(f"  store only ({quads:.0f} quads)", len(alone), per_second=ceiling).row())
    shares = ", ".join(f"{h / a:.0%}" for h, a in zip(hub, alone, strict=True))
    print(f"  the hub's path at {rate / ceiling:.0%} of the store's own rate (rounds: {shares})")
    return Figure("readings into the hub", len(samples) * THROUGHPUT_ROUNDS, per_second=rate)


def _bearer(bench: Bench) -> dict[str, str]:
    return {"Authorization": f"Bearer {bench.tokens[SENDER]}"}


def _round_in_turn(
    client: httpx.Client, store: ox.Store, converter: Converter, samples: list[Sample]
) -> tuple[float, float]:
    """Seconds the hub took for a round's batches, POSTed one after the other as the bridge's
    uplink sends them, and the store alone for their twins. Each side's input is made before
    its clock starts: the bodies as the bridge encodes them, the twins' quads."""
    into_hub = into_store = 0.0
    bodies = _bodies(converter, samples)
    twins = [accept(b, "application/json").quads() for b in _bodies(converter, samples)]
    for body, twin in zip(bodies, twins, strict=True):
        started = time.perf_counter()
        client.post("/messages", content=body, headers=_JSON).raise_for_status()
        into_hub += time.perf_counter() - started
        started = time.perf_counter()
        store.bulk_extend(twin)
        into_store += time.perf_counter() - started
    return into_hub, into_store


def _bodies(converter: Converter, samples: list[Sample]) -> list[bytes]:
    return [json.dumps(m).encode() for m in converter.messages(samples)]


def _quads_per_reading(messages: list[objects.Measurement]) -> float:
    quads = sum(len(accept(json.dumps(m).encode(), "application/json").quads()) for m in messages)
    return quads / sum(len(m["readings"]) for m in messages)
