"""The store and its log: one named graph per message in Oxigraph, backups, and the worker
processes that answer queries from copies of it, with results written as the protocol asks."""
