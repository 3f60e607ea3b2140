"""IEC 61850 beside IEC 104 in `heila bench`: the same paths through the simulated IED.

- `bridge-iec61850-value`: a value the IED writes until the reading is queryable in the hub,
  split into libiec61850's share (the IED's write to the client's report callback, which
  includes the report control block's buffer time of 50 ms), the bridge's own (callback to
  the message sent) and the hub's (POST to notified);
- `bridge-iec61850-command`: a Control Signal stored until the IED confirms the breaker's
  select-before-operate with enhanced security, the bridge's own share (notification heard to
  confirmation) and libiec61850's (select and operate sent to confirmed).
The IED runs in this process for the first, in a process of its own for the second.
"""

import multiprocessing
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx

from actors.bridge import pointmap
from actors.bridge.bench import ValuePath, command_rounds, field, measurement_of
from actors.bridge.iec61850 import scl
from hub.commands.bench import Bench, Figure, Subscriber, scenario
from hub.mqtt.broker import free_port
from substation import config
from substation.config import StationConfig
from substation.ied import Ied

LATENCY_ROUNDS = 300


def quiet_station() -> StationConfig:
    return replace(config.load().stations[0], port=free_port())


def ied_map(station: StationConfig) -> pointmap.PointMap:
    """The map `heila pointmap from-scl` makes of the shipped ICD, for the IED on `station`'s
    port."""
    graph = scl.point_map(
        scl.read(scl.SIMULATED_IED), station.name, station.host, station.port, 0.0, 1.0
    )
    return pointmap.index(graph)


@contextmanager
def ied_here(station: StationConfig) -> Iterator[Ied]:
    ied = Ied(station, deadband_percent=1000.0)
    ied.start()
    try:
        yield ied
    finally:
        ied.close()


@contextmanager
def ied_apart() -> Iterator[tuple[StationConfig, pointmap.PointMap | None]]:
    """The IED in a process of its own, as a relay is a device of its own."""
    station = quiet_station()
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    process = spawn.Process(target=_serve, args=(station, stop), daemon=True)
    process.start()
    try:
        _listening(station)
        yield station, ied_map(station)
    finally:
        stop.set()
        process.join(30)


def _listening(station: StationConfig, patience: float = 60.0) -> None:
    """Wait for the IED's port: a process starting on a busy machine takes seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            socket.create_connection((station.host, station.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the IED did not listen within {patience:g} s") from None
            time.sleep(0.1)


def _serve(station: StationConfig, stop: Any) -> None:
    """The IED's process; its standard output is dropped: the bindings print a line to it on
    every control, which would mix with the bench's table."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    with ied_here(station):
        stop.wait()


@scenario("bridge-iec61850-value")
def value_to_triple(bench: Bench) -> Figure:
    rounds = min(bench.count, LATENCY_ROUNDS)
    ear = Subscriber(bench.broker.host, bench.broker.port, "heila/v1/all/Measurement")
    path = ValuePath()
    station = quiet_station()
    with (
        ied_here(station) as ied,
        field(bench, station, ied_map(station)),
        httpx.Client(base_url=bench.url) as client,
    ):
        for number in range(rounds):
            value = 230.0 + (number % 2) + number / 1e4
            path.start()
            ied.report("feeder-1", "voltage1", value)
            path.heard(*measurement_of(ear, client, value))
    ear.stop()
    return path.figure("libiec61850: write -> report", "IED value -> queryable")


@scenario("bridge-iec61850-command")
def command_to_confirmation(bench: Bench) -> Figure:
    return command_rounds(bench, "IED command -> confirmed", ied_apart)
