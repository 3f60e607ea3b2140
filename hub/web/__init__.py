"""The HTTP doors: the message API, SPARQL, named queries, the OpenAPI document, problem reports,
and the pages people read (console, ontology, guide, live view, metrics)."""
