"""The MQTT brokers the hub can run itself.

`EmbeddedBroker` is amqtt inside the hub's process, for when no broker URL is configured: the
demo then needs nothing but Python packages. It listens on loopback only, admits only the
configured actors and the hub, and holds each to its topics (hub.mqtt.broker_access); anything
shared by several machines uses a real broker with an ACL (docs/mqtt.md). `Mosquitto` starts
a real Mosquitto on a port of our choosing, for tests and benchmarks.
"""

import asyncio
import logging
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from hub.config import Credential
from hub.lifecycle import Background
from hub.model.errors import UsageError
from hub.mqtt.broker_access import ACCESS, HUB, Access, PasswordLogin, TopicRights
from hub.mqtt.broker_admission import ClientLimits, HubBroker

log = logging.getLogger(__name__)

_START_TIMEOUT = 10.0


class BrokerError(RuntimeError):
    """A broker could not be started (port taken, binary missing)."""


PORTS = "HEILA_PORTS"
"""Names a range of ports (e.g. `20000-25999`) that `free_port` picks from, instead of the
system's: programs that share a machine, each with a range of its own, then never take a port
that another has let go of only to listen on it again (a hub restarted on its port)."""


_HANDED_OUT: set[int] = set()
"""Ports this process has handed out. Two asked for before either listens are both free, so
without this the same one could be handed out twice: a range of a few thousand repeats a draw
often enough to fail a test now and then."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now and that this process has not
    handed out before (until half of a `HEILA_PORTS` range has been: then any free one)."""
    first, _, last = os.environ.get(PORTS, "0").partition("-")
    low, high = int(first), int(last or first)
    if high > low and len(_HANDED_OUT) > (high - low) // 2:
        _HANDED_OUT.clear()
    for _ in range(100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", random.randint(low, high)))
            except OSError:
                continue
            port: int = probe.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise UsageError(f"no free port in {PORTS}={os.environ[PORTS]}")


def wait_for_port(
    host: str, port: int, alive: Callable[[], bool] = lambda: True, timeout: float = _START_TIMEOUT
) -> bool:
    """True once something accepts TCP connections on host:port; False after `timeout`, or as
    soon as the program that should listen there is no longer `alive`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def _dotted(plugin: type) -> str:
    return f"{plugin.__module__}.{plugin.__qualname__}"


class EmbeddedBroker(Background):
    """amqtt on 127.0.0.1:`port`, run by its own event loop in a daemon thread, for `actors`
    (each logs in with its id and bearer token; read at each login, so the registry's changes
    count without a restart) and the hub (with `hub_login`), each client held to `limits`.

    Sessions live as long as the broker, which lives as long as the hub's process: a
    persistent session survives its client's reconnecting, not the hub's restart."""

    def __init__(
        self,
        port: int,
        actors: Mapping[str, Credential],
        limits: ClientLimits,
        host: str = "127.0.0.1",
        tls: tuple[str, str] | None = None,
    ) -> None:
        """`tls`: the certificate and key files it serves TLS with (then only TLS)."""
        self.host = host
        self._tls = tls
        self.port = port
        self.hub_login = (HUB, secrets.token_urlsafe(32))
        """the hub's username and password, made afresh for each broker and kept nowhere else"""
        self._access = Access(actors, self.hub_login[1])
        self._name = f"broker-{secrets.token_hex(8)}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker")
        self._thread.daemon = True
        self._limits = limits
        self._broker: HubBroker | None = None

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(_START_TIMEOUT)
        except Exception as error:
            self._halt_loop()
            raise BrokerError(
                f"embedded MQTT broker cannot listen on {self.host}:{self.port}: {error}"
            ) from error
        scheme = "mqtts" if self._tls is not None else "mqtt"
        log.info("embedded MQTT broker listening on %s://%s:%d", scheme, self.host, self.port)

    def queue_lengths(self) -> dict[str, int]:
        """Messages waiting for each client id: none before the broker runs."""
        return {} if self._broker is None else self._broker.queue_lengths()

    def stop(self) -> None:
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            future.result(_START_TIMEOUT)
            self._broker = None
        self._halt_loop()

    async def _start(self) -> None:
        listener: dict[str, object] = {"type": "tcp", "bind": f"{self.host}:{self.port}"}
        if self._tls is not None:
            listener |= {"ssl": True, "certfile": self._tls[0], "keyfile": self._tls[1]}
        config = {
            "listeners": {"default": listener},
            "plugins": {
                _dotted(PasswordLogin): {"access": self._name},
                _dotted(TopicRights): {"access": self._name},
            },
        }
        ACCESS[self._name] = self._access
        broker = HubBroker(config, self._access, self._limits)
        await broker.start()
        self._broker = broker

    def _halt_loop(self) -> None:
        ACCESS.pop(self._name, None)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_START_TIMEOUT)


def mosquitto_binary() -> str:
    """Mosquitto's path: on PATH, or where Debian puts it (not always on PATH)."""
    found = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    if found is None:
        raise BrokerError("mosquitto not found (scripts/system-packages installs it)")
    return found


class Mosquitto(Background):
    """A Mosquitto of our own on 127.0.0.1:`port`, with QoS 1 queues kept unbounded.

    `access` holds its authentication lines (anonymous by default). Stopping and starting it
    again keeps the port, so clients see a broker going away and coming back, which is what the
    hub must survive.
    """

    def __init__(self, port: int | None = None, access: str = "allow_anonymous true\n") -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="heila-mosquitto-"))
        self._config = self._folder / "mosquitto.conf"
        self._config.write_text(
            f"listener {self.port} {self.host}\n"
            f"{access}"
            "persistence false\n"
            "max_queued_messages 0\n"
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            "log_type error\n",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        process = self._process
        if not wait_for_port(self.host, self.port, lambda: process.poll() is None):
            self._process.kill()
            _, reason = self._process.communicate()
            self._process = None
            raise BrokerError(
                f"mosquitto did not listen on {self.host}:{self.port}: {reason.decode().strip()}"
            )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop it for good and remove its configuration."""
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
