"""The `heila` command: one sub-command per job, each implemented in the module that owns it.

Every failure the user can cause ends in a one-line reason and a non-zero exit, never a trace.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from hub.errors import UsageError

# name -> (module, function, help). Each module also offers `add_arguments(name, parser)`.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("hub.validate_cli", "run", "validate message files (Turtle, JSON-LD, JSON)"),
    "serve": ("hub.server", "run", "run the hub: store, HTTP API, SPARQL and MQTT"),
    "token": (
        "hub.auth",
        "issue_tokens",
        "make actor tokens and the configuration that accepts them",
    ),
    "actor": (
        "hub.registry_admin",
        "run",
        "add, rotate, revoke or list the actors the hub accepts (store or running hub)",
    ),
    "verify": ("hub.signature", "run", "check a stored message's signature from the store alone"),
    "pointmap": (
        "hub.pointmap_admin",
        "run",
        "publish a point map into the store: what the points of readings measure",
    ),
    "migrate": ("hub.migrate", "run", "rewrite a store's readings into the lean reading model"),
    "dump": ("hub.backup", "dump", "export the whole store as N-Quads"),
    "load": ("hub.backup", "load", "import N-Quads into the store"),
    "query": ("hub.queries", "run", "run a named query and print a table"),
    "simulate": ("substation.server", "run", "run the simulated IEC 104 substation"),
    "bridge": ("actors.bridge.main", "run", "run the IEC 104 field bridge"),
    "demo": ("actors.demo", "run", "run the DSO flexibility use case end to end"),
    "bench": ("hub.bench", "run", "measure the hub's paths and print medians"),
    "nats-access": (
        "hub.cluster.access",
        "run",
        "print the NATS logins and topic rights of a cluster's hub nodes and actors",
    ),
    "bench-cluster": (
        "hub.cluster.bench",
        "run",
        "measure commits, queries and notification latency of 1 to 3 hub nodes",
    ),
}


Handler = Callable[[argparse.Namespace], int]


def _parser(chosen: str | None) -> tuple[argparse.ArgumentParser, Handler | None]:
    """Every command is listed, but only the chosen one's module is imported: a command
    starts without loading what the others need."""
    parser = argparse.ArgumentParser(prog="heila", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handler: Handler | None = None
    for name, (module_name, function, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(name, sub)
            handler = getattr(module, function)
    return parser, handler


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    parser, handler = _parser(chosen)
    args = parser.parse_args(arguments)
    assert handler is not None  # parse_args has refused any other command
    try:
        return handler(args)
    except UsageError as error:
        print(f"heila {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
