"""Benchmarks of the field bridge (run: pytest tests/bench_bridge.py --benchmark-enable).

The suite runs each once, untimed. The latency scenarios are those of `heila bench`
(actors/bridge/bench.py), here against a hub in this process; their p50 and p99 land in the
benchmark's extra_info. Throughput goes into an on-disk store.
"""

import statistics
from pathlib import Path
from typing import Any

import pytest
from bridge_fixtures import ACTOR, TOKENS, FieldHub, default_point_map

from actors.bridge import bench
from actors.bridge.buffer import DiskBuffer
from actors.bridge.monitoring import Converter
from actors.bridge.uplink import Uplink
from hub.commands.bench import Bench, Figure
from hub.mqtt.broker import Mosquitto
from hub.storage.store import open_store

POINT_MAP = default_point_map()
ROUNDS = 200
"""rounds of a latency scenario when timed; the suite's untimed run checks it works with
SMOKE_ROUNDS (a c104 command whose confirmation is lost waits out its whole timeout)"""
SMOKE_ROUNDS = 20


def rounds(benchmark: Any) -> int:
    return SMOKE_ROUNDS if benchmark.disabled else ROUNDS


@pytest.fixture
def disk_hub(mosquitto: Mosquitto, tmp_path: Path) -> Any:
    running = FieldHub(mosquitto.url, open_store(str(tmp_path / "store")))
    running.start()
    yield running
    running.stop()


def percentiles(benchmark: Any, figure: Figure) -> None:
    benchmark.extra_info["p50_ms"] = statistics.median(figure.latencies) * 1000
    benchmark.extra_info["p99_ms"] = statistics.quantiles(figure.latencies, n=100)[98] * 1000


def test_conversion_of_ten_thousand_values(benchmark: Any) -> None:
    samples = bench.synthetic_samples(10_000)
    converter = Converter(POINT_MAP, ACTOR)
    messages = benchmark(converter.messages, samples)
    assert sum(len(m["readings"]) for m in messages) == 10_000


def test_readings_into_an_on_disk_store(benchmark: Any, disk_hub: FieldHub, tmp_path: Path) -> None:
    converter = Converter(POINT_MAP, ACTOR)
    uplink = Uplink(disk_hub.url, TOKENS[ACTOR], DiskBuffer(tmp_path / "buffer"))

    def send() -> None:
        uplink.send_json(converter.messages(bench.synthetic_samples(5_000)))

    benchmark.pedantic(send, rounds=3)
    if benchmark.enabled:
        benchmark.extra_info["readings_per_s"] = 5_000 / benchmark.stats.stats.mean
    assert uplink.pending == 0


def test_value_change_until_queryable(
    benchmark: Any, disk_hub: FieldHub, mosquitto: Mosquitto
) -> None:
    figure = benchmark.pedantic(
        bench.value_to_triple,
        args=(Bench(disk_hub.url, mosquitto, TOKENS, rounds(benchmark)),),
        rounds=1,
    )
    percentiles(benchmark, figure)


def test_command_stored_until_confirmed(
    benchmark: Any, disk_hub: FieldHub, mosquitto: Mosquitto
) -> None:
    figure = benchmark.pedantic(
        bench.command_to_confirmation,
        args=(Bench(disk_hub.url, mosquitto, TOKENS, rounds(benchmark)),),
        rounds=1,
    )
    percentiles(benchmark, figure)
