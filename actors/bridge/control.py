"""Control direction: activations and control signals become device commands, and back.

An Activation Notification or a Control Signal addressed to the bridge's microgrid becomes an
order for one device of the point map, and every order gets an answer: a Control Signal that
records its outcome and refers to it (`activation` for an activation, `order` for a control
signal). The order goes to the client of the device's protocol (field.py), and its outcome is
decided by the device's status point, never by the protocol's answer alone: c104 can report a
failure for a command the device executed. A retry is sent only while the status point shows the
order not carried out, so it never operates twice. An order the point map cannot carry out
(unknown device, a set-point for a breaker) fails with that reason; one whose window has passed
expires and is not carried out late. The outcome keeps each try's time; its id follows from the
order, so recording it again after a restart stores nothing new.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from actors.bridge.field import Field, Refused
from actors.bridge.monitoring import DOUBLE_POINT
from actors.bridge.pointmap import Command, PointMap
from heila_client import objects

log = logging.getLogger("heila.bridge.control")

ACTIONS: tuple[objects.Action, ...] = get_args(objects.Action)
INTERROGATION_WAIT = 5.0
"""Seconds an order waits for its status point's first value after the bridge starts, and for
a lost station to come back: one that has been away longer fails the order at once."""
BREAKER_TARGET = {"close": DOUBLE_POINT["ON"], "open": DOUBLE_POINT["OFF"]}
ORDER_LIFETIME = timedelta(minutes=15)
"""How long a Control Signal, which has no window of its own, may wait to be carried out."""


class OrderError(ValueError):
    """A message that asks for no device's command (another type, or an activation that names
    no device when the point map acts on none)."""


@dataclass(frozen=True)
class Order:
    """What a device must do, on whose behalf, and until when."""

    device: str
    action: objects.Action
    setpoint: float | None
    """kW, for setActivePower"""
    source: str
    """id of the message that asked for the order, which its outcome answers"""
    activation: str | None
    """id of the Activation Notification this order carries out"""
    requested_by: str
    """the actor to tell of the outcome"""
    until: datetime | None
    """the end of the order's window: it is not carried out later"""
    command: Command | None
    """the point map's command for the device; None when it has none"""
    refusal: str | None = None
    """why the order cannot be carried out at all"""

    @property
    def key(self) -> str:
        """The order's identity: one device's part of one message."""
        return f"{self.source}/{self.device}"


@dataclass(frozen=True)
class Outcome:
    order: Order
    notified: datetime | None = None
    """when the bridge heard of the notification that asked for the order"""
    tries: tuple[datetime, ...] = ()
    """when the command was sent, once per try"""
    confirmed: datetime | None = None
    """the device acknowledged the command (ACT_CON)"""
    executed: datetime | None = None
    """the status point shows the order carried out"""
    failed: datetime | None = None
    expired: datetime | None = None
    """the order's window had passed when the bridge could act"""
    reason: str | None = None

    @property
    def sent(self) -> datetime | None:
        """When the command was first sent."""
        return self.tries[0] if self.tries else None


def orders(
    point_map: PointMap, message: dict[str, Any], lifetime: timedelta = ORDER_LIFETIME
) -> list[Order]:
    """The orders a message asks for: one per device it concerns, each with its window's end;
    an order the point map cannot carry out comes with its refusal. The message, as read from
    the hub, is read loosely as plain JSON; the outcome (`record`) is a typed Control Signal."""
    if message.get("type") == "ControlSignal":
        device = str(message.get("device"))
        order = Order(
            device,
            _action(str(message.get("action")), device),
            _number(message.get("setpoint")),
            str(message.get("id")),
            message.get("activation"),
            str(message.get("sender", "")),
            datetime.fromisoformat(str(message["time"])) + lifetime,
            point_map.commands.get(device),
        )
        return [replace(order, refusal=_refusal(order))]
    if message.get("type") != "ActivationNotification":
        raise OrderError(f"a {message.get('type')} asks for no command")
    until = datetime.fromisoformat(str(message["end"])) if "end" in message else None
    if "device" in message:
        devices = [str(message["device"])]
    else:
        devices = [c.device for c in point_map.commands.values() if c.on_activation]
    if not devices:
        raise OrderError("the activation names no device and the point map acts on none")
    return [_activation_order(point_map, device, message, until) for device in devices]


def _activation_order(
    point_map: PointMap, device: str, message: dict[str, Any], until: datetime | None
) -> Order:
    """Breakers close unless the point map says otherwise; resources follow ±power (up feeds)."""
    command = point_map.commands.get(device)
    if command is not None and command.breaker:
        action, setpoint = _action(command.on_activation or "close", device), None
    else:
        power = float(message.get("power", 0.0))
        action = "setActivePower"
        setpoint = power if message.get("flexibilityType", "up") == "up" else -power
    source, sender = str(message["id"]), str(message.get("sender", ""))
    order = Order(device, action, setpoint, source, source, sender, until, command)
    return replace(order, refusal=_refusal(order))


def _refusal(order: Order) -> str | None:
    """Why the point map cannot carry the order out, if it cannot."""
    command = order.command
    if command is None:
        return f"the point map has no command for device {order.device}"
    if command.breaker == (order.action == "setActivePower"):
        return (
            f"device {order.device} cannot {order.action}: its command point {command.id} "
            f"is {command.type}"
        )
    return None


def _action(word: str, device: str) -> objects.Action:
    """The action a message or the point map names; OrderError when no device can take it."""
    if word not in ACTIONS:
        raise OrderError(f"no device can {word} (asked of {device})")
    return word


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class Operator:
    """Carries out orders in the field and decides each outcome from the status point."""

    def __init__(self, field: Field, timeout: float = 1.0, retries: int = 1) -> None:
        self.field = field
        self.timeout = timeout
        self.retries = retries

    def carry_out(self, order: Order, notified: datetime | None = None) -> Outcome:
        outcome = Outcome(order, notified)
        if order.refusal is not None or order.command is None:
            return replace(outcome, failed=_now(), reason=order.refusal)
        if order.until is not None and _now() > order.until:
            reason = f"its window ended at {order.until.isoformat()}: not carried out late"
            return replace(outcome, expired=_now(), reason=reason)
        command = order.command
        feedback = command.feedback
        patience = max(0.0, INTERROGATION_WAIT - self.field.away_for(command.station))
        if not self.field.wait_for(lambda: self.field.known(feedback), patience):
            if not self.field.reached(command.station):
                reason = f"station {command.station.id} away: no link to it"
            else:
                reason = f"status point {feedback.id} unknown: the station has not reported it"
            return replace(outcome, failed=_now(), reason=reason)
        done = self._done(command, order)
        if done():
            log.info("%s already %s: nothing sent", order.device, order.action)
            return replace(outcome, executed=_now())
        value: float | str = order.setpoint if order.setpoint is not None else order.action
        for attempt in range(1 + self.retries):
            outcome = replace(outcome, tries=(*outcome.tries, _now()))
            try:
                confirmed = self.field.operate(command, value)
            except Refused as refusal:
                return replace(outcome, failed=_now(), reason=str(refusal))
            if confirmed:
                outcome = replace(outcome, confirmed=_now())
            if self.field.wait_for(done, self.timeout):
                return replace(outcome, executed=_now())
            if confirmed:
                reason = f"device confirmed, but status stayed unchanged for {self.timeout:g} s"
                return replace(outcome, failed=_now(), reason=reason)
            log.warning("%s: no confirmation and no change (try %d)", order.device, attempt + 1)
        tries = 1 + self.retries
        reason = f"no confirmation from the device and status unchanged after {tries} tries"
        return replace(outcome, failed=_now(), reason=reason)

    def _done(self, command: Command, order: Order) -> Callable[[], bool]:
        feedback = command.feedback
        if command.breaker:
            target = BREAKER_TARGET[order.action]
            return lambda: self.field.status(feedback) == target
        wanted = float(order.setpoint or 0.0)
        tolerance = 1e-3 * max(1.0, abs(wanted))
        return lambda: abs(self.field.status(feedback) * feedback.scale - wanted) <= tolerance


def _now() -> datetime:
    return datetime.now(UTC)


def outcome_id(order: Order, actor: str) -> str:
    """The id of the Control Signal that answers the order: the same after any restart."""
    digest = hashlib.sha256(order.key.encode()).hexdigest()[:32]
    return f"{actor}-outcome-{digest}"


def state(outcome: Outcome) -> objects.CommandState:
    if outcome.expired:
        return "expired"
    return "failed" if outcome.failed else "executed"


def record(outcome: Outcome, actor: str) -> objects.ControlSignal:
    """The outcome as a Control Signal: the order it answers, the command, and its times."""
    order = outcome.order
    signal: objects.ControlSignal = {
        "type": "ControlSignal",
        "id": outcome_id(order, actor),
        "sender": actor,
        "time": _now().isoformat(),
        "device": order.device,
        "action": order.action,
        "state": state(outcome),
    }
    if order.source != order.activation:
        signal["order"] = order.source
    if order.requested_by and order.requested_by != actor:
        signal["recipients"] = [order.requested_by]
    if order.setpoint is not None:
        signal["setpoint"] = order.setpoint
    if order.activation is not None:
        signal["activation"] = order.activation
    if outcome.sent is not None:
        signal["sentAt"] = outcome.sent.isoformat()
    if outcome.confirmed is not None:
        signal["confirmedAt"] = outcome.confirmed.isoformat()
    if outcome.executed is not None:
        signal["executedAt"] = outcome.executed.isoformat()
    if (failed := outcome.failed or outcome.expired) is not None:
        signal["failedAt"] = failed.isoformat()
    if outcome.tries:
        signal["triedAt"] = [moment.isoformat() for moment in outcome.tries]
    if outcome.reason:
        signal["failureReason"] = outcome.reason
    return signal
