"""The way to the hub: POST /messages with the actor's bearer token, in order, never losing one.

While the hub is unreachable (no connection, time-out, 5xx, 429, or a token it does not accept
yet) messages wait in the on-disk buffer and go out oldest first once it answers again, with
growing pauses between tries. A message the hub refuses as invalid (4xx) would be refused
again: it is kept aside in the buffer's rejected/ folder with the hub's reason, and logged.
"""

import json
import logging
import threading
import time
from collections.abc import Sequence
from enum import Enum

import httpx

from actors.bridge.backoff import Backoff
from actors.bridge.buffer import DiskBuffer
from heila_client.hub import Sign
from heila_client.objects import InformationObject

log = logging.getLogger("heila.bridge.uplink")

RETRYABLE = {401, 403, 408, 425, 429}


class Delivery(Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"


class Uplink:
    def __init__(
        self,
        hub: str,
        token: str,
        buffer: DiskBuffer,
        *,
        timeout: float = 60.0,
        backoff: tuple[float, float] = (0.5, 15.0),
        sign: Sign | None = None,
    ) -> None:
        """`sign`: the headers that sign a plain-JSON message, made as it is posted (so a
        message kept on disk is signed when it finally goes)."""
        self._sign = sign
        self.buffer = buffer
        self._http = httpx.Client(
            base_url=hub, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
        self._lock = threading.Lock()
        self._backoff = Backoff(*backoff)
        self._retry_at = 0.0
        self._pending = len(buffer)
        self.delivered = 0

    @property
    def pending(self) -> int:
        """Messages waiting in the buffer."""
        return self._pending

    def close(self) -> None:
        self._http.close()

    def send_json(self, messages: Sequence[InformationObject]) -> None:
        """Deliver messages in order; whatever the hub cannot take now waits on disk."""
        for message in messages:
            self.send("application/json", _json(message))
        self.flush()

    def keep(self, messages: Sequence[InformationObject]) -> None:
        """Put messages straight into the buffer, for the next start to deliver (on shutdown)."""
        with self._lock:
            for message in messages:
                self.buffer.hold("application/json", _json(message))
                self._pending += 1

    def send(self, media_type: str, body: bytes) -> None:
        with self._lock:
            if self._pending == 0 and self._post(media_type, body) is not Delivery.UNAVAILABLE:
                return
            self.buffer.hold(media_type, body)
            self._pending += 1

    def flush(self) -> None:
        """Offer the buffered messages to the hub, oldest first, if a retry is due."""
        with self._lock:
            if self._pending == 0 or time.monotonic() < self._retry_at:
                return
            for held in self.buffer.oldest_first():
                if self._post(held.media_type, held.body) is Delivery.UNAVAILABLE:
                    return
                self.buffer.release(held)
                self._pending -= 1
            log.info("buffer flushed: the hub has every message again")

    def _post(self, media_type: str, body: bytes) -> Delivery:
        try:
            response = self._http.post(
                "/messages", content=body, headers=self._headers(media_type, body)
            )
        except httpx.HTTPError as error:
            return self._unavailable(str(error) or type(error).__name__)
        if response.is_success:
            self._backoff.succeeded()
            self._retry_at = 0.0
            self.delivered += 1
            return Delivery.DELIVERED
        if response.status_code >= 500 or response.status_code in RETRYABLE:
            return self._unavailable(f"HTTP {response.status_code} {response.text[:200]}")
        kept = self.buffer.reject(media_type, body, response.text)
        log.error(
            "hub refused a message (HTTP %d), kept in %s: %s",
            response.status_code,
            kept,
            response.text[:500],
        )
        return Delivery.REFUSED

    def _headers(self, media_type: str, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": media_type}
        if self._sign is not None and media_type == "application/json":
            headers |= self._sign(json.loads(body))
        return headers

    def _unavailable(self, reason: str) -> Delivery:
        if self._retry_at == 0.0:
            log.warning("hub unavailable (%s): buffering on disk", reason)
        self._retry_at = time.monotonic() + self._backoff.failed()
        return Delivery.UNAVAILABLE


def _json(message: InformationObject) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()
