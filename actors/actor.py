"""An actor: handlers per information object, told of new messages by MQTT, writing over HTTP.

OpenLEADR style: `@actor.on("Offer")` registers what to do with each Offer addressed to the
actor. The actor logs in to the broker with its id and its bearer token in a persistent session,
subscribes to `heila/v1/{actor}/{type}` for every registered type, reads each announced message
from the hub and hands it to its handler. On every (re)connect and after a quiet while it also
reads from the hub what it missed (actors.mailbox), so each message is handled once even when
the hub, the broker or the actor was away. Handlers and scheduled jobs
(`actor.at(moment, job)`) run one at a time on one worker thread, so an actor's state needs no
locks, and paho's network thread only ever enqueues.
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from actors.clock import Clock
from actors.mailbox import Mailbox
from heila_client.hub import HubClient, Refused, Unavailable
from heila_client.objects import InformationObject
from heila_client.parts import Message, now

log = logging.getLogger("heila.actor")

Handler = Callable[[Message], None]
"""Takes a message as read back from the hub: plain JSON, read loosely (parts.Message)."""
Job = Callable[[], None]
PREFIX = "heila/v1"
CATCH_UP_EVERY = 10.0
"""Seconds without a catch-up after which the actor reads what it may have missed: a
notification the hub could not publish before it stopped is found this way."""


def broker_address(client: mqtt.Client, url: str) -> tuple[str, int]:
    """Host and port of a broker's URL; an mqtts:// URL also switches the client to TLS, the
    broker's certificate checked against the system's CAs (or SSL_CERT_FILE)."""
    address = urlsplit(url)
    if address.scheme == "mqtts":
        client.tls_set()
        return address.hostname or "127.0.0.1", address.port or 8883
    return address.hostname or "127.0.0.1", address.port or 1883


class Actor:
    def __init__(
        self,
        identifier: str,
        hub: HubClient,
        mqtt_url: str,
        clock: Clock,
        *,
        state: Path | None = None,
        catch_up_every: float = CATCH_UP_EVERY,
    ) -> None:
        """`state`: the file that keeps what the actor has handled (actors.mailbox)."""
        self.id = identifier
        self.hub = hub
        self.clock = clock
        self.mailbox = Mailbox(identifier, state)
        self._catch_up_every = catch_up_every
        self._caught_up_at = 0.0
        self._mqtt_url = mqtt_url
        self._handlers: dict[str, Handler] = {}
        self._work: queue.Queue[Job | None] = queue.Queue()
        self._timers: list[threading.Timer] = []
        self._pending_subscriptions: set[int] = set()
        self.ready = threading.Event()
        """set once the broker has confirmed every subscription"""
        self._worker = threading.Thread(target=self._run, name=f"{identifier}-worker", daemon=True)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, f"heila-actor-{identifier}", clean_session=False
        )
        self._client.username_pw_set(identifier, hub.token)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def on(self, kind: str) -> Callable[[Handler], Handler]:
        """Register the handler of messages of type `kind` addressed to this actor."""

        def register(handler: Handler) -> Handler:
            self._handlers[kind] = handler
            return handler

        return register

    def send(self, message: InformationObject) -> None:
        self.hub.send(message)
        recipients = ", ".join(message.get("recipients", [])) or "the record"
        log.info("%s: sent %s %s to %s", self.id, message["type"], message["id"], recipients)

    def at(self, moment: datetime, job: Job) -> None:
        """Run `job` on the worker at a real moment (at once if it has passed)."""
        delay = max(0.0, (moment - now()).total_seconds())
        timer = threading.Timer(delay, self._work.put, args=(job,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def call(self, job: Job) -> None:
        """Run `job` on the worker as soon as it is free."""
        self._work.put(job)

    def start(self) -> None:
        try:
            self.mailbox.begin(self.hub)
        except Unavailable as error:  # the first catch-up places the cursor instead
            log.warning("%s: the hub is away, the log's end is read later: %s", self.id, error)
        self._worker.start()
        self._client.connect_async(*broker_address(self._client, self._mqtt_url))
        self._client.loop_start()

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._client.disconnect()
        self._client.loop_stop()
        self._work.put(None)
        self._worker.join(timeout=10)
        self.hub.close()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, *_: Any) -> None:
        for kind in self._handlers:
            _code, mid = client.subscribe(f"{PREFIX}/{self.id}/{kind}", qos=1)
            if mid is not None:
                self._pending_subscriptions.add(mid)
        if not self._handlers:
            self.ready.set()
        self._work.put(self._catch_up)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int, *_: Any) -> None:
        self._pending_subscriptions.discard(mid)
        if not self._pending_subscriptions:
            self.ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, received: mqtt.MQTTMessage) -> None:
        try:
            notification = json.loads(received.payload)
            kind, _, _ = notification["type"], notification["id"], int(notification["sequence"])
        except (ValueError, KeyError, TypeError):
            log.warning("%s: unreadable notification on %s: ignored", self.id, received.topic)
            return
        if kind in self._handlers:
            self._work.put(lambda: self.mailbox.deliver(notification, self.hub, self._dispatch))

    def _dispatch(self, message: Message) -> None:
        self._handlers[message["type"]](message)

    def _catch_up(self) -> None:
        self._caught_up_at = time.monotonic()
        handled = self.mailbox.catch_up(self.hub, self._dispatch, self._wanted)
        if handled:
            log.info("%s: caught up on %d messages", self.id, handled)

    def _wanted(self, entry: dict[str, Any]) -> bool:
        return entry.get("type") in self._handlers and entry.get("sender") != self.id

    def _run(self) -> None:
        while True:
            due = self._caught_up_at + self._catch_up_every - time.monotonic()
            try:
                job = self._catch_up if due <= 0 else self._work.get(timeout=due)
            except queue.Empty:
                continue
            if job is None:
                return
            try:
                job()
            except (Refused, Unavailable) as error:
                log.error("%s: the hub said no: %s", self.id, error)
            except Exception:  # one failing message must not stop the actor
                log.exception("%s: a handler failed", self.id)
