"""The point map: which address of which station is which quantity of which feeder or device.

The bridge is configured by data: Turtle files in the `iec:` vocabulary below, checked by their
own SHACL shape (shapes/pointmap.ttl) before anything connects. A bad point is refused by name.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyshacl
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.term import Node

from hub.resources import shapes_dir
from hub.vocabulary import DEVICE, GRID, HEILA, POINT, QUDT, UNIT

IEC = Namespace("https://w3id.org/heila/iec104#")
_HEILA = Namespace(HEILA)
_QUDT = Namespace(QUDT)
_SH = Namespace("http://www.w3.org/ns/shacl#")

DEFAULT_MAP = "substation-1.ttl"
"""The default station's point map, shipped in actors/bridge/stations/."""

BREAKER_COMMAND = "C_DC_NA_1"


class PointMapError(ValueError):
    """The point map does not parse or breaks its shape; the text names each bad point."""


@dataclass(frozen=True)
class Station:
    id: str
    common_address: int
    host: str
    port: int
    zone: ZoneInfo | None = None
    """the time zone of the station's time stamps; None: the bridge host's"""


@dataclass(frozen=True)
class Point:
    """A monitored address. Without a quantity it only confirms commands and is not reported."""

    id: str
    station: Station
    address: int
    type: str
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
    address: int
    type: str
    device: str
    feedback: Point
    on_activation: str | None
    """"close", "open" or "setActivePower": what an activation without a device does here"""
    scale: float


@dataclass(frozen=True)
class PointMap:
    stations: tuple[Station, ...]
    points: dict[tuple[int, int], Point]
    """by (common address, information object address)"""
    commands: dict[str, Command]
    """by device id"""

    def point(self, common_address: int, address: int) -> Point | None:
        return self.points.get((common_address, address))


def default_files() -> list[Path]:
    return [Path(str(resources.files("actors.bridge").joinpath("stations", DEFAULT_MAP)))]


def shipped(name: str) -> Path:
    """A point map shipped with the bridge, by file name (e.g. "substation-2.ttl")."""
    return Path(str(resources.files("actors.bridge").joinpath("stations", name)))


def load(files: Sequence[Path]) -> PointMap:
    """Read, check and index point map files; raises PointMapError naming every bad point."""
    graph = Graph()
    for file in files:
        try:
            graph.parse(file, format="turtle")
        except Exception as error:  # rdflib raises many kinds for a bad file
            raise PointMapError(f"{file}: not valid Turtle: {error}") from error
    problems = check(graph)
    if problems:
        raise PointMapError("; ".join(problems))
    return _index(graph)


def check(graph: Graph) -> list[str]:
    """Validate a point map against its shape; one sentence per violation, naming the point."""
    shapes = Graph().parse(shapes_dir() / "pointmap.ttl", format="turtle")
    conforms, report, _ = pyshacl.validate(graph, shacl_graph=shapes, advanced=True)
    if conforms:
        return []
    assert isinstance(report, Graph)
    problems = []
    for result in report.subjects(RDF.type, _SH.ValidationResult):
        focus_node = report.value(result, _SH.focusNode)
        focus = _local(focus_node)
        path = report.value(result, _SH.resultPath)
        field = f" {_local(path)}" if path is not None else ""
        value = report.value(result, _SH.value)
        shown = f" (value {_local(value)})" if value not in (None, focus_node) else ""
        problems.append(f"{focus}{field}: {report.value(result, _SH.resultMessage)}{shown}")
    return sorted(problems)


def _local(node: Node | None) -> str:
    text = str(node)
    for namespace in (POINT, GRID, DEVICE, HEILA, UNIT, str(IEC), QUDT):
        if text.startswith(namespace):
            return text[len(namespace) :]
    return text


def _json_name(iri: Node) -> str:
    local = _local(iri)
    return local[:1].lower() + local[1:]


def _index(graph: Graph) -> PointMap:
    stations = {node: _station(graph, node) for node in graph.subjects(RDF.type, IEC.Station)}
    points = {node: _point(graph, node, stations) for node in graph.subjects(RDF.type, IEC.Point)}
    commands = [
        _command(graph, node, stations, points) for node in graph.subjects(RDF.type, IEC.Command)
    ]
    return PointMap(
        stations=tuple(sorted(stations.values(), key=lambda s: s.common_address)),
        points={(p.station.common_address, p.address): p for p in points.values()},
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


def _scale(graph: Graph, node: Node) -> float:
    value = graph.value(node, IEC.scale)
    return float(value.toPython()) if isinstance(value, Literal) else 1.0


def _optional(graph: Graph, node: Node, predicate: URIRef, name: bool = False) -> str | None:
    value = graph.value(node, predicate)
    if value is None:
        return None
    return _json_name(value) if name else _local(value)


def _station(graph: Graph, node: Node) -> Station:
    return Station(
        id=_local(node),
        common_address=_int(graph, node, IEC.commonAddress),
        host=str(graph.value(node, IEC.host)),
        port=_int(graph, node, IEC.port),
        zone=_zone(graph, node),
    )


def _zone(graph: Graph, node: Node) -> ZoneInfo | None:
    name = graph.value(node, IEC.timeZone)
    if name is None:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise PointMapError(f"{_local(node)} timeZone: no time zone {name}") from None


def _point(graph: Graph, node: Node, stations: dict[Node, Station]) -> Point:
    return Point(
        id=_local(node),
        station=stations[_ref(graph, node, IEC.station)],
        address=_int(graph, node, IEC.address),
        type=str(graph.value(node, IEC.type)),
        quantity=_optional(graph, node, _HEILA.quantity, name=True),
        unit=_optional(graph, node, _QUDT.unit),
        scale=_scale(graph, node),
        location=_optional(graph, node, _HEILA.location),
        device=_optional(graph, node, _HEILA.device),
    )


def _command(
    graph: Graph, node: Node, stations: dict[Node, Station], points: dict[Node, Point]
) -> Command:
    return Command(
        id=_local(node),
        station=stations[_ref(graph, node, IEC.station)],
        address=_int(graph, node, IEC.address),
        type=str(graph.value(node, IEC.type)),
        device=_local(graph.value(node, _HEILA.device)),
        feedback=points[_ref(graph, node, IEC.feedback)],
        on_activation=_optional(graph, node, IEC.onActivation, name=True),
        scale=_scale(graph, node),
    )
