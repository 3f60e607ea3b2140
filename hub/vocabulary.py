"""The namespaces and IRI schemes every part of the hub agrees on (see docs/messages.md)."""

from typing import Final

HEILA: Final = "https://w3id.org/heila/ontology#"
ONTOLOGY_IRI: Final = "https://w3id.org/heila/ontology"
SMARTAPI: Final = "http://smart-api.io/ontology/1.0/smartapi#"
GR: Final = "http://purl.org/goodrelations/v1#"
SAREF: Final = "https://saref.etsi.org/core/"
S4ENER: Final = "https://saref.etsi.org/saref4ener/"
QUDT: Final = "http://qudt.org/schema/qudt/"
UNIT: Final = "http://qudt.org/vocab/unit/"
RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS: Final = "http://www.w3.org/2000/01/rdf-schema#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"
SH: Final = "http://www.w3.org/ns/shacl#"

BASE: Final = "https://w3id.org/heila/"
MESSAGE: Final = BASE + "message/"
ACTOR: Final = BASE + "actor/"
GRID: Final = BASE + "grid/"
DEVICE: Final = BASE + "device/"
POINT: Final = BASE + "point/"

ID_PATTERN: Final = r"[A-Za-z0-9._~-]{1,128}"

INFORMATION_OBJECTS: Final = (
    "Measurement",
    "ControlSignal",
    "OperationPlan",
    "Flexibility",
    "Offer",
    "OfferList",
    "Bid",
    "WeatherForecast",
    "ReserveNotification",
    "ActivationNotification",
    "VerificationNotification",
    "FlexibilityMarketPriceForecast",
)
"""The twelve information objects of the platform paper (Table 2), as class local names."""
