"""The field bridge as a process, and the `heila bridge` command.

It runs four things side by side: one field client per protocol of the point map (field.py;
the IEC 104 link runs c104's threads), the monitoring loop
(samples to Measurement messages to the hub), the MQTT subscription to the microgrid's
notifications, and the command worker that carries out one order at a time. The worker also
reads from the hub what it missed, on every broker (re)connect and after a quiet while
(actors.mailbox), and skips any order it has answered already (ledger.py).
"""

import argparse
import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from actors.actor import broker_address
from actors.bridge import pointmap
from actors.bridge.buffer import DiskBuffer
from actors.bridge.control import Operator, OrderError, Outcome, orders, record
from actors.bridge.dlms.client import Meters, missing_passwords
from actors.bridge.field import Changes, Client, Field
from actors.bridge.iec104.link import Link, Tls
from actors.bridge.iec61850.client import Ieds
from actors.bridge.ledger import Ledger
from actors.bridge.monitoring import Converter, Sample, pump
from actors.bridge.uplink import Uplink
from actors.mailbox import Mailbox
from actors.signing import Signer
from heila_client.hub import HubClient, Unavailable
from hub.model.errors import UsageError

log = logging.getLogger("heila.bridge")

TOPICS = ("ActivationNotification", "ControlSignal")
"""The notifications the bridge acts on, on heila/v1/{actor}/{type}."""
CATCH_UP = "catch up"
"""The command worker's cue to read from the hub what it missed."""


@dataclass(frozen=True)
class Settings:
    hub: str = "http://127.0.0.1:8000"
    token: str = ""
    actor: str = "mgms-1"
    """the microgrid the bridge serves: sender of its messages, recipient of activations"""
    mqtt: str = "mqtt://127.0.0.1:1883"
    session: str = ""
    """MQTT client id of a persistent session, so activations sent while the bridge was away
    still arrive; default heila-bridge-{actor}"""
    buffer: Path = Path("var/bridge-buffer")
    state: Path = Path("var/bridge-state")
    """what the bridge has handled: its place in the hub's log and the orders it answered"""
    order_lifetime: float = 900.0
    """seconds a Control Signal (which has no window) may wait to be carried out"""
    catch_up_every: float = 10.0
    """seconds without a catch-up after which the bridge reads what it may have missed"""
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)
    tls: Tls | None = None
    signer: Signer | None = None
    """signs every message the bridge sends, with the microgrid's key"""
    command_timeout: float = 1.0
    """seconds to wait for a device's confirmation and for its status point"""
    command_retries: int = 2
    """further tries of a command whose status point shows it not carried out: c104 loses a
    fast confirmation about once in 100 commands, and several times as often on a busy
    machine (docs/c104.md)"""
    retry_backoff: tuple[float, float] = (0.5, 15.0)
    """seconds between tries to deliver to the hub, first and longest"""
    reconnect_backoff: tuple[float, float] = (0.5, 30.0)
    """seconds before reopening a lost station link, first and longest"""


class Bridge:
    def __init__(
        self,
        settings: Settings,
        point_map: pointmap.PointMap,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.settings = settings
        self.point_map = point_map
        self.samples: queue.SimpleQueue[Sample] = queue.SimpleQueue()
        self.converter = Converter(point_map, settings.actor)
        changes = Changes()
        clients = {
            protocol: CLIENTS[protocol](point_map.of(protocol), self.samples, changes, settings)
            for protocol in point_map.protocols
        }
        self.field = Field(clients, changes)
        self.uplink = Uplink(
            settings.hub,
            settings.token,
            DiskBuffer(settings.buffer),
            backoff=settings.retry_backoff,
            sign=settings.signer,
        )
        self.operator = Operator(
            self.field, timeout=settings.command_timeout, retries=settings.command_retries
        )
        self.hub = HubClient(settings.hub, settings.token, sign=settings.signer)
        self.mailbox = Mailbox(settings.actor, settings.state / "mailbox.json")
        self.ledger = Ledger(settings.state / "orders")
        self._caught_up_at = 0.0
        self._on_outcome = on_outcome
        self._notifications: queue.SimpleQueue[tuple[dict[str, Any], datetime] | str | None] = (
            queue.SimpleQueue()
        )
        self._running = False
        self._threads: list[threading.Thread] = []
        self._mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            settings.session or f"heila-bridge-{settings.actor}",
            clean_session=False,
        )
        self._mqtt.username_pw_set(settings.actor, settings.token)  # the broker's login too
        self._mqtt.reconnect_delay_set(min_delay=1, max_delay=30)
        self._mqtt.on_connect = self._on_mqtt_connect
        self._mqtt.on_message = self._on_mqtt_message

    def start(self) -> None:
        try:
            self.mailbox.begin(self.hub)
        except Unavailable as error:  # the first catch-up places the cursor instead
            log.warning("the hub is away, the log's end is read later: %s", error)
        self._running = True
        self.field.start()
        for name, target in (("monitoring", self._monitor), ("commands", self._command_loop)):
            thread = threading.Thread(target=target, name=f"bridge-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._mqtt.connect_async(*broker_address(self._mqtt, self.settings.mqtt))
        self._mqtt.loop_start()

    def stop(self) -> None:
        self._running = False
        self._notifications.put(None)
        self._mqtt.disconnect()
        self._mqtt.loop_stop()
        self.field.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.uplink.keep(self.converter.messages(_drain(self.samples)))
        self.uplink.close()
        self.hub.close()

    @property
    def subscribed(self) -> bool:
        return self._mqtt.is_connected()

    def _monitor(self) -> None:
        pump(self.samples, self.converter, self.uplink.send_json, lambda: self._running)

    def _on_mqtt_connect(self, client: mqtt.Client, *_: Any) -> None:
        for kind in TOPICS:
            client.subscribe(f"heila/v1/{self.settings.actor}/{kind}", qos=1)
        self._notifications.put(CATCH_UP)

    def _on_mqtt_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        try:
            self._notifications.put((json.loads(message.payload), datetime.now(UTC)))
        except ValueError:
            log.warning("unreadable notification on %s: ignored", message.topic)

    def _command_loop(self) -> None:
        while True:
            due = self._caught_up_at + self.settings.catch_up_every - time.monotonic()
            try:
                item = CATCH_UP if due <= 0 else self._notifications.get(timeout=due)
            except queue.Empty:
                continue
            if item is None:
                return
            try:
                self._take(item)
            except Exception:  # one bad notification, or the hub away, must not stop the worker
                log.exception("the command worker could not go on with %s", item)

    def _take(self, item: tuple[dict[str, Any], datetime] | str) -> None:
        if isinstance(item, str):
            self._caught_up_at = time.monotonic()
            try:
                handled = self.mailbox.catch_up(self.hub, self._act_on_now, self._wanted)
            except Unavailable as error:
                log.warning(
                    "cannot catch up now, again in %g s: %s", self.settings.catch_up_every, error
                )
                return
            if handled:
                log.info("caught up on %d orders stored while the bridge was away", handled)
            return
        notification, heard = item
        if notification.get("type") in TOPICS:
            self.mailbox.deliver(notification, self.hub, lambda m: self._act_on(m, heard))

    def _wanted(self, entry: dict[str, Any]) -> bool:
        return entry.get("type") in TOPICS and entry.get("sender") != self.settings.actor

    def _act_on_now(self, message: dict[str, Any]) -> None:
        """Act on a message found in the hub's log: the bridge hears of it now."""
        self._act_on(message, datetime.now(UTC))

    def _act_on(self, message: dict[str, Any], heard: datetime) -> None:
        if not self._running:  # left for the next start, which reads it from the hub's log
            raise Unavailable("the bridge is stopping")
        if message.get("sender") == self.settings.actor:
            return
        try:
            found = orders(self.point_map, message, timedelta(seconds=self.settings.order_lifetime))
        except OrderError as error:
            log.warning("%s %s: %s", message.get("type"), message.get("id"), error)
            return
        for order in found:
            if order.key in self.ledger:
                log.info("order %s answered before: skipped", order.key)
                continue
            outcome = self.operator.carry_out(order, heard)
            log.info("%s %s: %s", order.device, order.action, outcome.reason or "executed")
            self.uplink.send(
                "application/json", json.dumps(record(outcome, self.settings.actor)).encode()
            )
            self.ledger.answered(order.key)
            if self._on_outcome is not None:
                self._on_outcome(outcome)


def _iec104(
    point_map: pointmap.PointMap,
    samples: "queue.SimpleQueue[Sample]",
    changes: Changes,
    settings: Settings,
) -> Client:
    return Link(
        point_map,
        samples,
        changes,
        endpoints=settings.endpoints,
        tls=settings.tls,
        command_timeout_ms=int(settings.command_timeout * 1000),
        reconnect=settings.reconnect_backoff,
    )


def _iec61850(
    point_map: pointmap.PointMap,
    samples: "queue.SimpleQueue[Sample]",
    changes: Changes,
    settings: Settings,
) -> Client:
    return Ieds(
        point_map,
        samples,
        changes,
        endpoints=settings.endpoints,
        timeout=settings.command_timeout,
        reconnect=settings.reconnect_backoff,
    )


def _dlms(
    point_map: pointmap.PointMap,
    samples: "queue.SimpleQueue[Sample]",
    changes: Changes,
    settings: Settings,
) -> Client:
    return Meters(
        point_map,
        samples,
        changes,
        endpoints=settings.endpoints,
        backoff=settings.reconnect_backoff,
    )


CLIENTS: dict[
    str,
    Callable[[pointmap.PointMap, "queue.SimpleQueue[Sample]", Changes, Settings], Client],
] = {"iec104": _iec104, "iec61850": _iec61850, "dlms": _dlms}
"""How the bridge reaches the stations of each protocol."""


def _drain(samples: "queue.SimpleQueue[Sample]") -> list[Sample]:
    drained = []
    while not samples.empty():
        drained.append(samples.get_nowait())
    return drained


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub", default=Settings.hub, help="the hub's base URL")
    parser.add_argument(
        "--token", default=os.environ.get("HEILA_TOKEN", ""), help="bearer token (or HEILA_TOKEN)"
    )
    parser.add_argument("--actor", default=Settings.actor, help="the microgrid's actor id")
    parser.add_argument("--mqtt", default=Settings.mqtt, help="the hub's MQTT broker URL")
    parser.add_argument(
        "--point-map",
        type=Path,
        action="append",
        help="point map (Turtle), repeatable; default: the shipped substation-1 map",
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="STATION=HOST:PORT",
        help="reach a station elsewhere than its point map says",
    )
    parser.add_argument("--buffer", type=Path, default=Settings.buffer, help="on-disk buffer")
    parser.add_argument(
        "--state",
        type=Path,
        default=Settings.state,
        help="folder that keeps what the bridge has handled: keep it across restarts",
    )
    parser.add_argument(
        "--order-lifetime",
        type=float,
        default=Settings.order_lifetime,
        help="seconds a Control Signal may wait to be carried out before it expires",
    )
    parser.add_argument("--command-timeout", type=float, default=Settings.command_timeout)
    parser.add_argument("--command-retries", type=int, default=Settings.command_retries)
    parser.add_argument("--tls-cert", type=Path, help="the bridge's certificate (PEM) for TLS")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate that signs the stations")
    parser.add_argument(
        "--signing-key", type=Path, help="the private JWK it signs every message with"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the point map and say what it holds"
    )


def _signer(path: Path | None) -> Signer | None:
    if path is None:
        return None
    try:
        return Signer.from_file(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot use the signing key {path}: {error}") from None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        point_map = pointmap.load(args.point_map or pointmap.default_files())
    except pointmap.PointMapError as error:
        raise UsageError(f"point map: {error}") from error
    if args.check:
        print(
            f"point map ok: {len(point_map.stations)} stations, {len(point_map.points)} points, "
            f"{len(point_map.commands)} commands"
        )
        return 0
    if not args.token:
        raise UsageError("the hub needs a bearer token: --token or HEILA_TOKEN")
    if missing := missing_passwords(point_map):
        raise UsageError(f"meter passwords missing from the environment: {', '.join(missing)}")
    if args.command_timeout <= 0 or args.command_retries < 0:
        raise UsageError("--command-timeout must be positive and --command-retries not negative")
    if args.order_lifetime <= 0:
        raise UsageError("--order-lifetime must be positive")
    settings = Settings(
        hub=args.hub,
        token=args.token,
        actor=args.actor,
        mqtt=args.mqtt,
        buffer=args.buffer,
        state=args.state,
        order_lifetime=args.order_lifetime,
        endpoints=dict(_endpoint(text, point_map) for text in args.endpoint),
        tls=_tls(args),
        signer=_signer(args.signing_key),
        command_timeout=args.command_timeout,
        command_retries=args.command_retries,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _number, _frame: stopping.set())
    bridge = Bridge(settings, point_map)
    bridge.start()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        bridge.stop()
    return 0


def _endpoint(text: str, point_map: pointmap.PointMap) -> tuple[str, tuple[str, int]]:
    station, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    if station not in {s.id for s in point_map.stations} or not host or not port.isdigit():
        raise UsageError(f"--endpoint {text!r}: expected STATION=HOST:PORT for a mapped station")
    return station, (host, int(port))


def _tls(args: argparse.Namespace) -> Tls | None:
    files = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(files) and not all(files):
        raise UsageError("TLS needs --tls-cert, --tls-key and --tls-ca together")
    if not all(files):
        return None
    tls = Tls(*files)
    try:
        tls.client_context()
    except OSError as error:  # ssl.SSLError too: a file that is no certificate or key
        missing = [str(path) for path in files if not path.is_file()]
        raise UsageError(f"TLS: {f'no file {missing[0]}' if missing else error}") from error
    return tls
