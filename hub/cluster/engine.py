"""NATS servers of our own: a JetStream cluster on loopback, for tests and benchmarks.

Each node listens on free ports for clients, routes, MQTT and monitoring, and keeps its
JetStream files in a folder of its own. A NATS already running on 127.0.0.1:4222 belongs to
the machine and is never used. A node stopped and started again keeps its ports and files, so
the others see it go away and come back, as after a crash.

A port chosen free can be taken by another program before the server listens there
(hub.cluster.processes), so the nodes start one after the other, each routed to those already
running (the cluster meshes from there, as NATS clusters do), and a node whose port was taken
on its first start chooses its ports again: no other node has named them yet. A node is
started once it says it is ready, which it does only when every one of its listeners is up.
"""

import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub.cluster.processes import ATTEMPTS, Launched, last_line
from hub.lifecycle import Background
from hub.mqtt.broker import BrokerError, free_port

_START_TIMEOUT = 30.0
_READY = "Server is ready"
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
        folder: Path,
        access: Access | None = None,
        seeds: Sequence["NatsNode"] = (),
        replicas: int = 3,
    ) -> None:
        """`access`: a NATS authorization block and the environment its variables come from,
        without which anyone may connect; `seeds`: the nodes started before this one, which
        it routes to; `replicas`: copies of the MQTT sessions and messages (NATS would
        otherwise count the routes this node was configured with)."""
        self.name = name
        self._replicas = replicas
        self._access = access or Access()
        self._seeds = list(seeds)
        self._store = folder / name
        self._config = folder / f"{name}.conf"
        self._log = folder / f"{name}.log"
        self.ports = NodePorts.free()
        self._process: subprocess.Popen[bytes] | None = None
        self._started = False

    def _write_config(self) -> None:
        """Routes to the seeds and to itself: JetStream refuses a cluster without a route, and
        a node ignores the one to itself."""
        ports = self.ports
        routes = [*(seed.ports.route for seed in self._seeds), ports.route]
        listed = ", ".join(f'"nats-route://{self.host}:{port}"' for port in routes)
        self._config.write_text(
            f'server_name: "{self.name}"\n'
            f"listen: {self.host}:{ports.client}\n"
            f"http: {self.host}:{ports.monitor}\n"
            f'jetstream {{ store_dir: "{self._store}", max_memory_store: 64MB }}\n'
            f'cluster {{ name: "{CLUSTER_NAME}", listen: {self.host}:{ports.route}, '
            f"routes: [{listed}] }}\n"
            f"mqtt {{ listen: {self.host}:{ports.mqtt}, stream_replicas: {self._replicas} }}\n"
            f"{self._access.authorization}",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.ports.client}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.host}:{self.ports.mqtt}"

    def start(self) -> None:
        """Return once the server is ready; on a first start, with other ports while another
        program takes one of those chosen (a restart keeps them: its peers know them)."""
        for _attempt in range(ATTEMPTS):
            self._write_config()
            command = [nats_server_binary(), "-c", str(self._config)]
            launched = Launched(command, self._log, self._access.environment)
            if launched.ready(lambda said: _READY in said, _START_TIMEOUT):
                self._process = launched.process
                self._started = True
                return
            if self._started or not launched.port_taken():
                said = last_line(launched.said())
                raise BrokerError(f"nats-server {self.name} did not start: {said}")
            self.ports = NodePorts.free()
        raise BrokerError(f"nats-server {self.name}: its ports were taken {ATTEMPTS} times")

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
        self.nodes: list[NatsNode] = []
        for n in range(size):
            seeds = list(self.nodes)
            self.nodes.append(NatsNode(f"n{n + 1}", self._folder, access, seeds, min(size, 3)))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Start every node, one after the other; if one cannot, stop the others."""
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
