"""The `heila` command: one sub-command per job, each implemented in the module that owns it.

Every failure the user can cause ends in a one-line reason and a non-zero exit, never a trace.
"""

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function, help). Each module also offers `add_arguments(name, parser)`.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("hub.validate_cli", "run", "validate message files (Turtle, JSON-LD, JSON)"),
    "serve": ("hub.server", "run", "run the hub: store, HTTP API, SPARQL and MQTT"),
    "dump": ("hub.backup", "dump", "export the whole store as N-Quads"),
    "load": ("hub.backup", "load", "import N-Quads into the store"),
    "query": ("hub.queries", "run", "run a named query and print a table"),
    "simulate": ("substation.server", "run", "run the simulated IEC 104 substation"),
    "bridge": ("actors.bridge.main", "run", "run the IEC 104 field bridge"),
    "demo": ("actors.demo", "run", "run the DSO flexibility use case end to end"),
    "bench": ("hub.bench", "run", "measure the hub's paths and print medians"),
}


class UsageError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    parser = argparse.ArgumentParser(prog="heila", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name, (module_name, function, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(name, sub)
        handlers[name] = getattr(module, function)
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = _parser()
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except UsageError as error:
        print(f"heila {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
