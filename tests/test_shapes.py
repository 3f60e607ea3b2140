"""The shapes follow the conventions the message model, the JSON Schemas and the violation
reports rely on, and speak only of terms the ontology defines.
"""

import re
from collections import Counter
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, Graph, Node, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from hub.model import vocabulary as v
from hub.model.ontology import load_ontology
from hub.model.resources import shapes_dir
from hub.model.shapes import local_name

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KINDS = (SH.datatype, SH["in"], SH.nodeKind, SH.node)
MESSAGE_PATTERN = "^https://w3id\\.org/heila/message/"


def shapes_graph() -> Graph:
    graph = Graph()
    for file in sorted(shapes_dir().glob("*.ttl")):
        graph.parse(file, format="turtle")
    return graph


GRAPH = shapes_graph()
ENVELOPE = URIRef("https://w3id.org/heila/shapes#EnvelopeShape")


def object_shape(type_name: str) -> Node:
    (shape,) = (
        s for s in GRAPH.subjects(SH.targetClass, URIRef(v.HEILA + type_name)) if s != ENVELOPE
    )
    return shape


def node_shapes() -> list[Node]:
    """The envelope, the shape of each information object and the parts they reach."""
    found = {ENVELOPE, *(object_shape(name) for name in v.INFORMATION_OBJECTS)}
    pending = list(found)
    while pending:
        parts = set(GRAPH.objects(pending.pop(), SH.property / SH.node)) - found
        found |= parts
        pending += parts
    return sorted(found, key=str)


def property_shapes() -> list[Node]:
    """In the order of their test ids: most are blank nodes, whose labels differ from one
    process to the next, and parallel test workers must collect the same tests in one order."""
    return sorted({p for s in node_shapes() for p in GRAPH.objects(s, SH.property)}, key=field_id)


def field_id(shape: Node) -> str:
    """A readable test id: the node shapes that hold the property shape, and its JSON name."""
    owners = sorted(local_name(str(s)) for s in GRAPH.subjects(SH.property, shape))
    return f"{'+'.join(owners)}.{GRAPH.value(shape, SH.name)}"


def names_in(shape: Node) -> list[str]:
    return [str(GRAPH.value(p, SH.name)) for p in GRAPH.objects(shape, SH.property)]


def sparql_constraints() -> list[Node]:
    return sorted({c for p in property_shapes() for c in GRAPH.objects(p, SH.sparql)}, key=str)


def kebab(type_name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", type_name).lower()


def defined_in_ontology(iri: Node | None) -> bool:
    return (iri, RDF.type, None) in load_ontology()


def ranges(shape: Node) -> set[Node]:
    return set(load_ontology().objects(GRAPH.value(shape, SH.path), RDFS.range))


def constrained_to(shape: Node) -> Node | None:
    return GRAPH.value(shape, SH.datatype) or GRAPH.value(shape, SH["class"])


def enumeration(shape: Node) -> list[Node]:
    members = GRAPH.value(shape, SH["in"])
    return [] if members is None else list(Collection(GRAPH, members))


def typed_links() -> list[Node]:
    """Property shapes of links to other messages, but the envelope's untyped references."""
    return [
        p
        for p in property_shapes()
        if str(GRAPH.value(p, SH.pattern)) == MESSAGE_PATTERN
        and GRAPH.value(p, SH.path) != URIRef(v.HEILA + "references")
    ]


def references() -> list[Node]:
    """Property shapes whose values are IRIs of the hub's own individuals."""
    return [p for p in property_shapes() if GRAPH.value(p, SH.nodeKind) == SH.IRI]


def datetimes() -> list[Node]:
    return [
        p for p in property_shapes() if GRAPH.value(p, SH.datatype) == URIRef(v.XSD + "dateTime")
    ]


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_every_information_object_has_one_node_shape_in_its_own_file(type_name: str) -> None:
    own = Graph().parse(shapes_dir() / f"{kebab(type_name)}.ttl", format="turtle")
    assert (object_shape(type_name), SH.targetClass, URIRef(v.HEILA + type_name)) in own


def test_envelope_targets_every_information_object() -> None:
    targets = {str(t) for t in GRAPH.objects(ENVELOPE, SH.targetClass)}
    assert targets == {v.HEILA + name for name in v.INFORMATION_OBJECTS}


def test_envelope_names_the_envelope_keys() -> None:
    keys = {"id", "sender", "time", "recipients", "references"}
    assert set(names_in(ENVELOPE)) == keys


def test_shapes_name_only_classes_the_ontology_defines() -> None:
    named = {c for p in property_shapes() for c in GRAPH.objects(p, SH["class"])}
    named |= {c for s in node_shapes() for c in GRAPH.objects(s, SH.targetClass)}
    assert {str(iri) for iri in named if not defined_in_ontology(iri)} == set()


def test_shapes_name_only_properties_the_ontology_defines() -> None:
    named = {GRAPH.value(p, SH.path) for p in property_shapes()}
    assert {str(iri) for iri in named if not defined_in_ontology(iri)} == set()


def test_enumerations_list_only_individuals_the_ontology_defines() -> None:
    lists = [GRAPH.value(p, SH["in"]) for p in property_shapes()]
    members = {m for lst in lists if lst is not None for m in Collection(GRAPH, lst)}
    assert {str(m) for m in members if not defined_in_ontology(m)} == set()


@pytest.mark.parametrize(
    "shape", [p for p in property_shapes() if constrained_to(p) and ranges(p)], ids=field_id
)
def test_datatype_or_class_of_a_field_is_the_range_the_ontology_gives(shape: Node) -> None:
    assert constrained_to(shape) in ranges(shape)


@pytest.mark.parametrize(
    "shape", [p for p in property_shapes() if enumeration(p) and ranges(p)], ids=field_id
)
def test_enumeration_members_belong_to_the_range_the_ontology_gives(shape: Node) -> None:
    kinds = [set(load_ontology().objects(m, RDF.type)) for m in enumeration(shape)]
    assert all(k & ranges(shape) for k in kinds)


@pytest.mark.parametrize("shape", property_shapes(), ids=field_id)
def test_property_shape_has_one_iri_path_a_name_and_a_description(shape: Node) -> None:
    paths = list(GRAPH.objects(shape, SH.path))
    assert len(paths) == 1
    assert isinstance(paths[0], URIRef)
    assert GRAPH.value(shape, SH.name) is not None
    assert GRAPH.value(shape, SH.description) is not None


@pytest.mark.parametrize("shape", property_shapes(), ids=field_id)
def test_property_shape_has_exactly_one_kind_of_value(shape: Node) -> None:
    kinds = [k for k in KINDS if (shape, k, None) in GRAPH]
    assert len(kinds) == 1


@pytest.mark.parametrize("shape", typed_links(), ids=field_id)
def test_link_to_a_message_names_the_class_the_message_must_have(shape: Node) -> None:
    assert GRAPH.value(shape, SH["class"]) is not None


@pytest.mark.parametrize("shape", node_shapes(), ids=str)
def test_json_names_are_unique_within_a_node_shape(shape: Node) -> None:
    assert [n for n, count in Counter(names_in(shape)).items() if count > 1] == []


@pytest.mark.parametrize("type_name", v.INFORMATION_OBJECTS)
def test_fields_of_an_object_do_not_reuse_an_envelope_key(type_name: str) -> None:
    envelope_keys = {"type", *names_in(ENVELOPE)}
    assert envelope_keys.isdisjoint(names_in(object_shape(type_name)))


def test_parts_have_no_target() -> None:
    parts = {GRAPH.value(p, SH.node) for p in property_shapes()} - {None}
    assert parts
    assert {str(p) for p in parts if (p, SH.targetClass, None) in GRAPH} == set()


@pytest.mark.parametrize("constraint", sparql_constraints(), ids=str)
def test_sparql_rule_has_an_invalid_example(constraint: Node) -> None:
    rule = str(GRAPH.value(constraint, RDFS.label))
    assert list(EXAMPLES.glob(f"invalid/*/{rule}-*"))


@pytest.mark.parametrize("constraint", sparql_constraints(), ids=str)
def test_sparql_rule_has_a_lower_camel_label_and_a_message(constraint: Node) -> None:
    assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", str(GRAPH.value(constraint, RDFS.label)))
    assert GRAPH.value(constraint, SH.message) is not None


@pytest.mark.parametrize("shape", references(), ids=field_id)
def test_reference_names_one_of_the_hubs_iri_schemes(shape: Node) -> None:
    schemes = [v.MESSAGE, v.ACTOR, v.GRID, v.DEVICE, v.POINT]
    expected = {"^" + re.escape(base) for base in schemes}
    assert str(GRAPH.value(shape, SH.pattern)) in expected


@pytest.mark.parametrize("shape", datetimes(), ids=field_id)
def test_time_requires_a_zone(shape: Node) -> None:
    assert str(GRAPH.value(shape, SH.pattern)).endswith("(Z|[+-][0-9]{2}:[0-9]{2})$")


def test_every_shape_file_point_map_included_names_only_ontology_terms() -> None:
    named = set(GRAPH.objects(None, SH.targetClass)) | set(GRAPH.objects(None, SH["class"]))
    named |= {p for p in GRAPH.objects(None, SH.path) if isinstance(p, URIRef)}
    for members in GRAPH.objects(None, SH["in"]):
        named |= {m for m in Collection(GRAPH, members) if isinstance(m, URIRef)}
    assert {str(iri) for iri in named if not defined_in_ontology(iri)} == set()
