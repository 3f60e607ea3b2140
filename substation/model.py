"""The feeder's physics, small enough to read: the values a substation reports answer its commands.

An open breaker drops the feeder's current and power to zero; the resource (battery or PV
inverter) ramps towards its set-point; voltages sag with the feeder's net load. Noise comes
from one seeded generator so a run repeats exactly.
"""

import math
import random
from dataclasses import dataclass, field
from enum import Enum


class Breaker(Enum):
    """Double-point states of IEC 60870-5-104 (DPI), whose numbers the bridge reports."""

    INTERMEDIATE = 0
    OPEN = 1
    CLOSED = 2
    INDETERMINATE = 3


@dataclass(frozen=True)
class FeederSpec:
    """What a feeder is: its ratings, its load and the resource connected to it."""

    name: str
    nominal_voltage: float = 230.0
    """phase-to-neutral, V"""
    load_kw: float = 120.0
    power_factor: float = 0.95
    short_circuit_kw: float = 4000.0
    """how stiff the source is: the voltage drops by load / short_circuit_kw per unit"""
    resource: str = "battery"
    resource_kw: float = 100.0
    """the resource's rating; set-points are clamped to ±resource_kw"""
    ramp_kw_per_s: float = 50.0
    capacity_kwh: float = 200.0
    frequency: float = 50.0


@dataclass
class Feeder:
    """A feeder's state, advanced by `step`."""

    spec: FeederSpec
    breaker: Breaker = Breaker.CLOSED
    setpoint_kw: float = 0.0
    resource_kw: float = 0.0
    """generation convention: positive feeds the grid"""
    state_of_charge: float = 50.0
    load_kw: float = field(init=False)

    def __post_init__(self) -> None:
        self.load_kw = self.spec.load_kw

    def set_setpoint(self, kw: float) -> float:
        """Accept a set-point within the resource's rating; returns the one applied."""
        rating = self.spec.resource_kw
        self.setpoint_kw = max(-rating, min(rating, kw))
        return self.setpoint_kw

    def step(self, seconds: float, noise: random.Random) -> None:
        """Advance by `seconds`: the resource ramps, the load wanders, the battery (dis)charges."""
        limit = self.spec.ramp_kw_per_s * seconds
        self.resource_kw += max(-limit, min(limit, self.setpoint_kw - self.resource_kw))
        wander = noise.gauss(0.0, 0.002 * self.spec.load_kw)
        self.load_kw = max(0.0, self.load_kw + wander + 0.01 * (self.spec.load_kw - self.load_kw))
        if self.spec.resource == "battery" and self.breaker is Breaker.CLOSED:
            used_kwh = self.resource_kw * seconds / 3600.0
            self.state_of_charge -= 100.0 * used_kwh / self.spec.capacity_kwh
            self.state_of_charge = max(0.0, min(100.0, self.state_of_charge))

    def readings(self, noise: random.Random) -> dict[str, float]:
        """The feeder's measured values by quantity, as its protection relay reports them."""
        spec = self.spec
        closed = self.breaker is Breaker.CLOSED
        net_kw = self.load_kw - self.resource_kw if closed else 0.0
        sag = net_kw / spec.short_circuit_kw
        voltage = spec.nominal_voltage * (1.0 - sag)
        tan_phi = math.tan(math.acos(spec.power_factor))
        reactive = self.load_kw * tan_phi if closed else 0.0
        apparent = math.hypot(net_kw, reactive)
        current = 1000.0 * apparent / (3.0 * voltage) if closed else 0.0
        values = {
            "activePower": net_kw,
            "reactivePower": reactive,
            "apparentPower": apparent,
            "powerFactor": net_kw / apparent if apparent > 0 else 1.0,
            "frequency": spec.frequency + noise.gauss(0.0, 0.005),
            "resourcePower": self.resource_kw if closed else 0.0,
            "resourceSetpoint": self.setpoint_kw,
            "stateOfCharge": self.state_of_charge,
        }
        for phase in ("1", "2", "3"):
            values["voltage" + phase] = voltage + noise.gauss(0.0, 0.2)
            values["current" + phase] = current * (1.0 + noise.gauss(0.0, 0.002)) if closed else 0.0
        return values


@dataclass
class Grid:
    """All feeders of a simulation and the one random generator they share."""

    feeders: dict[str, Feeder]
    seed: int = 1
    noise: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.noise = random.Random(self.seed)

    def step(self, seconds: float) -> None:
        for feeder in self.feeders.values():
            feeder.step(seconds, self.noise)

    def readings(self, feeder: str) -> dict[str, float]:
        return self.feeders[feeder].readings(self.noise)
