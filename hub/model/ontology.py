"""The ontology as the hub reads it: one graph of every ontology/*.ttl, and its labels."""

from functools import cache

from rdflib import RDFS, Graph, URIRef

from hub.model.resources import ontology_dir
from hub.model.shapes import local_name


@cache
def load_ontology() -> Graph:
    """Every file of the ontology in one graph, parsed once and shared: do not change it."""
    graph = Graph()
    for file in sorted(ontology_dir().glob("*.ttl")):
        graph.parse(file, format="turtle")
    return graph


@cache
def label(iri: str) -> str:
    """The term's English label, or its local name when the ontology gives none."""
    labels = list(load_ontology().objects(URIRef(iri), RDFS.label))
    english = [lit for lit in labels if getattr(lit, "language", None) in (None, "en")]
    return str(english[0]) if english else local_name(iri)
