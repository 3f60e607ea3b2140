"""The HEILA ontology: its terms, its Smart API alignment, and a reasoner's verdict on it."""

import re
from collections.abc import Iterator
from pathlib import Path

import owlready2
import pyoxigraph as ox
import pytest
from rdflib import OWL, RDF, RDFS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS

from hub.model import vocabulary
from hub.model.ontology import load_ontology
from hub.model.resources import ontology_dir
from hub.model.vocabulary import (
    GR,
    HEILA,
    INFORMATION_OBJECTS,
    ONTOLOGY_IRI,
    S4ENER,
    SAREF,
    SMARTAPI,
)

H = Namespace(HEILA)
QUDT = Namespace(vocabulary.QUDT)
UNIT = Namespace(vocabulary.UNIT)
PAPER = URIRef("https://doi.org/10.34890/319")
REPOSITORY = Path(__file__).resolve().parent.parent
SMARTAPI_TERMS = Path(__file__).resolve().parent / "data" / "smartapi-1.0-terms.tsv"
MESSAGE_MODEL = REPOSITORY / "docs" / "messages.md"

PAPER_NAMES = {
    "Measurement": "Measurement",
    "ControlSignal": "Control Signal",
    "OperationPlan": "Operation Plan",
    "Flexibility": "Flexibility",
    "Offer": "Offer",
    "OfferList": "Offer List",
    "Bid": "Bid",
    "WeatherForecast": "Weather Forecast",
    "ReserveNotification": "Reserve Notification",
    "ActivationNotification": "Activation Notification",
    "VerificationNotification": "Verification Notification",
    "FlexibilityMarketPriceForecast": "Flexibility Market Price Forecast",
}

PREFIXES = f"PREFIX heila: <{HEILA}>\nPREFIX rdfs: <{RDFS}>\nPREFIX owl: <{OWL}>\n"

WHO_SENDS_OFFERS_TO_WHOM = (
    PREFIXES + "SELECT ?from ?to WHERE { ?flow heila:carriesObject heila:Offer ; "
    "heila:fromActor ?from ; heila:toActor ?to }"
)
WHO_OPERATES_THE_AMS = PREFIXES + "SELECT ?actor WHERE { ?actor heila:operates heila:AMS }"


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return load_ontology()


@pytest.fixture(scope="module")
def oxigraph() -> ox.Store:
    store = ox.Store()
    for path in sorted(ontology_dir().glob("*.ttl")):
        store.bulk_load(path=path, format=ox.RdfFormat.TURTLE)
    return store


def _ask(graph: Graph, query: str) -> set[tuple[str, ...]]:
    return {tuple(str(value) for value in row) for row in graph.query(query)}


def _ask_oxigraph(store: ox.Store, query: str) -> set[tuple[str, ...]]:
    return {tuple(term.value for term in row) for row in store.query(query)}


def _labels(graph: Graph, term: URIRef) -> list[str]:
    return [str(value) for value in graph.objects(term, RDFS.label)]


def _superclasses(graph: Graph, cls: URIRef) -> set[URIRef]:
    return {found for found in graph.transitive_objects(cls, RDFS.subClassOf) if found != cls}


def _iris(graph: Graph) -> Iterator[URIRef]:
    for triple in graph:
        yield from (term for term in triple if isinstance(term, URIRef))


def _message_model_terms(prefix: str) -> set[str]:
    """Local names of the `prefix:name` terms that docs/messages.md writes in backticks."""
    return set(re.findall(rf"`{prefix}:([A-Za-z]\w*)`", MESSAGE_MODEL.read_text(encoding="utf-8")))


def _classify(graph: Graph, folder: Path) -> owlready2.World:
    """Run HermiT over `graph` through owlready2, which reads N-Triples but not Turtle.

    heila:timeStep ranges over xsd:duration, which the OWL 2 datatype map lacks; HermiT is told
    to set such axioms aside instead of refusing the whole ontology.
    """
    file = folder / "ontology.nt"
    graph.serialize(file, format="nt", encoding="utf-8")
    world = owlready2.World()
    world.get_ontology(file.as_uri()).load()
    owlready2.sync_reasoner_hermit(world, debug=0, ignore_unsupported_datatypes=True)
    return world


# --- loading ---------------------------------------------------------------------------------


def test_the_ontology_loads_with_rdflib_as_one_versioned_ontology(ontology: Graph) -> None:
    assert (URIRef(ONTOLOGY_IRI), RDF.type, OWL.Ontology) in ontology
    assert ontology.value(URIRef(ONTOLOGY_IRI), OWL.versionIRI) == URIRef(ONTOLOGY_IRI + "/1.0.0")


def test_the_ontology_loads_with_pyoxigraph_triple_for_triple(
    ontology: Graph, oxigraph: ox.Store
) -> None:
    assert len(oxigraph) == len(ontology)


def test_all_files_form_one_ontology(ontology: Graph) -> None:
    assert list(ontology.subjects(RDF.type, OWL.Ontology)) == [URIRef(ONTOLOGY_IRI)]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (DCTERMS.license, URIRef("https://www.apache.org/licenses/LICENSE-2.0")),
        (DCTERMS.source, PAPER),
    ],
)
def test_the_ontology_states_its_license_and_source(
    ontology: Graph, annotation: URIRef, expected: URIRef
) -> None:
    assert ontology.value(URIRef(ONTOLOGY_IRI), annotation) == expected


@pytest.mark.parametrize("annotation", [DCTERMS.title, DCTERMS.description])
def test_the_ontology_has_a_title_and_a_description(ontology: Graph, annotation: URIRef) -> None:
    assert isinstance(ontology.value(URIRef(ONTOLOGY_IRI), annotation), Literal)


# --- reasoning -------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_reasoner_finds_the_ontology_consistent_with_no_unsatisfiable_class(
    ontology: Graph, tmp_path: Path
) -> None:
    world = _classify(ontology, tmp_path)
    assert list(world.inconsistent_classes()) == []


@pytest.mark.slow
def test_the_reasoner_refuses_an_offer_that_sells_two_flexibilities(
    ontology: Graph, tmp_path: Path
) -> None:
    offer = Graph()
    offer += ontology
    message = Namespace("https://w3id.org/heila/message/")
    offer.add((message["offer-1"], RDF.type, H.Offer))
    for flexibility in ("flexibility-1", "flexibility-2"):
        offer.add((message[flexibility], RDF.type, H.Flexibility))
        offer.add((message["offer-1"], H.sells, message[flexibility]))
    offer.add((message["flexibility-1"], OWL.differentFrom, message["flexibility-2"]))
    with pytest.raises(owlready2.OwlReadyInconsistentOntologyError):
        _classify(offer, tmp_path)


# --- the twelve information objects ----------------------------------------------------------


@pytest.mark.parametrize("name", INFORMATION_OBJECTS)
def test_each_information_object_has_the_papers_name_as_label(ontology: Graph, name: str) -> None:
    assert _labels(ontology, H[name]) == [PAPER_NAMES[name]]


@pytest.mark.parametrize("name", INFORMATION_OBJECTS)
def test_each_information_object_is_defined_after_the_paper(ontology: Graph, name: str) -> None:
    assert ontology.value(H[name], RDFS.comment) is not None
    assert ontology.value(H[name], DCTERMS.source) == PAPER


@pytest.mark.parametrize("name", INFORMATION_OBJECTS)
def test_each_information_object_is_a_smart_api_message(ontology: Graph, name: str) -> None:
    assert {H.InformationObject, URIRef(SMARTAPI + "Message")} <= _superclasses(ontology, H[name])


@pytest.mark.parametrize("name", INFORMATION_OBJECTS)
def test_each_information_object_names_its_own_smart_api_or_goodrelations_class(
    ontology: Graph, name: str
) -> None:
    own = set(ontology.objects(H[name], RDFS.subClassOf)) - {H.InformationObject}
    assert any(str(cls).startswith((SMARTAPI, GR)) for cls in own)


def test_the_information_objects_are_the_twelve_of_the_paper(ontology: Graph) -> None:
    found = {cls for cls in ontology.subjects(RDFS.subClassOf, H.InformationObject)}
    assert found == {H[name] for name in INFORMATION_OBJECTS}


# --- terms -----------------------------------------------------------------------------------


def test_every_smart_api_iri_is_a_term_of_smart_api_1_0(ontology: Graph) -> None:
    rows = SMARTAPI_TERMS.read_text(encoding="utf-8").splitlines()
    known = {row.split("\t")[1] for row in rows if row and not row.startswith("#")}
    used = {str(iri) for iri in _iris(ontology) if str(iri).startswith((SMARTAPI, GR))}
    assert used - known == set()


def test_every_heila_term_has_a_label_and_a_definition(ontology: Graph) -> None:
    terms = {iri for iri in _iris(ontology) if str(iri).startswith(HEILA)}
    undefined = {
        term
        for term in terms
        if ontology.value(term, RDFS.label) is None or ontology.value(term, RDFS.comment) is None
    }
    assert undefined == set()


def test_every_property_of_the_message_model_is_declared(ontology: Graph) -> None:
    names = {name for name in _message_model_terms("heila") if name[0].islower()}
    assert names
    declared = set(ontology.subjects(RDF.type, OWL.ObjectProperty)) | set(
        ontology.subjects(RDF.type, OWL.DatatypeProperty)
    )
    assert {H[name] for name in names} - declared == set()


def test_every_class_and_value_of_the_message_model_is_declared(ontology: Graph) -> None:
    names = {name for name in _message_model_terms("heila") if name[0].isupper()}
    assert {H[name] for name in names if (H[name], RDF.type, None) not in ontology} == set()


@pytest.mark.parametrize(
    ("prefix", "namespace"),
    [("smartapi", SMARTAPI), ("gr", GR), ("saref", SAREF), ("s4ener", S4ENER)],
)
def test_every_neighbouring_term_of_the_message_model_is_declared(
    ontology: Graph, prefix: str, namespace: str
) -> None:
    terms = {URIRef(namespace + name) for name in _message_model_terms(prefix)}
    assert {term for term in terms if (term, RDF.type, None) not in ontology} == set()


def test_every_link_to_another_message_is_a_kind_of_reference(ontology: Graph) -> None:
    objects = {H.InformationObject} | {H[name] for name in INFORMATION_OBJECTS}
    links = {
        link
        for link in ontology.subjects(RDF.type, OWL.ObjectProperty)
        if ontology.value(link, RDFS.range) in objects and link != H.references
    }
    assert links
    assert {link for link in links if (link, RDFS.subPropertyOf, H.references) not in ontology} == (
        set()
    )


@pytest.mark.parametrize(
    ("prop", "unit"),
    [
        ("power", "KiloW"),
        ("setpoint", "KiloW"),
        ("baseline", "KiloW"),
        ("deliveredEnergy", "KiloW-HR"),
        ("temperature", "DEG_C"),
        ("irradiance", "W-PER-M2"),
        ("windSpeed", "M-PER-SEC"),
    ],
)
def test_each_quantity_property_names_its_qudt_unit(ontology: Graph, prop: str, unit: str) -> None:
    assert ontology.value(H[prop], QUDT.unit) == UNIT[unit]


@pytest.mark.parametrize(
    ("cls", "prop", "target"),
    [
        ("Offer", "sells", "Flexibility"),
        ("ReserveNotification", "acceptedOffer", "Offer"),
        ("ReserveNotification", "servesBid", "Bid"),
        ("ActivationNotification", "activates", "ReserveNotification"),
        ("VerificationNotification", "verifies", "ActivationNotification"),
        ("RankedEntry", "ranks", "Offer"),
    ],
)
def test_each_typed_link_has_exactly_one_target(
    ontology: Graph, cls: str, prop: str, target: str
) -> None:
    query = (
        PREFIXES + "ASK { ?cls rdfs:subClassOf [ owl:onProperty ?prop ; "
        "owl:qualifiedCardinality 1 ; owl:onClass ?target ] }"
    )
    bindings = {"cls": H[cls], "prop": H[prop], "target": H[target]}
    assert ontology.query(query, initBindings=bindings).askAnswer


@pytest.mark.parametrize("envelope", ["id", "generatedBy", "generatedAt"])
def test_every_information_object_has_exactly_one_envelope_field(
    ontology: Graph, envelope: str
) -> None:
    query = (
        PREFIXES + "ASK { heila:InformationObject rdfs:subClassOf "
        "[ owl:onProperty ?prop ; owl:cardinality 1 ] }"
    )
    bindings = {"prop": URIRef(SMARTAPI + envelope)}
    assert ontology.query(query, initBindings=bindings).askAnswer


def test_each_quantity_names_its_quantity_kind_and_default_unit(ontology: Graph) -> None:
    quantities = set(ontology.subjects(RDF.type, H.Quantity))
    assert len(quantities) == 10
    incomplete = {
        quantity
        for quantity in quantities
        if ontology.value(quantity, QUDT.hasQuantityKind) is None
        or ontology.value(quantity, QUDT.unit) is None
    }
    assert incomplete == set()


# --- actors, functions and flows -------------------------------------------------------------


def test_the_seven_logical_actors_of_table_1_are_declared(ontology: Graph) -> None:
    actors = set(ontology.transitive_subjects(RDFS.subClassOf, H.LogicalActor))
    expected = {H[name] for name in ("IED", "CEMS", "SPP", "AMS", "MGMS", "FMP", "DMS")}
    assert expected <= actors


def test_the_six_business_actors_are_declared(ontology: Graph) -> None:
    actors = set(ontology.subjects(RDFS.subClassOf, H.BusinessActor))
    names = (
        "Prosumer",
        "MicrogridOperator",
        "Aggregator",
        "DSO",
        "ServiceProvider",
        "FlexibilityMarketOperator",
    )
    assert actors == {H[name] for name in names}


def test_the_twelve_functions_of_the_use_case_are_declared(ontology: Graph) -> None:
    names = {str(ontology.value(f, RDFS.label)) for f in ontology.subjects(RDF.type, H.Function)}
    assert names == {
        "Microgrid Monitoring",
        "Data Acquisition",
        "Market Operations",
        "Offer Ranking",
        "State Optimization",
        "Flexibility Management",
        "Flexibility Market Price Forecast",
        "Weather Forecast",
        "State Forecast",
        "Schedule & Dispatch",
        "State Estimation",
        "Verification",
    }


def test_every_function_is_hosted_by_a_logical_actor(ontology: Graph) -> None:
    actors = set(ontology.transitive_subjects(RDFS.subClassOf, H.LogicalActor))
    homeless = {
        function
        for function in ontology.subjects(RDF.type, H.Function)
        if not set(ontology.objects(function, H.hostedBy)) & actors
    }
    assert homeless == set()


def test_every_flow_carries_an_information_object_between_logical_actors(ontology: Graph) -> None:
    actors = set(ontology.transitive_subjects(RDFS.subClassOf, H.LogicalActor))
    objects = {H[name] for name in INFORMATION_OBJECTS}
    functions = set(ontology.subjects(RDF.type, H.Function))
    broken = {
        flow
        for flow in ontology.subjects(RDF.type, H.InformationFlow)
        if ontology.value(flow, H.carriesObject) not in objects
        or ontology.value(flow, H.fromActor) not in actors
        or ontology.value(flow, H.toActor) not in actors
        or ontology.value(flow, H.inFunction) not in functions
    }
    assert broken == set()


def test_every_information_object_flows_somewhere(ontology: Graph) -> None:
    carried = set(ontology.objects(None, H.carriesObject))
    assert {H[name] for name in INFORMATION_OBJECTS} - carried == set()


def test_offers_go_from_the_ams_to_the_fmp(ontology: Graph) -> None:
    assert _ask(ontology, WHO_SENDS_OFFERS_TO_WHOM) == {(HEILA + "AMS", HEILA + "FMP")}


def test_the_aggregator_operates_the_ams(ontology: Graph) -> None:
    assert _ask(ontology, WHO_OPERATES_THE_AMS) == {(HEILA + "Aggregator",)}


def test_oxigraph_answers_who_sends_offers_to_whom_from_the_ontology_alone(
    oxigraph: ox.Store,
) -> None:
    assert _ask_oxigraph(oxigraph, WHO_SENDS_OFFERS_TO_WHOM) == {(HEILA + "AMS", HEILA + "FMP")}
