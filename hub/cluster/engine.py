"""NATS servers of our own: a JetStream cluster on loopback, for tests and benchmarks.

Each node listens on free ports for clients, routes, MQTT and monitoring, and keeps its
JetStream files in a folder of its own. A NATS already running on 127.0.0.1:4222 belongs to
the machine and is never used. A node stopped and started again keeps its ports and files, so
the others see it go away and come back, as after a crash.
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub.broker import BrokerError, free_port, wait_for_port
from hub.lifecycle import Background

_START_TIMEOUT = 30.0
CLUSTER_NAME = "heila"


def nats_server_binary() -> str:
    """nats-server on PATH, or Debian's /usr/sbin/nats-server."""
    found = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
    if found is None:
        raise BrokerError("nats-server is not installed (scripts/system-packages installs it)")
    return found


@dataclass(frozen=True)
class Access:
    """Who may connect: a NATS `authorization` block (hub.cluster.access) and the variables
    it reads from the server's environment."""

    authorization: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodePorts:
    client: int
    route: int
    mqtt: int
    monitor: int

    @classmethod
    def free(cls) -> "NodePorts":
        return cls(free_port(), free_port(), free_port(), free_port())


class NatsNode(Background):
    """One nats-server of a cluster, with JetStream and an MQTT listener."""

    host = "127.0.0.1"

    def __init__(
        self,
        name: str,
        ports: NodePorts,
        peers: list[int],
        folder: Path,
        access: Access | None = None,
    ) -> None:
        """`access`: a NATS authorization block and the environment its variables come from;
        without it anyone may connect."""
        self.name = name
        self._access = access or Access()
        self.ports = ports
        self._config = folder / f"{name}.conf"
        self._log = folder / f"{name}.log"
        routes = ", ".join(f'"nats-route://{self.host}:{port}"' for port in peers)
        self._config.write_text(
            f'server_name: "{name}"\n'
            f"listen: {self.host}:{ports.client}\n"
            f"http: {self.host}:{ports.monitor}\n"
            f'jetstream {{ store_dir: "{folder / name}", max_memory_store: 64MB }}\n'
            f'cluster {{ name: "{CLUSTER_NAME}", listen: {self.host}:{ports.route}, '
            f"routes: [{routes}] }}\n"
            f"mqtt {{ listen: {self.host}:{ports.mqtt} }}\n"
            f"{self._access.authorization}",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.ports.client}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.host}:{self.ports.mqtt}"

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [nats_server_binary(), "-c", str(self._config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self._access.environment},
            )
        process = self._process
        if not wait_for_port(self.host, self.ports.client, lambda: process.poll() is None):
            self.stop()
            said = self._log.read_text(encoding="utf-8", errors="replace").strip()
            last = said.splitlines()[-1] if said else "nothing"
            raise BrokerError(f"nats-server {self.name} did not listen on {self.url}: {last}")

    def ready(self) -> bool:
        """Whether this node's JetStream is up and current with the cluster."""
        try:
            answer = httpx.get(f"http://{self.host}:{self.ports.monitor}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def stop(self) -> None:
        """Kill the node at once, as a crash would."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None


class NatsCluster(Background):
    """`size` nats-servers routed to each other, their files in a temporary folder."""

    def __init__(self, size: int = 3, access: Access | None = None) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="heila-nats-"))
        ports = [NodePorts.free() for _ in range(size)]
        self.nodes = [
            NatsNode(f"n{i + 1}", own, [other.route for other in ports], self._folder, access)
            for i, own in enumerate(ports)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Start every node; if one cannot (a free port taken meanwhile), stop the others."""
        try:
            for node in self.nodes:
                node.start()
        except BrokerError:
            self.stop()
            raise
        deadline = time.monotonic() + _START_TIMEOUT
        while not all(node.ready() for node in self.nodes):
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError("the NATS cluster did not elect a JetStream leader")
            time.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
