"""The DLMS/COSEM benchmark scenarios, registered with `heila bench` (hub.commands.bench).

- `meter-value`: a meter register changed until the reading is queryable in the hub (its
  notification heard), split into the wait for the bridge's next read plus the read itself
  (change to received), the bridge's own share (received to the message sent) and the hub's
  (POST to notified); the read interval is 0.1 s and each change comes at a random moment of
  it, so the wait is half of it on the median.
- `meter-read`: what the library costs: one register read over TCP through the bridge's
  association, and the same request built, answered by gurux's server and parsed with no
  socket at all.
- `meter-profile`: a load profile of a day of quarter hours (96 captures) read by range over
  TCP, as the bridge reads it for verification.
"""

import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSRegister

from actors.bridge import pointmap
from actors.bridge.bench import ValuePath
from actors.bridge.dlms.association import Association, Endpoint
from actors.bridge.main import Bridge, Settings
from hub.commands.bench import SENDER, Bench, Figure, Subscriber, scenario
from substation.meter import LOAD_PROFILE, Meter, MeterConfig
from substation.model import Feeder, FeederSpec

ROUNDS = 300
READ_INTERVAL = 0.1
"""seconds between the bridge's reads of the meter's registers"""
PROFILE_ROUNDS = 50
VOLTAGE = "1.0.32.7.0.255"
PASSWORD = "bench-password"
PASSWORD_VARIABLE = "HEILA_BENCH_METER_PASSWORD"


def quiet_meter() -> Meter:
    """A meter whose model never steps during the bench: only what the bench sets changes."""
    config = MeterConfig(port=0, password=PASSWORD, step_ms=3_600_000, capture_period=3600)
    return Meter(config, Feeder(FeederSpec("feeder-1")))


@contextmanager
def meter_bridge(bench: Bench, meter: Meter) -> Iterator[Bridge]:
    """A bridge reading `meter` every 0.1 s into the bench's hub, once it has associated."""
    with tempfile.TemporaryDirectory(prefix="heila-meter-bench-") as folder:
        text = pointmap.shipped("meter-1.ttl").read_text()
        text = text.replace('"HEILA_METER_PASSWORD"', f'"{PASSWORD_VARIABLE}"')
        text = text.replace("dlms:readInterval 10", f"dlms:readInterval {READ_INTERVAL}")
        text = text.replace("dlms:profileInterval 900", "dlms:profileInterval 3600")
        (Path(folder) / "meter.ttl").write_text(text)
        settings = Settings(
            hub=bench.url,
            token=bench.tokens[SENDER],
            actor=SENDER,
            mqtt=bench.broker.url,
            session=f"heila-meter-bench-{time.time_ns()}",
            buffer=Path(folder) / "buffer",
            state=Path(folder) / "state",
            endpoints={"meter-1": ("127.0.0.1", meter.port)},
        )
        os.environ[PASSWORD_VARIABLE] = PASSWORD  # the bench's own meter: no one else's secret
        bridge = Bridge(settings, pointmap.load([Path(folder) / "meter.ttl"]))
        bridge.start()
        try:
            deadline = time.monotonic() + 30
            while not (bridge.field.connected and bridge.uplink.delivered):
                if time.monotonic() > deadline:
                    raise TimeoutError("the bridge did not read the meter within 30 s")
                time.sleep(0.05)
            yield bridge
        finally:
            bridge.stop()


@scenario("meter-value")
def meter_value_to_triple(bench: Bench) -> Figure:
    rounds = min(bench.count, ROUNDS)
    ear = Subscriber(bench.broker.host, bench.broker.port, "heila/v1/all/Measurement")
    path = ValuePath()
    meter = quiet_meter()
    pacing = random.Random(1)
    meter.start()
    try:
        with meter_bridge(bench, meter), httpx.Client(base_url=bench.url) as client:
            for number in range(rounds):
                volts = 300.0 + number / 10  # one value per round: no earlier read matches
                time.sleep(pacing.uniform(0.0, READ_INTERVAL))  # not in step with the reads
                path.start()
                meter.report(VOLTAGE, volts)
                path.heard(*_voltage(ear, client, volts))
    finally:
        meter.stop()
        ear.stop()
    return path.figure("next read + read", "meter value -> queryable")


def _voltage(ear: Subscriber, client: httpx.Client, volts: float) -> tuple[Any, Any]:
    """The next Measurement with meter-1's L1 voltage at `volts`: its read round was received
    when the Measurement says."""
    while True:
        heard = ear.next()
        message = client.get(f"/messages/{heard.body['id']}").json()
        if any(
            reading["point"] == "meter-1.voltage-l1" and reading["value"] == volts
            for reading in message["readings"]
        ):
            return heard, message


@scenario("meter-read")
def register_read(bench: Bench) -> Figure:
    rounds = min(bench.count, ROUNDS) * 3
    meter = quiet_meter()
    meter.start()
    association = Association(Endpoint("127.0.0.1", meter.port, password=PASSWORD))
    over_tcp = []
    try:
        association.open()
        for _ in range(rounds):
            started = time.perf_counter()
            association.value(VOLTAGE)
            over_tcp.append(time.perf_counter() - started)
    finally:
        association.close()
        meter.stop()
    print(Figure("  gurux alone, no socket", rounds, tuple(_library_reads(rounds))).row())
    return Figure("meter register read, TCP", rounds, tuple(over_tcp))


def _library_reads(rounds: int) -> list[float]:
    """One register read built by gurux's client, answered by its server, parsed by the
    client: the library's whole share of a read."""
    meter = quiet_meter()
    client = GXDLMSClient(True, 16, 1, Authentication.LOW, PASSWORD, InterfaceType.WRAPPER)
    client.parseAareResponse(_exchange(client, meter, client.aarqRequest()).data)
    spent = []
    for _ in range(rounds):
        started = time.perf_counter()
        register = GXDLMSRegister(VOLTAGE)
        reply = _exchange(client, meter, client.read(register, 2)[0])
        client.updateValue(register, 2, reply.value)
        spent.append(time.perf_counter() - started)
    return spent


def _exchange(client: GXDLMSClient, meter: Meter, requests: Any) -> GXReplyData:
    reply = GXReplyData()
    for request in requests if isinstance(requests, list) else [requests]:
        client.getData(GXByteBuffer(meter.answer(bytes(request))), reply, None)
    return reply


@scenario("meter-profile")
def profile_read(bench: Bench) -> Figure:
    rounds = min(bench.count, PROFILE_ROUNDS)
    meter = quiet_meter()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=1)
    for quarter in range(96):
        meter.capture(start + timedelta(minutes=15 * (quarter + 1)))
    meter.start()
    association = Association(Endpoint("127.0.0.1", meter.port, password=PASSWORD))
    spent = []
    try:
        association.open()
        for _ in range(rounds):
            started = time.perf_counter()
            _, rows = association.profile(LOAD_PROFILE, start, end)
            spent.append(time.perf_counter() - started)
            if len(rows) != 96:
                raise RuntimeError(f"read {len(rows)} captures of 96")
    finally:
        association.close()
        meter.stop()
    return Figure("load profile, 96 captures", rounds, tuple(spent))
