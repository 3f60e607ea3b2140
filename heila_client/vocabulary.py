"""The namespaces and the IRI schemes of the platform (docs/messages.md, "Namespaces and IRIs").

A message in plain JSON names things by id; in JSON-LD or Turtle it names them by these IRIs.
The hub reads its own vocabulary from here, so a client and the hub cannot disagree on an IRI.
"""

from typing import Final

HEILA: Final = "https://w3id.org/heila/ontology#"
SMARTAPI: Final = "http://smart-api.io/ontology/1.0/smartapi#"
GR: Final = "http://purl.org/goodrelations/v1#"
SAREF: Final = "https://saref.etsi.org/core/"
S4ENER: Final = "https://saref.etsi.org/saref4ener/"
QUDT: Final = "http://qudt.org/schema/qudt/"
UNIT: Final = "http://qudt.org/vocab/unit/"
RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS: Final = "http://www.w3.org/2000/01/rdf-schema#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"

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


def message_iri(message_id: str) -> str:
    """The IRI of a message, which is also the information object it carries."""
    return MESSAGE + message_id


def part_iri(message_id: str, property_name: str, position: int | None = None) -> str:
    """The IRI a part of a message must have: the message's, then the local name of the property
    that holds the part, numbered from 0 in list order when the property holds several
    (`…/message/offer-7#price`, `…/message/plan-1#slot-0`)."""
    suffix = "" if position is None else f"-{position}"
    return f"{message_iri(message_id)}#{property_name}{suffix}"
