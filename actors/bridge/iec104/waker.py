"""Waking c104's wait for a command's answer once the answer is in.

c104 2.2.1 waits for a confirmation on a condition variable and looks at the answers only when
woken (docs/c104.md): an answer that came in before the wait began stays unseen until another
answer on the same connection wakes the wait, or the command timeout ends it, and a missed
select confirmation means that c104 sends no execute at all. The link reads the answers off the
wire; when c104 has not moved on GRACE after one came in, the waker sends the station a test
command (C_TS_TA_1), whose confirmation wakes every wait on the connection, and each finds its
own answer. The test is sent from a thread of its own, as c104 blocks until it is answered.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable

import c104

log = logging.getLogger("heila.bridge.waker")

GRACE = 0.02
"""Seconds c104 gets to move on by itself after an answer came in: a command whose wait missed
its answer is late by this much instead of c104's whole command timeout."""

Stuck = Callable[[], bool]
"""Whether c104 is still waiting for the answer that came in."""


class Waker:
    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[tuple[float, c104.Connection, int, Stuck] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="iec104-waker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._requests.put(None)
        self._thread.join()

    def wake(self, connection: c104.Connection, common_address: int, stuck: Stuck) -> None:
        """An answer came in now: wake c104's waits on the connection if it stays `stuck`."""
        self._requests.put((time.monotonic(), connection, common_address, stuck))

    def _run(self) -> None:
        while (request := self._requests.get()) is not None:
            heard, connection, common_address, stuck = request
            time.sleep(max(0.0, heard + GRACE - time.monotonic()))
            if stuck() and connection.is_connected:
                self._test(connection, common_address)

    @staticmethod
    def _test(connection: c104.Connection, common_address: int) -> None:
        log.debug("c104 missed an answer from station %d: test command sent", common_address)
        try:
            connection.test(common_address=common_address, with_time=True)
        except RuntimeError as refused:  # c104 refuses a second test while one is awaited
            log.debug("test command to %d not sent: %s", common_address, refused)
