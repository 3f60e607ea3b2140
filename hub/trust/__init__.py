"""Who may do what: credentials, the actor registry, roles from the ontology's flows, signatures and
TLS; below both doors, HTTP and MQTT."""
