"""The `heila` command and its sub-commands: serve, bench, validate, actor, demo data."""
