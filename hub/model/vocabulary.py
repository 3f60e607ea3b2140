"""The namespaces and IRI schemes every part of the hub agrees on (see docs/messages.md).

Those a client needs too live in the client package, the one source for both; the hub adds
the ontology's own IRI and SHACL's namespace.
"""

from typing import Final

from heila_client.vocabulary import (
    ACTOR,
    BASE,
    DEVICE,
    GR,
    GRID,
    HEILA,
    ID_PATTERN,
    INFORMATION_OBJECTS,
    MESSAGE,
    POINT,
    QUDT,
    RDF,
    RDFS,
    S4ENER,
    SAREF,
    SMARTAPI,
    UNIT,
    XSD,
)

__all__ = [
    "ACTOR",
    "BASE",
    "DEVICE",
    "GR",
    "GRID",
    "HEILA",
    "ID_PATTERN",
    "INFORMATION_OBJECTS",
    "MESSAGE",
    "ONTOLOGY_IRI",
    "POINT",
    "QUDT",
    "RDF",
    "RDFS",
    "S4ENER",
    "SAREF",
    "SH",
    "SMARTAPI",
    "UNIT",
    "XSD",
]

ONTOLOGY_IRI: Final = "https://w3id.org/heila/ontology"
SH: Final = "http://www.w3.org/ns/shacl#"
