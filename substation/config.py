"""The substation's configuration file (TOML): stations, their feeders and point addresses.

Each feeder occupies a block of information object addresses from `first_address`, in the
order of `LAYOUT`; the bridge's point map names the same addresses.
"""

import argparse
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.model.errors import UsageError
from substation.model import FeederSpec

LAYOUT: tuple[str, ...] = (
    "voltage1",
    "voltage2",
    "voltage3",
    "current1",
    "current2",
    "current3",
    "activePower",
    "reactivePower",
    "apparentPower",
    "powerFactor",
    "frequency",
    "breaker",
    "breakerCommand",
    "resourcePower",
    "resourceSetpoint",
    "stateOfCharge",
    "setpointCommand",
)
"""Offsets from a feeder's first address: measured values, then status and command points."""

DEFAULT_CONFIG = "default.toml"


class ConfigError(UsageError):
    """The configuration file is unreadable or names something impossible: one line, exit 2."""


@dataclass(frozen=True)
class FeederConfig:
    spec: FeederSpec
    first_address: int

    def address(self, signal: str) -> int:
        return self.first_address + LAYOUT.index(signal)


@dataclass(frozen=True)
class StationConfig:
    name: str
    common_address: int
    host: str
    port: int
    feeders: tuple[FeederConfig, ...]
    zone: ZoneInfo | None = None
    """the time zone of the station's clock, in which it writes time stamps; None: the host's"""


@dataclass(frozen=True)
class SubstationConfig:
    seed: int
    step_ms: int
    deadband_percent: float
    """a value is reported when it moves more than this share of its last reported value"""
    stations: tuple[StationConfig, ...]


def load(path: Path | None = None) -> SubstationConfig:
    """Read a configuration file, or the one shipped with the package when `path` is None."""
    try:
        if path is None:
            text = resources.files("substation").joinpath(DEFAULT_CONFIG).read_text()
        else:
            text = path.read_text()
        data = tomllib.loads(text)
        return _substation(data)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read {path or DEFAULT_CONFIG}: {error}") from error
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path or DEFAULT_CONFIG}: {error}") from error
    except ZoneInfoNotFoundError as error:
        raise ConfigError(f"{path or DEFAULT_CONFIG}: time_zone: {error}") from error


def _substation(data: dict[str, Any]) -> SubstationConfig:
    stations = tuple(_station(entry) for entry in data["stations"])
    names = [feeder.spec.name for station in stations for feeder in station.feeders]
    if len(set(names)) != len(names):
        raise ValueError("feeder names must be unique")
    return SubstationConfig(
        seed=int(data.get("seed", 1)),
        step_ms=int(data.get("step_ms", 100)),
        deadband_percent=float(data.get("deadband_percent", 0.5)),
        stations=stations,
    )


def _station(data: dict[str, Any]) -> StationConfig:
    feeders = tuple(_feeder(entry) for entry in data["feeders"])
    addresses = [feeder.address(signal) for feeder in feeders for signal in LAYOUT]
    if len(set(addresses)) != len(addresses):
        raise ValueError(f"station {data['name']}: feeders' address blocks overlap")
    common_address = int(data["common_address"])
    if not 1 <= common_address <= 65534:
        raise ValueError(f"station {data['name']}: common_address must be within 1..65534")
    zone = data.get("time_zone")
    return StationConfig(
        name=str(data["name"]),
        common_address=common_address,
        host=str(data.get("host", "127.0.0.1")),
        port=int(data.get("port", 2404)),
        feeders=feeders,
        zone=ZoneInfo(str(zone)) if zone is not None else None,
    )


def _feeder(data: dict[str, Any]) -> FeederConfig:
    fields = {key: value for key, value in data.items() if key != "first_address"}
    spec = FeederSpec(**fields)
    if spec.resource not in ("battery", "pv"):
        raise ValueError(f"feeder {spec.name}: resource must be battery or pv")
    return FeederConfig(spec=spec, first_address=int(data["first_address"]))


def add_feeder_arguments(parser: argparse.ArgumentParser) -> None:
    """A simulator's option to serve only some of the configured feeders."""
    parser.add_argument(
        "--feeder",
        action="append",
        metavar="NAME",
        help="serve only this feeder of the configuration (repeatable); default: every one",
    )


def only(config: SubstationConfig, feeders: Sequence[str] | None) -> SubstationConfig:
    """The configuration with only `feeders` (None: all of them): the simulators of two protocols
    then share one configuration, each serving its part. Stations left without a feeder are not
    served; a feeder the configuration does not have is a usage error."""
    if feeders is None:
        return config
    check_feeders(config.stations, feeders)
    stations = (
        replace(station, feeders=tuple(f for f in station.feeders if f.spec.name in feeders))
        for station in config.stations
    )
    return replace(config, stations=tuple(station for station in stations if station.feeders))


def check_feeders(stations: Sequence[StationConfig], feeders: Sequence[str]) -> None:
    """Refuse, naming them, `--feeder`s that none of `stations` has."""
    known = {feeder.spec.name for station in stations for feeder in station.feeders}
    unknown = sorted(set(feeders) - known)
    if unknown:
        raise ConfigError(f"--feeder {', '.join(unknown)}: the configuration has {sorted(known)}")
