"""The message model, from the ontology: vocabulary, terms, shapes and their compiled checks, the
JSON, JSON-LD and RDF forms of a message, and its validation."""
