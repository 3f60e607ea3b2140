"""A measured value's unit as its SCL file declares it, in the units of the HEILA ontology.

An MV or CMV data object carries `units` (IEC 61850-7-3's Unit: an SIUnit and a multiplier, a
power of ten), given in the DataTypeTemplates (a `Val` of the Unit type's attributes) or in the
IED section (the DAI values of the data object's instance, which win). The SCL file writes each
value as the name its own EnumType gives the ordinal (`W`, `Kilo`, `k`, ...) or as the ordinal;
the ordinals are the standard's. A point's unit is the ontology's for its quantity (power in kW,
voltage in V, ...) and its scale takes the declared unit there: W with multiplier k is scale 1,
plain W is 0.001. A data object that declares no units is in its quantity's SI unit, as IEC 61850
transmits it; a declared unit that does not measure the quantity is refused by name.
"""

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

SCL = "{http://www.iec.ch/61850/2003/SCL}"
MAX_DEPTH = 8
"""how deep data object and attribute types may nest: SCL's own types go three or four deep"""

SI_UNITS = {1: "none", 5: "A", 29: "V", 33: "Hz", 38: "W", 61: "VA", 62: "W", 63: "VAr", 65: "cos"}
"""The IEC 61850-7-3 SIUnit ordinals the ontology's quantities are measured in (62, "Watts", is
W as 38 is)."""

QUANTITIES: dict[str, tuple[str, dict[int, Decimal]]] = {
    "ActivePower": ("KiloW", {38: Decimal("0.001"), 62: Decimal("0.001")}),
    "ReactivePower": ("KiloV-A_Reactive", {63: Decimal("0.001")}),
    "ApparentPower": ("KiloV-A", {61: Decimal("0.001")}),
    "PhaseVoltage": ("V", {29: Decimal(1)}),
    "Current": ("A", {5: Decimal(1)}),
    "Frequency": ("HZ", {33: Decimal(1)}),
    "PowerFactor": ("UNITLESS", {1: Decimal(1), 65: Decimal(1)}),
    "StateOfCharge": ("PERCENT", {1: Decimal(1)}),
}
"""Per quantity: the ontology's unit (QUDT) and, per SIUnit it may be declared in, the factor to
it; the first is the quantity's SI unit. A state of charge is declared unitless, in percent."""


class UnitError(ValueError):
    """A data object's declared unit is unknown or does not measure its quantity."""


@dataclass(frozen=True)
class Declared:
    """An attribute of a data object's type: its value, if the file gives one, and its EnumType."""

    value: str | None
    enum: str | None


@dataclass(frozen=True)
class Templates:
    """The DataTypeTemplates' data object types, attribute types and enumerations."""

    do_types: dict[str, ElementTree.Element]
    da_types: dict[str, ElementTree.Element]
    enums: dict[str, dict[str, int]]
    """EnumType id -> the name of each ordinal -> the ordinal"""

    @classmethod
    def of(cls, templates: ElementTree.Element) -> "Templates":
        return cls(
            {str(t.get("id")): t for t in templates.findall(f"{SCL}DOType")},
            {str(t.get("id")): t for t in templates.findall(f"{SCL}DAType")},
            {
                str(t.get("id")): {
                    (v.text or "").strip(): int(str(v.get("ord")))
                    for v in t.findall(f"{SCL}EnumVal")
                }
                for t in templates.findall(f"{SCL}EnumType")
            },
        )

    def attributes(self, do_type: str) -> dict[str, Declared]:
        """Every attribute below a data object of this type, by its path (`phsA.units.SIUnit`)."""
        return dict(self._data_object(do_type, "", 0))

    def _data_object(self, type_id: str, prefix: str, depth: int) -> Iterator[tuple[str, Declared]]:
        element = self.do_types.get(type_id)
        if element is None or depth > MAX_DEPTH:
            return
        for child in element:
            path = f"{prefix}{child.get('name')}"
            if child.tag == f"{SCL}SDO":
                yield from self._data_object(str(child.get("type")), f"{path}.", depth + 1)
            elif child.tag == f"{SCL}DA":
                yield from self._attribute(child, path, depth + 1)

    def _attribute(
        self, element: ElementTree.Element, path: str, depth: int
    ) -> Iterator[tuple[str, Declared]]:
        kind = element.get("bType")
        if kind == "Struct":
            struct = self.da_types.get(str(element.get("type")))
            if struct is not None and depth <= MAX_DEPTH:
                for child in struct.findall(f"{SCL}BDA"):
                    yield from self._attribute(child, f"{path}.{child.get('name')}", depth + 1)
            return
        value = element.find(f"{SCL}Val")
        text = value.text.strip() if value is not None and value.text else None
        yield path, Declared(text, str(element.get("type")) if kind == "Enum" else None)


def instance_values(doi: ElementTree.Element) -> dict[str, str]:
    """The values an instance (a DOI and its SDIs) gives its attributes, by path."""
    return dict(_instance(doi, "", 0))


def _instance(element: ElementTree.Element, prefix: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH:
        return
    for child in element:
        path = f"{prefix}{child.get('name')}"
        if child.tag == f"{SCL}SDI":
            yield from _instance(child, f"{path}.", depth + 1)
        elif child.tag == f"{SCL}DAI":
            value = child.find(f"{SCL}Val")
            if value is not None and value.text:
                yield path, value.text.strip()


@dataclass(frozen=True)
class Unit:
    """What a data object's `units` declare: SIUnit and multiplier ordinals (None: not given)."""

    si_unit: int | None
    multiplier: int


def declared(
    reference: str,
    data: str,
    attributes: dict[str, Declared],
    values: dict[str, str],
    enums: dict[str, dict[str, int]],
) -> Unit:
    """The unit the file declares for `data` (a data object, or a CMV below one: `PhV.phsA`)
    of the data object `reference`, the instance's values over the type's."""

    def ordinal(name: str) -> int | None:
        path = f"{data.partition('.')[2]}.units.{name}".lstrip(".")
        attribute = attributes.get(path, Declared(None, None))
        text = values.get(path, attribute.value)
        if text is None:
            return None
        known = enums.get(attribute.enum or "", {})
        if text in known:
            return known[text]
        try:
            return int(text)
        except ValueError:
            raise UnitError(
                f"{reference}: units {name} {text!r} is not in its enumeration"
            ) from None

    return Unit(ordinal("SIUnit"), ordinal("multiplier") or 0)


def scaling(reference: str, quantity: str, unit: Unit) -> tuple[str, float]:
    """The point's unit (QUDT) and scale for a value of `quantity` sent in `unit`."""
    target, factors = QUANTITIES[quantity]
    si_unit = next(iter(factors)) if unit.si_unit is None else unit.si_unit
    if si_unit not in factors:
        name = SI_UNITS.get(si_unit, "an SIUnit the ontology has no quantity in")
        accepted = " or ".join(sorted({SI_UNITS[u] for u in factors}))
        raise UnitError(
            f"{reference}: units SIUnit {si_unit} ({name}) does not measure {quantity}, "
            f"which is given in {accepted}"
        )
    scale = factors[si_unit] * Decimal(10) ** unit.multiplier
    return target, float(scale)
