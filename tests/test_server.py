"""`heila serve` as a user runs it, and the embedded broker it falls back on."""

import argparse
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import httpx
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from hub.app import create_app
from hub.commands.bench import HEILA, Subscriber
from hub.commands.server import add_arguments, settings_of
from hub.config import EMBEDDED
from hub.model.message import Message
from hub.mqtt.broker import Mosquitto, free_port
from hub.storage.store import open_store
from hub.trust.auth import hash_token, new_token
from tests.conftest import Serve, hub_settings, wait_until_connected

ROOT = Path(__file__).resolve().parent.parent


def test_the_embedded_broker_relays_a_notification(serve: Serve, mosquitto, story: list[Message]):
    token, dms_token, port = new_token(), new_token(), free_port()
    tokens = {"spp-1": token, "dms-1": dms_token}
    settings = hub_settings(mosquitto, tokens, mqtt=EMBEDDED, embedded_mqtt_port=port)
    url = serve(create_app(settings, open_store("memory")))
    wait_until_connected(url)
    login = ("dms-1", dms_token)
    dms = Subscriber("127.0.0.1", port, "heila/v1/dms-1/#", MQTTProtocolVersion.MQTTv311, login)
    weather = next(m for m in story if m.id == "weather-1")
    httpx.post(
        f"{url}/messages",
        content=weather.serialize("application/json"),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        assert dms.next().body["id"] == "weather-1"
    finally:
        dms.stop()


def serve_command(*flags: str) -> list[str]:
    return [*HEILA, "serve", *flags]


def start(broker: Mosquitto, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """`heila serve` in a process of its own, once its API answers; returns it and its URL."""
    store = () if "--store" in flags else ("--store", "memory")  # leave no store in the checkout
    return start_on(free_port(), "--mqtt", broker.url, *store, *flags)


def start_on(
    port: int, *flags: str, log: IO[str] | int = subprocess.PIPE
) -> tuple[subprocess.Popen[str], str]:
    """`heila serve --port port` with `flags`, once its API answers; its log goes to `log` (a
    file, for a hub that logs more than a pipe holds before it is read)."""
    process = subprocess.Popen(
        serve_command("--port", str(port), *flags), cwd=ROOT, stderr=log, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/health")
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"heila serve did not answer: {process.communicate()[1]}")


def stop(process: subprocess.Popen[str], how: signal.Signals) -> tuple[int, str]:
    process.send_signal(how)
    _, log = process.communicate(timeout=20)
    return process.returncode, log


def test_serve_without_configuration_says_where_it_listens_and_that_it_is_read_only(mosquitto):
    process, url = start(mosquitto)
    _, log = stop(process, signal.SIGTERM)
    assert f"{url}/messages" in log
    assert f"{url}/sparql" in log
    assert mosquitto.url in log
    assert "store: memory" in log
    assert "read-only" in log


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_on_a_signal(mosquitto, how):
    process, _ = start(mosquitto)
    code, log = stop(process, how)
    assert code == 0
    assert "Traceback" not in log


def test_serve_on_a_port_in_use_exits_with_a_one_line_reason(mosquitto):
    process, url = start(mosquitto)
    try:
        taken = url.rsplit(":", 1)[1]
        second = subprocess.run(
            serve_command("--port", taken, "--mqtt", mosquitto.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        stop(process, signal.SIGTERM)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1].startswith("heila serve: the HTTP API cannot")
    assert "Traceback" not in second.stderr


def test_serve_with_a_broken_configuration_exits_with_a_one_line_reason(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text("[hub]\nport = 'eighty'\n")
    result = subprocess.run(
        serve_command("--config", str(config)), cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"heila serve: {config}: [hub] port has the wrong type"


def test_serve_keeps_messages_in_its_store_directory_across_restarts(
    tmp_path: Path, mosquitto, story: list[Message]
):
    token = new_token()
    config = tmp_path / "hub.toml"
    config.write_text(f'[actors.spp-1]\ntoken_hash = "{hash_token(token)}"\n')
    flags = ("--config", str(config), "--store", str(tmp_path / "store"))
    weather = next(m for m in story if m.id == "weather-1")
    process, url = start(mosquitto, *flags)
    httpx.post(
        f"{url}/messages",
        content=weather.serialize("application/json"),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    stop(process, signal.SIGTERM)
    process, url = start(mosquitto, *flags)
    try:
        assert httpx.get(f"{url}/messages/weather-1").status_code == 200
    finally:
        stop(process, signal.SIGTERM)


def test_flags_take_precedence_over_the_configuration_file(tmp_path: Path):
    config = tmp_path / "hub.toml"
    config.write_text('[hub]\nport = 9000\nstore = "var/store"\n')
    parser = argparse.ArgumentParser()
    add_arguments("serve", parser)
    settings = settings_of(parser.parse_args(["--config", str(config), "--port", "9100"]))
    assert (settings.port, settings.store) == (9100, "var/store")


def test_serve_comes_back_on_its_own_ports_at_once_after_a_kill(tmp_path: Path):
    port, mqtt_port = free_port(), free_port()
    config = tmp_path / "hub.toml"
    config.write_text(f"[mqtt]\nembedded_port = {mqtt_port}\n")
    flags = ("--config", str(config), "--store", "memory", "--mqtt", EMBEDDED)
    process, url = start_on(port, *flags)
    with httpx.Client() as http, socket.create_connection(("127.0.0.1", mqtt_port)):
        http.get(f"{url}/health")  # open connections that the hub's end closes first, so
        process.kill()  # they are left in TIME_WAIT on its ports
        process.communicate()
    process, url = start_on(port, *flags)
    code, log = stop(process, signal.SIGTERM)
    assert (code, "Address already in use" in log) == (0, False)
