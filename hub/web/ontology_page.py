"""The ontology as a page for people: /ontology for a browser (`Accept: text/html`).

Written from the ontology graph and the shapes, never by hand, so it cannot drift from them:
the twelve information objects with their fields, the actor roles and the flows between
them, then every class, property and individual of the HEILA namespace with its label,
definition, source and links. The page is built once per process.
"""

from collections.abc import Iterable
from functools import cache
from html import escape

from fastapi import APIRouter
from rdflib import OWL, RDF, RDFS, SKOS, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS
from starlette.responses import HTMLResponse

from hub.model import vocabulary as v
from hub.model.ontology import label, load_ontology
from hub.model.shapes import Field, local_name, shapes
from hub.web.pages import add_page, page

ONTOLOGY_ANSWERS = ("text/turtle", "application/ld+json", "application/rdf+xml")
HEILA = v.HEILA
_PREFIXES = {
    HEILA: "heila:",
    v.SMARTAPI: "smartapi:",
    v.GR: "gr:",
    v.SAREF: "saref:",
    v.S4ENER: "s4ener:",
    v.QUDT: "qudt:",
    v.UNIT: "unit:",
    v.XSD: "xsd:",
    v.RDF: "rdf:",
    v.RDFS: "rdfs:",
    str(OWL): "owl:",
}
_OBJECTS = frozenset(URIRef(HEILA + name) for name in v.INFORMATION_OBJECTS)
"""Described with their fields in a section of their own, so not again among the classes."""
_KINDS = (
    ("classes", "Classes", OWL.Class),
    ("object-properties", "Object properties", OWL.ObjectProperty),
    ("datatype-properties", "Datatype properties", OWL.DatatypeProperty),
    ("annotation-properties", "Annotation properties", OWL.AnnotationProperty),
    ("datatypes", "Datatypes", RDFS.Datatype),
    ("individuals", "Individuals", OWL.NamedIndividual),
)


def _short(iri: str) -> str:
    for namespace, prefix in _PREFIXES.items():
        if iri.startswith(namespace):
            return prefix + iri.removeprefix(namespace)
    return iri


def _link(iri: str) -> str:
    """A link to the term's entry on this page when it is ours, else to the IRI itself."""
    target = f"#{local_name(iri)}" if iri.startswith(HEILA) else iri
    return f'<a href="{escape(target)}">{escape(_short(iri))}</a>'


def _texts(graph: Graph, term: URIRef, predicate: URIRef) -> list[str]:
    found = graph.objects(term, predicate)
    return sorted(str(o) for o in found if not isinstance(o, Literal) or o.language in (None, "en"))


def _named(graph: Graph, term: URIRef, predicate: URIRef) -> list[str]:
    return sorted(str(o) for o in graph.objects(term, predicate) if isinstance(o, URIRef))


def _ours(graph: Graph, kind: URIRef) -> list[URIRef]:
    return sorted(
        (
            t
            for t in graph.subjects(RDF.type, kind)
            if isinstance(t, URIRef) and t.startswith(HEILA)
        ),
        key=lambda t: label(str(t)).lower(),
    )


def _row(name: str, values: Iterable[str]) -> str:
    shown = list(values)
    return f"<tr><th>{escape(name)}</th><td>{', '.join(shown)}</td></tr>" if shown else ""


def _term(graph: Graph, term: URIRef, fields: str = "") -> str:
    """One term's entry: its label and IRI, definition, note, source and its relations, then
    (for an information object) its fields."""
    iri = str(term)
    rows = "".join(
        (
            _row("also called", map(escape, _texts(graph, term, SKOS.altLabel))),
            _row("note", map(escape, _texts(graph, term, SKOS.note))),
            _row("type", map(_link, _named(graph, term, RDF.type))),
            _row("subclass of", map(_link, _named(graph, term, RDFS.subClassOf))),
            _row("subproperty of", map(_link, _named(graph, term, RDFS.subPropertyOf))),
            _row("equivalent to", map(_link, _named(graph, term, OWL.equivalentClass))),
            _row("close match", map(_link, _named(graph, term, SKOS.closeMatch))),
            _row("domain", map(_link, _named(graph, term, RDFS.domain))),
            _row("range", map(_link, _named(graph, term, RDFS.range))),
            _row("source", map(_link, _named(graph, term, DCTERMS.source))),
        )
    )
    definition = " ".join(_texts(graph, term, RDFS.comment))
    return (
        f'<div class="term" id="{escape(local_name(iri))}"><h3>{escape(label(iri))}</h3>'
        f'<div class="iri">{escape(iri)}</div><p>{escape(definition)}</p>'
        f"{f'<table>{rows}</table>' if rows else ''}{fields}</div>"
    )


def _rule(field: Field) -> str:
    if field.kind == "enum":
        return "one of " + ", ".join(_link(choice) for choice in field.choices)
    if field.kind == "literal" and field.datatype:
        return _link(field.datatype)
    if field.kind == "part" and field.node:
        return f'a part: <a href="#part-{escape(local_name(field.node))}">its fields</a>'
    return "a reference" + (f" to a {_link(field.refers_to)}" if field.refers_to else "")


def _fields(fields: Iterable[Field]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(f.name)}</code></td><td>{_link(f.path)}</td>"
        f"<td>{'required' if f.required else 'optional'}{', many' if f.many else ''}</td>"
        f"<td>{_rule(f)}</td><td>{escape(f.description)}</td></tr>"
        for f in fields
    )
    return (
        "<table><tr><th>JSON key</th><th>property</th><th>count</th><th>value</th>"
        f"<th>what it says</th></tr>{rows}</table>"
    )


def _information_objects(graph: Graph) -> str:
    model = shapes()
    entries = "".join(
        _term(graph, URIRef(HEILA + name), _fields(model.objects[name].fields))
        for name in v.INFORMATION_OBJECTS
    )
    parts = "".join(
        f'<div class="part" id="part-{escape(local_name(iri))}">'
        f"<h4>{escape(local_name(iri).removesuffix('Shape'))}</h4>{_fields(part.fields)}</div>"
        for iri, part in sorted(model.parts.items())
    )
    return (
        '<section id="information-objects"><h2>The twelve information objects</h2>'
        "<p>Every message carries the envelope's fields, then its object's own. Fields are "
        "named as in the plain-JSON form; each is a property of the ontology.</p>"
        f'<h3 id="envelope">Envelope (every message)</h3>{_fields(model.envelope.fields)}'
        f'{entries}<h3 id="parts">Parts of messages</h3>{parts}</section>'
    )


def _actors(graph: Graph) -> str:
    roles = [
        t
        for root in ("LogicalActor", "BusinessActor")
        for t in sorted(
            t
            for t in graph.transitive_subjects(RDFS.subClassOf, URIRef(HEILA + root))
            if isinstance(t, URIRef)
        )
    ]
    rows = "".join(
        f"<tr><td>{_link(str(t))}</td><td>{escape(', '.join(_texts(graph, t, SKOS.altLabel)))}"
        f"</td><td>{escape(' '.join(_texts(graph, t, RDFS.comment)))}</td></tr>"
        for t in roles
    )
    flows = sorted(
        (
            label(str(graph.value(flow, URIRef(HEILA + "inFunction")))),
            str(graph.value(flow, URIRef(HEILA + "carriesObject"))),
            str(graph.value(flow, URIRef(HEILA + "fromActor"))),
            str(graph.value(flow, URIRef(HEILA + "toActor"))),
        )
        for flow in graph.subjects(RDF.type, URIRef(HEILA + "InformationFlow"))
    )
    flow_rows = "".join(
        f"<tr><td>{escape(function)}</td><td>{_link(carried)}</td><td>{_link(sender)}</td>"
        f"<td>{_link(receiver)}</td></tr>"
        for function, carried, sender, receiver in flows
    )
    return (
        '<section id="actors"><h2>Actor roles</h2>'
        "<table><tr><th>role</th><th>short</th><th>what it does</th></tr>"
        f"{rows}</table>"
        '<h3 id="flows">Information flows</h3>'
        "<table><tr><th>function</th><th>object</th><th>from</th><th>to</th></tr>"
        f"{flow_rows}</table></section>"
    )


@cache
def ontology_page() -> HTMLResponse:
    graph = load_ontology()
    about = URIRef(v.ONTOLOGY_IRI)
    title = " ".join(_texts(graph, about, DCTERMS.title)) or "HEILA ontology"
    contents = "".join(
        f'<li><a href="#{anchor}">{escape(text)}</a></li>'
        for anchor, text in (
            ("information-objects", "The twelve information objects"),
            ("actors", "Actor roles and information flows"),
            *((anchor, text) for anchor, text, _ in _KINDS),
        )
    )
    terms = "".join(
        f'<section id="{anchor}"><h2>{escape(text)}</h2>'
        f"{''.join(_term(graph, t) for t in _ours(graph, kind) if t not in _OBJECTS)}</section>"
        for anchor, text, kind in _KINDS
    )
    body = (
        f'<div class="prose"><h1>{escape(title)}</h1>'
        f"<p>{escape(' '.join(_texts(graph, about, DCTERMS.description)))}</p>"
        f"<table>{_row('IRI', [escape(v.ONTOLOGY_IRI)])}"
        f"{_row('version', map(escape, _texts(graph, about, OWL.versionInfo)))}"
        f"{_row('source', map(_link, _named(graph, about, DCTERMS.source)))}"
        f"{_row('licence', map(_link, _named(graph, about, DCTERMS.license)))}"
        f"{_row('as RDF', ['<code>Accept: text/turtle</code>, JSON-LD or RDF/XML on /ontology'])}"
        f"</table><ul>{contents}</ul>"
        f"{_information_objects(graph)}{_actors(graph)}{terms}</div>"
    )
    return page(title, body)


def add_pages(router: APIRouter) -> None:
    """/ontology for a browser: add to the app's router before the ontology's RDF route."""
    add_page(router, "/ontology", ontology_page, ONTOLOGY_ANSWERS)
