"""The hub's settings: built-in defaults, then a TOML configuration file, then command-line flags.

The file is also where actors' credentials live (as salted hashes, see hub.trust.auth). Without a
file there are no credentials, so the hub is read-only: nothing lets an anonymous client write.

```toml
[hub]
host = "127.0.0.1"
port = 8000
store = "var/store"          # a directory, or "memory"
max_body_bytes = 1048576

[http]
cors_origins = ["http://localhost:8888"]  # browser origins that may call the hub; default none

[sparql]
timeout_seconds = 10.0       # a query past this is stopped (its worker killed): 503
result_limit = 10000         # rows or triples; a longer result is cut and says so
memory_mib = 1024            # what one query may add to its worker's memory: 503 past it
max_nesting = 64             # parentheses, braces and brackets: 400 past it
workers = 1                  # query worker processes, each a query at a time
max_waiting = 8              # queries waiting for a worker; more are answered 503 at once
service_endpoints = []       # SPARQL endpoints a query's SERVICE may call; none by default

[mqtt]
url = "embedded"             # or "mqtt://host:1883", "mqtts://host:8883" (TLS)
embedded_port = 1883
embedded_tls = false         # true: the embedded broker speaks TLS only, with [tls]'s certificate
notify_payload = ["ActivationNotification", "ControlSignal"]  # notifications that carry
                             # the plain-JSON message, by type; true: every type, false: none
username = "heila-hub"       # the hub's login at an external broker; the embedded one makes its own
password = "..."
client_id = "heila-hub"      # the hub's persistent session; one of its own per hub process
max_message_bytes = 1048576  # embedded broker, per client: the largest packet it may send,
max_queued_messages = 1000   # the messages its session keeps while it is away,
max_queued_bytes = 4194304   # the bytes kept for it (unread, or while it is away),
connections_per_second = 20  # and the connections one address may open

[live]
queue_length = 1024          # commits a live viewer may fall behind before it is dropped
max_viewers = 100            # live viewers at once; more are answered 503

[tls]                        # serve HTTPS; with client_ca, actors may log in by certificate
certfile = "hub.pem"
keyfile = "hub.key"
client_ca = "actors-ca.pem"

[trust]
window_seconds = 0           # a message's time must lie this close to its receipt; 0: any time

[cluster]                    # hub nodes sharing one commit log (docs/deployment.md)
nats = ["nats://127.0.0.1:4222"]   # the NATS JetStream servers; none: one process
replicas = 3                 # copies of the log the NATS cluster keeps
read_wait_seconds = 10.0     # how long a read waits for a Heila-Min-Sequence to be applied
remote_query = "http://lab:7878/query"         # a remote SPARQL store as one more replica:
remote_update = "http://lab:7878/update"       # all three endpoints, or none
remote_graph_store = "http://lab:7878/store"
remote_username = "heila"    # its login, as it asks (Digest or Basic); none: it asks for none
remote_password = "..."

[actors.mgms]
token_hash = "sha256$..."    # made by `heila token mgms`
certificate = true           # or a certificate from client_ca with CN=mgms
admin = false                # true: an administrator (role = "administrator")
role = "MGMS"                # what it may send: SPP, MGMS, CEMS, AMS, FMP, DMS, IED (the field),
                             # researcher or administrator; default: named by the id's prefix
party = "Microgrid Oy"       # the business party operating it
```
"""

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.model.errors import UsageError
from hub.model.vocabulary import INFORMATION_OBJECTS

EMBEDDED = "embedded"
ORDERS = frozenset({"ActivationNotification", "ControlSignal"})
"""The types whose notifications carry the message by default: orders that a device carries
out at once. They are small, and a receiver that need not first ask the hub saves a round trip
(more than half of the bridge's share of an activation's way to the device)."""


class ConfigError(UsageError):
    """The configuration file cannot be used as it is; says which key and why."""


@dataclass(frozen=True)
class Credential:
    """How one actor proves who it is: the salted hash of its bearer token, and/or a client
    certificate from the configured client CA whose common name is the actor's id."""

    token_hash: str | None = None
    certificate: bool = False
    admin: bool = False
    """an administrator may also read the whole store online (GET /dump)"""
    role: str | None = None
    """what the actor may send and receive, by the ontology's flows (hub.trust.roles)"""
    party: str | None = None
    """the business party that operates the actor system"""
    keys: tuple[str, ...] = ()
    """the public JWKs of the keys the actor signs messages with (hub.trust.signature)"""
    signed: bool = False
    """every message the actor sends must come signed by one of its keys"""
    broker_hash: str | None = None
    """the token's hash as a Mosquitto password file holds it (hub.trust.auth.mosquitto_hash)"""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    store: str = "var/store"
    max_body_bytes: int = 1_048_576
    query_timeout: float = 10.0
    query_limit: int = 10_000
    query_memory_mib: int = 1024
    query_max_nesting: int = 64
    query_workers: int = 1
    query_max_waiting: int = 8
    query_services: frozenset[str] = frozenset()
    mqtt: str = EMBEDDED
    embedded_mqtt_port: int = 1883
    embedded_mqtt_tls: bool = False
    notify_payload: frozenset[str] = ORDERS
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_client_id: str = "heila-hub"
    mqtt_max_message_bytes: int = 1_048_576
    mqtt_max_queued_messages: int = 1_000
    mqtt_max_queued_bytes: int = 4_194_304
    mqtt_connections_per_second: int = 20
    actors: Mapping[str, Credential] = field(default_factory=dict)
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    tls_client_ca: str | None = None
    cors_origins: tuple[str, ...] = ()
    live_queue_length: int = 1024
    live_viewers: int = 100
    cluster_nats: tuple[str, ...] = ()
    cluster_replicas: int = 3
    cluster_read_wait: float = 10.0
    remote_query: str | None = None
    remote_update: str | None = None
    remote_graph_store: str | None = None
    remote_username: str | None = None
    remote_password: str | None = None
    trust_window: float = 0.0

    @property
    def read_only(self) -> bool:
        """True when no actor can authenticate, so every write is refused."""
        return not self.actors

    @property
    def clustered(self) -> bool:
        """True when the commit log lives in NATS JetStream rather than in this hub's store."""
        return bool(self.cluster_nats)

    @property
    def mqtt_address(self) -> tuple[str, int]:
        """Host and port of the broker the hub connects to (the embedded one included)."""
        if self.mqtt == EMBEDDED:
            return "127.0.0.1", self.embedded_mqtt_port
        url = urlsplit(self.mqtt)
        return url.hostname or "127.0.0.1", url.port or (8883 if self.mqtt_tls else 1883)

    @property
    def mqtt_tls(self) -> bool:
        """Whether the broker the hub connects to speaks MQTT over TLS."""
        if self.mqtt == EMBEDDED:
            return self.embedded_mqtt_tls
        return urlsplit(self.mqtt).scheme == "mqtts"

    def with_flags(self, **flags: Any) -> "Settings":
        """These settings with every flag that was given (not None) taking precedence."""
        return dataclasses.replace(self, **{k: v for k, v in flags.items() if v is not None})


# TOML table -> {key: (Settings attribute, expected type)}
_KEYS: dict[str, dict[str, tuple[str, type | tuple[type, ...]]]] = {
    "hub": {
        "host": ("host", str),
        "port": ("port", int),
        "store": ("store", str),
        "max_body_bytes": ("max_body_bytes", int),
    },
    "http": {
        "cors_origins": ("cors_origins", list),
    },
    "sparql": {
        "timeout_seconds": ("query_timeout", (int, float)),
        "result_limit": ("query_limit", int),
        "memory_mib": ("query_memory_mib", int),
        "max_nesting": ("query_max_nesting", int),
        "workers": ("query_workers", int),
        "max_waiting": ("query_max_waiting", int),
        "service_endpoints": ("query_services", list),
    },
    "tls": {
        "certfile": ("tls_certfile", str),
        "keyfile": ("tls_keyfile", str),
        "client_ca": ("tls_client_ca", str),
    },
    "live": {
        "queue_length": ("live_queue_length", int),
        "max_viewers": ("live_viewers", int),
    },
    "mqtt": {
        "url": ("mqtt", str),
        "embedded_port": ("embedded_mqtt_port", int),
        "embedded_tls": ("embedded_mqtt_tls", bool),
        "notify_payload": ("notify_payload", (bool, list)),
        "username": ("mqtt_username", str),
        "password": ("mqtt_password", str),
        "client_id": ("mqtt_client_id", str),
        "max_message_bytes": ("mqtt_max_message_bytes", int),
        "max_queued_messages": ("mqtt_max_queued_messages", int),
        "max_queued_bytes": ("mqtt_max_queued_bytes", int),
        "connections_per_second": ("mqtt_connections_per_second", int),
    },
    "trust": {
        "window_seconds": ("trust_window", (int, float)),
    },
    "cluster": {
        "nats": ("cluster_nats", list),
        "replicas": ("cluster_replicas", int),
        "read_wait_seconds": ("cluster_read_wait", (int, float)),
        "remote_query": ("remote_query", str),
        "remote_update": ("remote_update", str),
        "remote_graph_store": ("remote_graph_store", str),
        "remote_username": ("remote_username", str),
        "remote_password": ("remote_password", str),
    },
}
_MQTT_BOUNDS = (
    "mqtt_max_message_bytes",
    "mqtt_max_queued_messages",
    "mqtt_max_queued_bytes",
    "mqtt_connections_per_second",
)
_CREDENTIAL_KEYS = {f.name for f in dataclasses.fields(Credential)}


def load_settings(path: Path | None) -> Settings:
    """Settings from the file at `path` over the defaults (the defaults alone when None)."""
    if path is None:
        return Settings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error
    values: dict[str, Any] = {}
    for table, content in document.items():
        if table == "actors":
            values["actors"] = _credentials(path, content)
        elif table in _KEYS:
            values.update(_table(path, table, content))
        else:
            raise ConfigError(f"{path}: unknown table [{table}]")
    settings = Settings(**values)
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Refuse settings that cannot work, naming the setting."""
    if settings.mqtt != EMBEDDED and urlsplit(settings.mqtt).scheme not in ("mqtt", "mqtts", "tcp"):
        raise ConfigError(
            f"mqtt url must be 'embedded', mqtt://host:port or mqtts://host:port, "
            f"not {settings.mqtt!r}"
        )
    if settings.embedded_mqtt_tls and settings.tls_certfile is None:
        raise ConfigError("[mqtt] embedded_tls needs [tls] certfile and keyfile")
    positive = (
        "port",
        "embedded_mqtt_port",
        "max_body_bytes",
        "query_limit",
        "query_memory_mib",
        "query_max_nesting",
        "query_workers",
        "live_queue_length",
        "live_viewers",
        "cluster_replicas",
        *_MQTT_BOUNDS,
    )
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    if not settings.mqtt_client_id:
        raise ConfigError(
            "[mqtt] client_id must not be empty: the broker keeps the hub's session by it"
        )
    if settings.query_timeout <= 0:
        raise ConfigError("query timeout must be positive")
    if settings.cluster_read_wait <= 0:
        raise ConfigError("cluster read_wait_seconds must be positive")
    if settings.trust_window < 0:
        raise ConfigError("[trust] window_seconds must not be negative (0: no window)")
    if settings.query_max_waiting < 0:
        raise ConfigError("query_max_waiting must not be negative")
    remote = (settings.remote_query, settings.remote_update, settings.remote_graph_store)
    if any(remote) and not all(remote):
        raise ConfigError("[cluster] needs remote_query, remote_update and remote_graph_store")
    if (settings.remote_username is None) != (settings.remote_password is None):
        raise ConfigError("[cluster] needs both remote_username and remote_password, or neither")
    if settings.remote_username is not None and not all(remote):
        raise ConfigError("[cluster] remote_username needs the remote store's three endpoints")
    if settings.clustered and settings.mqtt == EMBEDDED:
        raise ConfigError("a cluster node needs [mqtt] url: the MQTT listener of its NATS server")
    if (settings.tls_certfile is None) != (settings.tls_keyfile is None):
        raise ConfigError("[tls] needs both certfile and keyfile")
    if settings.tls_client_ca is not None and settings.tls_certfile is None:
        raise ConfigError("[tls] client_ca needs the server's certfile and keyfile")


def _table(path: Path, table: str, content: Any) -> dict[str, Any]:
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    values = {}
    for key, value in content.items():
        if key not in _KEYS[table]:
            raise ConfigError(f"{path}: unknown key {key!r} in [{table}]")
        attribute, expected = _KEYS[table][key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [{table}] {key} has the wrong type")
        read = _READERS.get(attribute)
        values[attribute] = value if read is None else read(path, value)
    return values


def _payload_types(path: Path, value: Any) -> frozenset[str]:
    """`notify_payload` as the set of types it names: true names every type, false none."""
    if isinstance(value, bool):
        return frozenset(INFORMATION_OBJECTS if value else ())
    unknown = [kind for kind in value if kind not in INFORMATION_OBJECTS]
    if unknown:
        raise ConfigError(
            f"{path}: [mqtt] notify_payload names {unknown[0]!r}, which is no information object"
        )
    return frozenset(value)


def _endpoints(path: Path, value: Any) -> frozenset[str]:
    """`service_endpoints` as a set of http(s) URLs."""
    for endpoint in value:
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError(f"{path}: [sparql] service_endpoints holds {endpoint!r}, no http URL")
    return frozenset(value)


def _origins(path: Path, value: Any) -> tuple[str, ...]:
    """`cors_origins` as origins a browser sends (scheme://host[:port]), or "*" for any."""
    for origin in value:
        url = urlsplit(origin) if isinstance(origin, str) else None
        if origin != "*" and (
            url is None
            or url.scheme not in ("http", "https")
            or not url.netloc
            or url.path
            or url.query
        ):
            raise ConfigError(
                f"{path}: [http] cors_origins takes origins like 'https://host:port' or '*', "
                f"not {origin!r}"
            )
    return tuple(value)


def _strings(values: object) -> bool:
    return isinstance(values, list) and all(isinstance(value, str) for value in values)


def _nats_servers(path: Path, value: Any) -> tuple[str, ...]:
    """`nats` as a tuple of nats:// URLs."""
    for server in value:
        if not isinstance(server, str) or urlsplit(server).scheme not in ("nats", "tls"):
            raise ConfigError(f"{path}: [cluster] nats holds {server!r}, no nats:// URL")
    return tuple(value)


_READERS: dict[str, Callable[[Path, Any], Any]] = {
    "notify_payload": _payload_types,
    "query_services": _endpoints,
    "cors_origins": _origins,
    "cluster_nats": _nats_servers,
}
"""Settings whose TOML value is turned into another kind of value, by attribute."""


_CREDENTIAL_TYPES: dict[str, type] = {
    "token_hash": str,
    "certificate": bool,
    "admin": bool,
    "role": str,
    "party": str,
    "keys": list,
    "signed": bool,
    "broker_hash": str,
}


def _credentials(path: Path, content: Any) -> dict[str, Credential]:
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: [actors] must hold one table per actor")
    actors = {}
    for actor, entry in content.items():
        if not isinstance(entry, dict) or not entry or set(entry) - _CREDENTIAL_KEYS:
            raise ConfigError(
                f"{path}: [actors.{actor}] takes token_hash (a string) and/or certificate = true,"
                f" and {', '.join(sorted(_CREDENTIAL_KEYS - {'token_hash', 'certificate'}))}"
            )
        for key, value in entry.items():
            kind = _CREDENTIAL_TYPES[key]
            if not isinstance(value, kind) or (key == "keys" and not _strings(value)):
                what = {bool: "a boolean", str: "a string", list: "a list of strings"}[kind]
                raise ConfigError(f"{path}: [actors.{actor}] {key} is {what}")
        if "token_hash" not in entry and not entry.get("certificate"):
            raise ConfigError(f"{path}: [actors.{actor}] needs a token_hash or certificate")
        actors[actor] = Credential(**{**entry, "keys": tuple(entry.get("keys", ()))})
    return actors
