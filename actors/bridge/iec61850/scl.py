"""A point map from an IEC 61850 SCL file (ICD, CID, IID): `heila pointmap from-scl`.

An engineer maps a relay from the file its vendor ships: the IED's logical nodes and their data
object types say which measurements, breaker positions and controls it has; `MAPPED` says
which of them the bridge reports as which quantity, and the IED's report control blocks are
enabled as they are. A logical node's `desc` says where it sits, "feeder" or "feeder/device"
(edit the SCL file or the generated map where a vendor's file says otherwise). Each measured
value is in the unit its data object's `units` declare, which the map scales into the ontology's
unit of its quantity (units.py): W into kW, kV into V.
"""

import argparse
import re
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from actors.bridge import pointmap
from actors.bridge.iec61850.units import Templates, UnitError, declared, instance_values, scaling
from hub.model.errors import UsageError
from hub.model.resources import examples_dir
from hub.model.vocabulary import DEVICE, GRID, HEILA, POINT, UNIT

SCL = "{http://www.iec.ch/61850/2003/SCL}"
SIMULATED_IED = examples_dir() / "iec61850" / "heila-ied.icd"
"""The SCL file of `heila simulate-ied`, shipped with the examples."""
MAX_BYTES = 20_000_000
"""SCL files larger than this are refused: a substation's SCD is a few MB."""
ID = re.compile(r"[^A-Za-z0-9._~-]")

Measure = tuple[str, str, str, str]
"""(data object below the logical node, its value's attribute, id, quantity)"""


def _phases(data: str, name: str, quantity: str) -> list[Measure]:
    return [
        (f"{data}.phs{phase}", "cVal.mag.f", f"{name}-l{n}", quantity)
        for n, phase in enumerate("ABC", start=1)
    ]


MAPPED: dict[tuple[str, str], list[Measure]] = {
    ("MMXU", "PhV"): _phases("PhV", "voltage", "PhaseVoltage"),
    ("MMXU", "A"): _phases("A", "current", "Current"),
    ("MMXU", "TotW"): [("TotW", "mag.f", "active-power", "ActivePower")],
    ("MMXU", "TotVAr"): [("TotVAr", "mag.f", "reactive-power", "ReactivePower")],
    ("MMXU", "TotVA"): [("TotVA", "mag.f", "apparent-power", "ApparentPower")],
    ("MMXU", "TotPF"): [("TotPF", "mag.f", "power-factor", "PowerFactor")],
    ("MMXU", "Hz"): [("Hz", "mag.f", "frequency", "Frequency")],
    ("XCBR", "Pos"): [("Pos", "stVal", "breaker-position", "BreakerPosition")],
    ("ZBAT", "W"): [("W", "mag.f", "resource-power", "ActivePower")],
    ("ZBAT", "SoC"): [("SoC", "mag.f", "state-of-charge", "StateOfCharge")],
}
"""Measured data objects by logical node class: what the bridge reports of them. A breaker's
position (stVal, FC ST) has no unit; the others' are declared (MV, CMV: FC MX)."""

CONTROLLED = {
    "DPC": ("breaker", "stVal", "ST", None),
    "APC": ("setpoint", "mxVal.f", "MX", "ActivePower"),
}
"""Controllable data objects by common data class: the command's name, its status attribute
(the feedback), its functional constraint and the quantity it sets, whose declared unit gives
the command's and the feedback's scale (a set-point in kW of the ontology, in W unless the
APC's units say otherwise)."""


class SclError(ValueError):
    """The SCL file cannot be read, names no usable IED or declares a unit the map cannot take."""


@dataclass(frozen=True)
class LogicalNode:
    reference: str
    """e.g. HEILALD0/MMXU1"""
    ln_class: str
    location: str | None
    device: str | None
    data: dict[str, str]
    """data object name -> its DOType id"""
    instances: dict[str, dict[str, str]]
    """data object name -> the values its instance (DOI) gives, by attribute path"""


@dataclass(frozen=True)
class Ied:
    name: str
    nodes: tuple[LogicalNode, ...]
    reports: tuple[str, ...]
    cdcs: dict[str, str]
    """DOType id -> common data class"""
    default_models: dict[str, str]
    """DOType id -> the ctlModel its template gives"""
    templates: Templates


def read(path: Path, ied_name: str | None = None) -> Ied:
    """The IED of an SCL file (the only one, or the one named)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SclError(f"{path}: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise SclError(f"{path}: larger than {MAX_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SclError(f"{path}: document type declarations are not accepted in SCL")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise SclError(f"{path}: not well-formed XML: {error}") from None
    if root.tag != f"{SCL}SCL":
        raise SclError(f"{path}: not an SCL file (its root is {root.tag})")
    ieds = root.findall(f"{SCL}IED")
    chosen = [i for i in ieds if ied_name in (None, i.get("name"))]
    if len(chosen) != 1:
        names = ", ".join(str(i.get("name")) for i in ieds) or "none"
        wanted = f"IED {ied_name}" if ied_name else "one IED"
        raise SclError(f"{path}: expected {wanted}; the file has: {names}")
    return _ied(root, chosen[0])


def _ied(root: ElementTree.Element, ied: ElementTree.Element) -> Ied:
    name = str(ied.get("name"))
    templates = root.find(f"{SCL}DataTypeTemplates")
    if templates is None:
        raise SclError(f"IED {name}: the file has no DataTypeTemplates")
    types = {
        str(t.get("id")): {str(d.get("name")): str(d.get("type")) for d in t.findall(f"{SCL}DO")}
        for t in templates.findall(f"{SCL}LNodeType")
    }
    cdcs = {str(t.get("id")): str(t.get("cdc")) for t in templates.findall(f"{SCL}DOType")}
    defaults = {
        str(t.get("id")): str(val.text).strip()
        for t in templates.findall(f"{SCL}DOType")
        for da in t.findall(f"{SCL}DA[@name='ctlModel']")
        if (val := da.find(f"{SCL}Val")) is not None
    }
    nodes: list[LogicalNode] = []
    reports: list[str] = []
    for device in ied.iter(f"{SCL}LDevice"):
        ld = f"{name}{device.get('inst', '')}"
        for ln in (*device.findall(f"{SCL}LN0"), *device.findall(f"{SCL}LN")):
            ln_name = f"{ln.get('prefix', '')}{ln.get('lnClass')}{ln.get('inst', '')}"
            if ln.get("lnClass") == "LLN0":
                reports += [_rcb(ld, rc) for rc in ln.findall(f"{SCL}ReportControl")]
                continue
            location, _, device_id = (ln.get("desc") or "").partition("/")
            nodes.append(
                LogicalNode(
                    f"{ld}/{ln_name}",
                    str(ln.get("lnClass")),
                    _id(location) or None,
                    _id(device_id) or None,
                    types.get(str(ln.get("lnType")), {}),
                    {str(doi.get("name")): instance_values(doi) for doi in ln.findall(f"{SCL}DOI")},
                )
            )
    return Ied(name, tuple(nodes), tuple(reports), cdcs, defaults, Templates.of(templates))


def _rcb(ld: str, control: ElementTree.Element) -> str:
    kind = "BR" if control.get("buffered") == "true" else "RP"
    return f"{ld}/LLN0.{kind}.{control.get('name')}"


def _id(text: str) -> str:
    return ID.sub("-", text.strip())


def point_map(
    ied: Ied,
    station: str,
    host: str,
    port: int,
    integrity: float,
    poll: float,
    point_prefix: str | None = None,
) -> Graph:
    """The IED's point map in the `iec61850:` vocabulary, checked by shapes/pointmap.ttl.

    Point ids are `point_prefix` (the station id and a dot by default), the feeder and a name.
    A measured value whose declared unit does not measure its quantity raises SclError."""
    start = f"{station}." if point_prefix is None else point_prefix
    ns = pointmap.IEC61850
    graph = Graph()
    graph.bind("iec61850", ns)
    for prefix, namespace in (
        ("heila", HEILA),
        ("grid", GRID),
        ("device", DEVICE),
        ("point", POINT),
        ("unit", UNIT),
        ("qudt", "http://qudt.org/schema/qudt/"),
    ):
        graph.bind(prefix, Namespace(namespace))
    heila, qudt = Namespace(HEILA), Namespace("http://qudt.org/schema/qudt/")
    node = URIRef(GRID + station)
    graph.add((node, RDF.type, ns.IED))
    graph.add((node, RDFS.label, Literal(f"IED {ied.name}")))
    graph.add((node, ns.host, Literal(host)))
    graph.add((node, ns.port, Literal(port)))
    graph.add((node, ns.integrityPeriod, Literal(integrity)))
    graph.add((node, ns.pollInterval, Literal(poll)))
    for report in ied.reports:
        graph.add((node, ns.report, Literal(report)))
    for ln in ied.nodes:
        where = start + (ln.location or ln.reference.split("/")[1])
        for reference, name, quantity, unit, scale, fc in _measures(ied, ln):
            point = URIRef(f"{POINT}{where}.{name}")
            _point(graph, point, node, reference, fc, scale)
            graph.add((point, heila.quantity, heila[quantity]))
            graph.add((point, qudt.unit, URIRef(UNIT + unit)))
            _place(graph, point, ln)
        for data, cdc, model in _controls(ied, ln):
            kind, status, fc, sets = CONTROLLED[cdc]
            scale = 1.0 if sets is None else _unit(ied, ln, data, sets)[1]
            feedback = URIRef(f"{POINT}{where}.{kind}-status")
            _point(graph, feedback, node, f"{ln.reference}.{data}.{status}", fc, scale)
            command = URIRef(f"{POINT}{where}.{kind}-command")
            graph.add((command, RDF.type, ns.Command))
            graph.add((command, ns.station, node))
            graph.add((command, ns.reference, Literal(f"{ln.reference}.{data}")))
            graph.add((command, ns.cdc, Literal(cdc)))
            graph.add((command, ns.feedback, feedback))
            if model:
                graph.add((command, ns.controlModel, Literal(model)))
            if scale != 1.0:
                graph.add((command, ns.scale, Literal(scale)))
            graph.add((command, heila.device, URIRef(DEVICE + (ln.device or ln.reference))))
    return graph


def _measures(ied: Ied, ln: LogicalNode) -> Iterator[tuple[str, str, str, str, float, str]]:
    for data in ln.data:
        for path, attribute, name, quantity in MAPPED.get((ln.ln_class, data), []):
            reference = f"{ln.reference}.{path}.{attribute}"
            if attribute == "stVal":
                yield reference, name, quantity, "UNITLESS", 1.0, "ST"
            else:
                yield reference, name, quantity, *_unit(ied, ln, path, quantity), "MX"


def _unit(ied: Ied, ln: LogicalNode, path: str, quantity: str) -> tuple[str, float]:
    """The unit (QUDT) and scale of `quantity` as the data object at `path` (`TotW`,
    `PhV.phsA`) of `ln` declares its units."""
    data = path.partition(".")[0]
    reference = f"{ln.reference}.{path}"
    attributes = ied.templates.attributes(ln.data[data])
    values = ln.instances.get(data, {})
    try:
        unit = declared(reference, path, attributes, values, ied.templates.enums)
        return scaling(reference, quantity, unit)
    except UnitError as error:
        raise SclError(str(error)) from None


def _controls(ied: Ied, ln: LogicalNode) -> Iterator[tuple[str, str, str | None]]:
    for data, kind in ln.data.items():
        cdc = ied.cdcs.get(kind)
        if cdc in CONTROLLED and ln.device is not None:
            model = ln.instances.get(data, {}).get("ctlModel")
            yield data, cdc, model or ied.default_models.get(kind)


def _point(
    graph: Graph, point: URIRef, station: URIRef, reference: str, fc: str, scale: float
) -> None:
    ns = pointmap.IEC61850
    graph.add((point, RDF.type, ns.Point))
    graph.add((point, ns.station, station))
    graph.add((point, ns.reference, Literal(reference)))
    graph.add((point, ns.fc, Literal(fc)))
    if scale != 1.0:
        graph.add((point, ns.scale, Literal(scale)))


def _place(graph: Graph, point: URIRef, ln: LogicalNode) -> None:
    heila = Namespace(HEILA)
    if ln.location:
        graph.add((point, heila.location, URIRef(GRID + ln.location)))
    if ln.device:
        graph.add((point, heila.device, URIRef(DEVICE + ln.device)))


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scl", type=Path, help="the IED's SCL file (ICD, CID, IID)")
    parser.add_argument("--ied", help="the IED to map, when the file has several")
    parser.add_argument("--station", help="the station's id in the map; default: the IED name")
    parser.add_argument("--host", default="127.0.0.1", help="where the IED listens")
    parser.add_argument("--port", type=int, default=102, help="its MMS port")
    parser.add_argument(
        "--integrity-period", type=float, default=10.0, help="seconds between integrity reports"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between reads of unreported points",
    )
    parser.add_argument(
        "--point-prefix", help="what point ids start with; default: the station id and a dot"
    )
    parser.add_argument("--output", "-o", type=Path, help="Turtle file to write; default: stdout")


def run(args: argparse.Namespace) -> int:
    try:
        ied = read(args.scl, args.ied)
        station = _id(args.station or ied.name.lower())
        graph = point_map(
            ied,
            station,
            args.host,
            args.port,
            args.integrity_period,
            args.poll_interval,
            args.point_prefix,
        )
    except SclError as error:
        raise UsageError(str(error)) from error
    problems = pointmap.check(graph)
    if problems:
        raise UsageError(f"the generated map breaks its shape: {'; '.join(problems)}")
    text = graph.serialize(format="turtle")
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0
