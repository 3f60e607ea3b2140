"""Control direction: activations and control signals become IEC 104 commands, and back.

An Activation Notification or a Control Signal addressed to the bridge's microgrid becomes an
order for one device of the point map. The order is sent with select-before-operate, and its
outcome is decided by the device's status point, never by c104's answer alone: c104 can report
a failure for a command the device executed. A retry is sent only while the status point shows
the order not carried out, so it never operates twice. The outcome (sent, confirmed, executed
or failed with the reason, each with its time) is recorded in the hub as a Control Signal
that executes the activation.
"""

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from actors.bridge.link import Link
from actors.bridge.monitoring import DOUBLE_POINT
from actors.bridge.pointmap import BREAKER_COMMAND, Command, PointMap

log = logging.getLogger("heila.bridge.control")

ACTIONS = frozenset({"close", "open", "setActivePower"})
INTERROGATION_WAIT = 5.0
"""Seconds an order waits for its status point's first value after the bridge starts."""
BREAKER_TARGET = {"close": DOUBLE_POINT["ON"], "open": DOUBLE_POINT["OFF"]}


class OrderError(ValueError):
    """A notification the bridge cannot turn into a command (unknown device, wrong action)."""


@dataclass(frozen=True)
class Order:
    """What a device must do, and on whose behalf."""

    command: Command
    action: str
    """"close", "open" or "setActivePower" """
    setpoint: float | None
    """kW, for setActivePower"""
    activation: str | None
    """id of the Activation Notification this order carries out"""
    requested_by: str
    """the actor to tell of the outcome"""


@dataclass(frozen=True)
class Outcome:
    order: Order
    notified: datetime | None = None
    """when the bridge heard of the notification that asked for the order"""
    sent: datetime | None = None
    confirmed: datetime | None = None
    """the device acknowledged the command (ACT_CON)"""
    executed: datetime | None = None
    """the status point shows the order carried out"""
    failed: datetime | None = None
    reason: str | None = None


def orders(point_map: PointMap, message: dict[str, Any]) -> list[Order]:
    """The orders a notification asks for: one per device it concerns."""
    sender = str(message.get("sender", ""))
    if message.get("type") == "ControlSignal":
        command = _command(point_map, str(message.get("device")))
        action = str(message.get("action"))
        if action not in ACTIONS or (command.type == BREAKER_COMMAND) == (
            action == "setActivePower"
        ):
            raise OrderError(f"device {command.device} cannot {action}")
        setpoint = message.get("setpoint")
        return [Order(command, action, _number(setpoint), message.get("activation"), sender)]
    if message.get("type") != "ActivationNotification":
        raise OrderError(f"a {message.get('type')} asks for no command")
    if "device" in message:
        commands = [_command(point_map, str(message["device"]))]
    else:
        commands = [c for c in point_map.commands.values() if c.on_activation]
    if not commands:
        raise OrderError("the activation names no device and the point map acts on none")
    return [_activation_order(c, message, sender) for c in commands]


def _activation_order(command: Command, message: dict[str, Any], sender: str) -> Order:
    """Breakers close unless the point map says otherwise; resources follow ±power (up feeds)."""
    if command.type == BREAKER_COMMAND:
        return Order(command, command.on_activation or "close", None, message["id"], sender)
    power = float(message.get("power", 0.0))
    setpoint = power if message.get("flexibilityType", "up") == "up" else -power
    return Order(command, "setActivePower", setpoint, message["id"], sender)


def _command(point_map: PointMap, device: str) -> Command:
    try:
        return point_map.commands[device]
    except KeyError:
        raise OrderError(f"the point map has no command for device {device}") from None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class Operator:
    """Carries out orders over the link and decides each outcome from the status point."""

    def __init__(self, link: Link, timeout: float = 1.0, retries: int = 1) -> None:
        self.link = link
        self.timeout = timeout
        self.retries = retries

    def carry_out(self, order: Order, notified: datetime | None = None) -> Outcome:
        feedback = order.command.feedback
        if not self.link.wait_for(lambda: self.link.known(feedback), INTERROGATION_WAIT):
            reason = f"status point {feedback.id} unknown: the station has not reported it"
            return Outcome(order, notified, failed=_now(), reason=reason)
        done = self._done(order)
        if done():
            log.info("%s already %s: nothing sent", order.command.device, order.action)
            return Outcome(order, notified, executed=_now())
        value: float | str = order.setpoint if order.setpoint is not None else order.action
        outcome = Outcome(order, notified)
        for attempt in range(1 + self.retries):
            outcome = replace(outcome, sent=_now())
            confirmed = self.link.operate(order.command, value)
            if confirmed:
                outcome = replace(outcome, confirmed=_now())
            if self.link.wait_for(done, self.timeout):
                return replace(outcome, executed=_now())
            if confirmed:
                reason = f"device confirmed, but status stayed unchanged for {self.timeout:g} s"
                return replace(outcome, failed=_now(), reason=reason)
            log.warning(
                "%s: no confirmation and no change (try %d)", order.command.device, attempt + 1
            )
        tries = 1 + self.retries
        reason = f"no confirmation from the device and status unchanged after {tries} tries"
        return replace(outcome, failed=_now(), reason=reason)

    def _done(self, order: Order) -> Callable[[], bool]:
        feedback = order.command.feedback
        if order.command.type == BREAKER_COMMAND:
            target = BREAKER_TARGET[order.action]
            return lambda: (
                DOUBLE_POINT.get(getattr(self.link.status(feedback), "name", ""), -1.0) == target
            )
        wanted = float(order.setpoint or 0.0)
        tolerance = 1e-3 * max(1.0, abs(wanted))
        return lambda: abs(float(self.link.status(feedback)) * feedback.scale - wanted) <= tolerance  # type: ignore[arg-type]


def _now() -> datetime:
    return datetime.now(UTC)


_ids = itertools.count(1)
_boot = f"{time.time_ns():x}"


def record(outcome: Outcome, actor: str) -> dict[str, Any]:
    """The outcome as a Control Signal in the plain-JSON form: the command with its times."""
    order = outcome.order
    signal: dict[str, Any] = {
        "type": "ControlSignal",
        "id": f"{actor}-command-{_boot}-{next(_ids)}",
        "sender": actor,
        "time": _now().isoformat(),
        "device": order.command.device,
        "action": order.action,
        "state": "failed" if outcome.failed else "executed",
    }
    if order.requested_by and order.requested_by != actor:
        signal["recipients"] = [order.requested_by]
    if order.setpoint is not None:
        signal["setpoint"] = order.setpoint
    if order.activation is not None:
        signal["activation"] = order.activation
    times = [("sentAt", outcome.sent), ("confirmedAt", outcome.confirmed)]
    times += [("executedAt", outcome.executed), ("failedAt", outcome.failed)]
    signal.update({name: moment.isoformat() for name, moment in times if moment is not None})
    if outcome.reason:
        signal["failureReason"] = outcome.reason
    return signal
