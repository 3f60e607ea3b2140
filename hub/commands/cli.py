"""The `heila` command: one sub-command per job, each implemented in the module that owns it.

Every failure the user can cause ends in a one-line reason and a non-zero exit, never a trace.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from hub.model.errors import UsageError

Command = tuple[str, str, str]
"""(module, function, help); the module also offers `add_arguments(name, parser)`"""

COMMANDS: dict[str, Command] = {
    "validate": (
        "hub.commands.validate_cli",
        "run",
        "validate message files (Turtle, JSON-LD, JSON)",
    ),
    "serve": ("hub.commands.server", "run", "run the hub: store, HTTP API, SPARQL and MQTT"),
    "token": (
        "hub.trust.auth",
        "issue_tokens",
        "make actor tokens and the configuration that accepts them",
    ),
    "actor": (
        "hub.web.registry_admin",
        "run",
        "add, rotate, revoke or list the actors the hub accepts (store or running hub)",
    ),
    "verify": (
        "hub.trust.signature",
        "run",
        "check a stored message's signature from the store alone",
    ),
    "migrate": (
        "hub.commands.migrate",
        "run",
        "rewrite a store's readings into the lean reading model",
    ),
    "dump": ("hub.storage.backup", "dump", "export the whole store as N-Quads"),
    "load": ("hub.storage.backup", "load", "import N-Quads into the store"),
    "query": ("hub.web.queries", "run", "run a named query and print a table"),
    "simulate": ("substation.server", "run", "run the simulated IEC 104 substation"),
    "simulate-ied": ("substation.ied", "run", "run the simulated IEC 61850 IED"),
    "simulate-meter": ("substation.meter", "run", "run a simulated DLMS/COSEM smart meter"),
    "bridge": (
        "actors.bridge.main",
        "run",
        "run the field bridge (IEC 104, IEC 61850, DLMS/COSEM)",
    ),
    "demo": ("actors.demo", "run", "run the DSO flexibility use case end to end"),
    "bench": ("hub.commands.bench", "run", "measure the hub's paths and print medians"),
    "nats-access": (
        "hub.cluster.access",
        "run",
        "print the NATS logins and topic rights of a cluster's hub nodes and actors",
    ),
    "bench-cluster": (
        "hub.commands.cluster_bench",
        "run",
        "measure commits, queries and notification latency of 1 to 3 hub nodes",
    ),
}


GROUPS: dict[str, tuple[str, dict[str, Command]]] = {
    "pointmap": (
        "point maps: publish one into the store, or make one from an IEC 61850 SCL file",
        {
            "publish": (
                "hub.web.pointmap_admin",
                "run",
                "publish a point map into the store: what the points of readings measure",
            ),
            "from-scl": (
                "actors.bridge.iec61850.scl",
                "run",
                "make an IEC 61850 point map (Turtle) from an SCL file (ICD, CID)",
            ),
        },
    ),
}
"""Commands of several actions, each action a command of its own: `heila pointmap publish`."""

Handler = Callable[[argparse.Namespace], int]


def _parser(words: list[str]) -> tuple[argparse.ArgumentParser, Handler | None]:
    """Every command is listed, but only the chosen one's module is imported (`words`: the
    arguments that are no options): a command starts without loading what the others need."""
    parser = argparse.ArgumentParser(prog="heila", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handler: Handler | None = None
    for name, command in COMMANDS.items():
        found = _add(commands, name, command, words[:1] == [name])
        handler = handler or found
    for name, (help_text, actions) in GROUPS.items():
        group = commands.add_parser(name, help=help_text, description=help_text)
        chosen = group.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action, command in actions.items():
            found = _add(chosen, action, command, words[:2] == [name, action])
            handler = handler or found
    return parser, handler


def _add(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    name: str,
    command: Command,
    chosen: bool,
) -> Handler | None:
    module_name, function, help_text = command
    sub = commands.add_parser(name, help=help_text, description=help_text)
    if not chosen:
        return None
    module = importlib.import_module(module_name)
    module.add_arguments(name, sub)
    handler: Handler = getattr(module, function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser, handler = _parser([a for a in arguments if not a.startswith("-")])
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
