"""Device time stamps land in UTC whatever the zone of the station's clock and of the hosts.

The station (`heila simulate`) and the bridge (`heila bridge`) run as processes under
TZ=Europe/Helsinki, as c104 reads and writes CP56Time2a time stamps in the process's zone.
"""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from bridge_fixtures import ACTOR, TOKENS, FieldHub, eventually, station_file

from actors.bridge import pointmap
from hub.mqtt.broker import free_port

HOSTS = {**os.environ, "TZ": "Europe/Helsinki"}
TIMES = (
    "SELECT ?time ?received WHERE { ?r heila:point ?point ; heila:measuredAt ?time . "
    "?m heila:reading ?r ; heila:receivedAt ?received . FILTER(STRSTARTS(STR(?point), "
    '"https://w3id.org/heila/point/feeder-1.")) }'
)


@contextmanager
def process(command: list[str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    started = subprocess.Popen(command, cwd=cwd, env=HOSTS, stderr=subprocess.DEVNULL)
    try:
        yield started
    finally:
        started.send_signal(signal.SIGTERM)
        started.wait(timeout=20)


def map_file(folder: Path, zone: str | None) -> Path:
    """The shipped point map, its station's clock in `zone`."""
    text = pointmap.default_files()[0].read_text()
    if zone is not None:
        text = re.sub(r"iec:port 2404 \.", f'iec:port 2404 ; iec:timeZone "{zone}" .', text)
    path = folder / "map.ttl"
    path.write_text(text)
    return path


def stored_offsets(field_hub: FieldHub) -> list[float]:
    """Seconds from each stored reading's device time to its Measurement's receive time."""
    rows = field_hub.select(TIMES)
    return [
        (datetime.fromisoformat(received) - datetime.fromisoformat(time)).total_seconds()
        for time, received in rows
    ]


@pytest.mark.parametrize(
    "zone", [None, "UTC", "America/New_York"], ids=["the hosts' zone", "UTC", "New York"]
)
def test_device_times_are_stored_in_utc_when_the_hosts_run_in_helsinki(
    field_hub: FieldHub, tmp_path: Path, zone: str | None
) -> None:
    port = free_port()
    heila = str(Path(sys.executable).with_name("heila"))
    station = [heila, "simulate", "--config", str(station_file(tmp_path, port, zone))]
    bridge = [sys.executable, "-m", "hub.commands.cli", "bridge", "--hub", field_hub.url]
    bridge += ["--token", TOKENS[ACTOR], "--mqtt", field_hub.mqtt, "--buffer", "buffer"]
    bridge += ["--point-map", str(map_file(tmp_path, zone))]
    bridge += ["--endpoint", f"substation-1=127.0.0.1:{port}"]
    with process(station, tmp_path), process(bridge, tmp_path):
        offsets = eventually(lambda: stored_offsets(field_hub), 30)
    assert all(abs(offset) < 600 for offset in offsets), offsets  # a zone is 1,800 s at least
