"""Schemathesis extensions for fuzzing the hub (schemathesis.toml names this module): SPARQL
queries and updates go on the wire as the text they are."""

import schemathesis

schemathesis.serializer.alias(
    ["application/sparql-query", "application/sparql-update"], "text/plain"
)
