"""Reopening a lost IEC 104 link with growing pauses, which c104 2.2.1 cannot be told to do.

c104 retries a lost connection once a second, for ever (docs/c104.md). A stopped c104 client
makes no tries at all, and starting it tries at once. So every station endpoint has a client of
its own, and when its link is lost this thread stops that client and starts it again after the
endpoint's pause. The pause starts again from the first once the link has been interrogated.
"""

import logging
import queue
import threading
import time

import c104

from actors.bridge.backoff import Backoff

log = logging.getLogger("heila.bridge.link")


class Reconnects:
    def __init__(self, clients: dict[str, c104.Client], backoff: tuple[float, float]) -> None:
        """`clients` by the endpoint (host:port) they connect to, one connection each."""
        self._clients = clients
        self._backoffs = {endpoint: Backoff(*backoff) for endpoint in clients}
        self._lost: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._due: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="iec104-reconnect", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No more tries: the clients are left for their owner to stop."""
        self._lost.put(None)
        self._thread.join()

    def lost(self, endpoint: str) -> None:
        """The endpoint's link closed or could not be opened (called on c104's thread: short)."""
        self._lost.put(endpoint)

    def settled(self, endpoint: str) -> None:
        """The endpoint's link is open and answered: the next loss starts from the first pause."""
        self._backoffs[endpoint].succeeded()

    def _run(self) -> None:
        while True:
            try:
                endpoint = self._lost.get(timeout=self._until_due())
            except queue.Empty:
                self._start_due()
                continue
            if endpoint is None:
                return
            self._pause(endpoint)

    def _until_due(self) -> float | None:
        if not self._due:
            return None
        return max(0.0, min(self._due.values()) - time.monotonic())

    def _pause(self, endpoint: str) -> None:
        self._clients[endpoint].stop()
        pause = self._backoffs[endpoint].failed()
        self._due[endpoint] = time.monotonic() + pause
        log.info("IEC 104 link to %s: next try in %.2f s", endpoint, pause)

    def _start_due(self) -> None:
        now = time.monotonic()
        for endpoint, due in list(self._due.items()):
            if due <= now:
                del self._due[endpoint]
                self._clients[endpoint].start()
