"""The field side of the bridge, whatever the protocol: one client per protocol of the point map.

The monitoring loop and the command worker see only `Field`: it hands each question about a
station, point or command to the client of the station's protocol (IEC 104: link.py; IEC 61850
MMS: iec61850/), so the outcome of an order is decided the same way for every protocol.
"""

import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from actors.bridge.pointmap import Command, Point, Station


class Refused(Exception):
    """A client cannot carry a command out, or the device refused it: the order fails with this
    reason, at once and without a retry."""


class Changes:
    """News of received values, shared by every client, so an order can wait for its status."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._values = 0
        """values received so far: a waiter sees whether one came while it looked"""

    def received(self) -> None:
        with self._changed:
            self._values += 1
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until a received value makes `condition` true.

        `condition` may read a client's points, so it runs outside this lock, which a client's
        receive thread takes for each value: holding it there deadlocked the bridge at times.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._values
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                if self._values == seen:
                    self._changed.wait(remaining)


class Client(Protocol):
    """What the bridge asks of one protocol's client."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Every station of the client is reached."""
        ...

    def reached(self, station: Station) -> bool: ...

    def away_for(self, station: Station) -> float:
        """Seconds since the station was lost; 0 while it is up or was never up."""
        ...

    def known(self, point: Point) -> bool:
        """A value of the point has been received since its station was last reached."""
        ...

    def status(self, point: Point) -> float:
        """The point's last received value, as a Sample carries it."""
        ...

    def operate(self, command: Command, value: float | str) -> bool:
        """Send a command ("close"/"open" for a breaker, kW for a set-point); True if the
        device confirmed it."""
        ...


class Field:
    """Every protocol client of the bridge, asked by the protocol of the station concerned."""

    def __init__(self, clients: Mapping[str, Client], changes: Changes) -> None:
        self.clients = dict(clients)
        self.changes = changes

    def start(self) -> None:
        for client in self.clients.values():
            client.start()

    def stop(self) -> None:
        for client in self.clients.values():
            client.stop()

    @property
    def connected(self) -> bool:
        return all(client.connected for client in self.clients.values())

    def reached(self, station: Station) -> bool:
        return self.clients[station.protocol].reached(station)

    def away_for(self, station: Station) -> float:
        return self.clients[station.protocol].away_for(station)

    def known(self, point: Point) -> bool:
        return self.clients[point.station.protocol].known(point)

    def status(self, point: Point) -> float:
        return self.clients[point.station.protocol].status(point)

    def operate(self, command: Command, value: float | str) -> bool:
        return self.clients[command.station.protocol].operate(command, value)

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        return self.changes.wait_for(condition, timeout)
