"""The point map: which address of which station is which quantity of which feeder or device.

The bridge is configured by data: Turtle files, checked by their own SHACL shape
(shapes/pointmap.ttl) before anything connects. A bad point is refused by name. Each protocol
names its stations, points and commands in a vocabulary of its own (`iec:` for IEC 104,
`iec61850:` for IEC 61850 MMS, `dlms:` for DLMS/COSEM meters); what a point means (quantity,
unit, feeder, device) is said in the same `heila:` and `qudt:` terms for all, so a reading does
not tell its protocol.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyoxigraph as ox
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from hub.model import pointmaps
from hub.model.terms import from_rdflib, to_rdflib_graph, triples_of
from hub.model.vocabulary import DEVICE, GRID, HEILA, POINT, QUDT, UNIT

IEC = Namespace("https://w3id.org/heila/iec104#")
IEC61850 = Namespace("https://w3id.org/heila/iec61850#")
DLMS = Namespace("https://w3id.org/heila/dlms#")
_HEILA = Namespace(HEILA)
_QUDT = Namespace(QUDT)

DEFAULT_MAP = "substation-1.ttl"
"""The default station's point map, shipped in actors/bridge/stations/."""

BREAKER_COMMAND = "C_DC_NA_1"
BREAKER_COMMANDS = frozenset({BREAKER_COMMAND, "DPC"})
"""Command types that open and close a breaker (IEC 104 double command, IEC 61850 controllable
double point); every other command type sets active power."""


class PointMapError(ValueError):
    """The point map does not parse or breaks its shape; the text names each bad point."""


@dataclass(frozen=True)
class Station:
    """A device the bridge connects to: an IEC 104 station or an IEC 61850 IED."""

    id: str
    protocol: str
    """"iec104" or "iec61850": which client reaches it"""
    host: str
    port: int
    zone: ZoneInfo | None = None
    """the time zone of the station's time stamps; None: the bridge host's (IEC 61850 stamps
    are UTC by the standard)"""
    common_address: int = 0
    """IEC 104: the common address of ASDU"""
    reports: tuple[str, ...] = ()
    """IEC 61850: report control blocks to enable, by object reference"""
    integrity_period: float = 0.0
    """IEC 61850: seconds between integrity reports asked of each report control block"""
    poll_interval: float = 0.0
    """IEC 61850: seconds between reads of points that no report carries; DLMS: seconds
    between reads of the meter's registers"""
    client_address: int = 16
    """DLMS: the client's address (16: the public client)"""
    server_address: int = 1
    """DLMS: the logical device's address"""
    password_variable: str | None = None
    """DLMS: the environment variable that holds the low-level security password; None: no
    authentication"""
    profiles: tuple[str, ...] = ()
    """DLMS: load profiles (profile generic OBIS codes) to read"""
    profile_interval: float = 0.0
    """DLMS: seconds between reads of the load profiles"""


@dataclass(frozen=True)
class Point:
    """A monitored value. Without a quantity it only confirms commands and is not reported."""

    id: str
    station: Station
    address: int | str
    """IEC 104: information object address; IEC 61850: data attribute reference; DLMS: OBIS
    code and attribute index, "1.0.1.8.0.255:2" """
    type: str
    """IEC 104: type identification; IEC 61850: functional constraint (MX, ST); DLMS: the
    interface class, "Register" """
    quantity: str | None
    """JSON name of the quantity, e.g. "phaseVoltage" """
    unit: str | None
    """QUDT local name, e.g. "KiloW" """
    scale: float
    location: str | None
    device: str | None


@dataclass(frozen=True)
class Command:
    id: str
    station: Station
    address: int | str
    """IEC 104: information object address; IEC 61850: control object reference"""
    type: str
    """IEC 104: type identification; IEC 61850: common data class (DPC, APC)"""
    device: str
    feedback: Point
    on_activation: str | None
    """"close", "open" or "setActivePower": what an activation without a device does here"""
    scale: float
    control_model: str | None = None
    """IEC 61850: the control model the device must have, e.g. "sbo-with-enhanced-security" """

    @property
    def breaker(self) -> bool:
        return self.type in BREAKER_COMMANDS


@dataclass(frozen=True)
class PointMap:
    stations: tuple[Station, ...]
    points: dict[str, Point]
    """by point id"""
    commands: dict[str, Command]
    """by device id"""

    def of(self, protocol: str) -> "PointMap":
        """The part of the map that one protocol's client serves."""
        return PointMap(
            tuple(s for s in self.stations if s.protocol == protocol),
            {k: p for k, p in self.points.items() if p.station.protocol == protocol},
            {k: c for k, c in self.commands.items() if c.station.protocol == protocol},
        )

    @property
    def protocols(self) -> list[str]:
        return sorted({station.protocol for station in self.stations})


def default_files() -> list[Path]:
    return [Path(str(resources.files("actors.bridge").joinpath("stations", DEFAULT_MAP)))]


def shipped(name: str) -> Path:
    """A point map shipped with the bridge, by file name (e.g. "substation-2.ttl")."""
    return Path(str(resources.files("actors.bridge").joinpath("stations", name)))


def load(files: Sequence[Path]) -> PointMap:
    """Read, check and index point map files as one map (hub.model.pointmaps.read); raises
    PointMapError naming every bad point, and every point, command and device two of the files
    describe or command."""
    try:
        triples = pointmaps.read(files)
    except pointmaps.PointMapRefused as error:
        raise PointMapError(str(error)) from None
    return index(to_rdflib_graph(triples_of(triples)))


def check(graph: Graph) -> list[str]:
    """Validate a point map against its shape; one sentence per violation, naming the point."""
    return pointmaps.problems(ox.Triple(s, p, o) for s, p, o in from_rdflib(graph))


def _local(node: Node | None) -> str:
    text = str(node)
    for namespace in (POINT, GRID, DEVICE, HEILA, UNIT, str(IEC), str(IEC61850), str(DLMS), QUDT):
        if text.startswith(namespace):
            return text[len(namespace) :]
    return text


def _json_name(iri: Node) -> str:
    local = _local(iri)
    return local[:1].lower() + local[1:]


@dataclass(frozen=True)
class _Terms:
    """How one protocol's vocabulary names a station, a point and a command."""

    protocol: str
    ns: Namespace
    station: URIRef
    address: URIRef
    point_type: URIRef
    command_type: URIRef
    station_link: URIRef | None = None
    """the property that ties a point to its station, when not `station` (DLMS: `meter`)"""


_TERMS = (
    _Terms("iec104", IEC, IEC.Station, IEC.address, IEC.type, IEC.type),
    _Terms("iec61850", IEC61850, IEC61850.IED, IEC61850.reference, IEC61850.fc, IEC61850.cdc),
    _Terms(
        "dlms", DLMS, DLMS.Meter, DLMS.obis, DLMS.interfaceClass, DLMS.interfaceClass, DLMS.meter
    ),
)


def index(graph: Graph) -> PointMap:
    """The point map a checked graph holds."""
    stations: dict[Node, Station] = {}
    points: dict[Node, Point] = {}
    commands: list[Command] = []
    for terms in _TERMS:
        for node in graph.subjects(RDF.type, terms.station):
            stations[node] = _station(graph, node, terms)
        for node in graph.subjects(RDF.type, terms.ns.Point):
            points[node] = _point(graph, node, terms, stations)
    for terms in _TERMS:
        for node in graph.subjects(RDF.type, terms.ns.Command):
            commands.append(_command(graph, node, terms, stations, points))
    return PointMap(
        stations=tuple(sorted(stations.values(), key=lambda s: (s.protocol, s.common_address))),
        points={p.id: p for p in points.values()},
        commands={command.device: command for command in commands},
    )


def _ref(graph: Graph, node: Node, predicate: URIRef) -> Node:
    value = graph.value(node, predicate)
    assert value is not None  # the shape requires it
    return value


def _int(graph: Graph, node: Node, predicate: URIRef) -> int:
    value = graph.value(node, predicate)
    assert isinstance(value, Literal)
    return int(value.toPython())


def _number(graph: Graph, node: Node, predicate: URIRef, default: float) -> float:
    value = graph.value(node, predicate)
    return float(value.toPython()) if isinstance(value, Literal) else default


def _optional(graph: Graph, node: Node, predicate: URIRef, name: bool = False) -> str | None:
    value = graph.value(node, predicate)
    if value is None:
        return None
    return _json_name(value) if name else _local(value)


def _address(graph: Graph, node: Node, terms: _Terms) -> int | str:
    value = graph.value(node, terms.address)
    assert isinstance(value, Literal)
    if terms.protocol == "dlms":
        return f"{value}:{int(_number(graph, node, DLMS.attribute, 2))}"
    return int(value.toPython()) if terms.protocol == "iec104" else str(value)


def _station(graph: Graph, node: Node, terms: _Terms) -> Station:
    ns = terms.ns
    station = Station(
        id=_local(node),
        protocol=terms.protocol,
        host=str(graph.value(node, ns.host)),
        port=_int(graph, node, ns.port),
        zone=_zone(graph, node, ns),
    )
    if terms.protocol == "iec104":
        return replace(station, common_address=_int(graph, node, IEC.commonAddress))
    if terms.protocol == "dlms":
        return _meter(graph, node, station)
    return replace(
        station,
        reports=tuple(sorted(str(r) for r in graph.objects(node, IEC61850.report))),
        integrity_period=_number(graph, node, IEC61850.integrityPeriod, 0.0),
        poll_interval=_number(graph, node, IEC61850.pollInterval, 1.0),
    )


def _meter(graph: Graph, node: Node, station: Station) -> Station:
    password = graph.value(node, DLMS.passwordVariable)
    return replace(
        station,
        client_address=int(_number(graph, node, DLMS.clientAddress, 16)),
        server_address=int(_number(graph, node, DLMS.serverAddress, 1)),
        password_variable=None if password is None else str(password),
        profiles=tuple(sorted(str(p) for p in graph.objects(node, DLMS.loadProfile))),
        poll_interval=_number(graph, node, DLMS.readInterval, 10.0),
        profile_interval=_number(graph, node, DLMS.profileInterval, 900.0),
    )


def _zone(graph: Graph, node: Node, ns: Namespace) -> ZoneInfo | None:
    name = graph.value(node, ns.timeZone)
    if name is None:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise PointMapError(f"{_local(node)} timeZone: no time zone {name}") from None


def _point(graph: Graph, node: Node, terms: _Terms, stations: dict[Node, Station]) -> Point:
    return Point(
        id=_local(node),
        station=stations[_ref(graph, node, terms.station_link or terms.ns.station)],
        address=_address(graph, node, terms),
        type=str(graph.value(node, terms.point_type, default=Literal("Register"))),
        quantity=_optional(graph, node, _HEILA.quantity, name=True),
        unit=_optional(graph, node, _QUDT.unit),
        scale=_number(graph, node, terms.ns.scale, 1.0),
        location=_optional(graph, node, _HEILA.location),
        device=_optional(graph, node, _HEILA.device),
    )


def _command(
    graph: Graph,
    node: Node,
    terms: _Terms,
    stations: dict[Node, Station],
    points: dict[Node, Point],
) -> Command:
    ns = terms.ns
    model = graph.value(node, IEC61850.controlModel)
    return Command(
        id=_local(node),
        station=stations[_ref(graph, node, ns.station)],
        address=_address(graph, node, terms),
        type=str(graph.value(node, terms.command_type)),
        device=_local(graph.value(node, _HEILA.device)),
        feedback=points[_ref(graph, node, ns.feedback)],
        on_activation=_optional(graph, node, ns.onActivation, name=True),
        scale=_number(graph, node, ns.scale, 1.0),
        control_model=None if model is None else str(model),
    )
