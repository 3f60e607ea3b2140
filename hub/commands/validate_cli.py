"""`heila validate FILE...`: check message files before they are sent.

Files are checked together, so they may refer to each other; a reference to a message outside
them is taken on trust here (the hub checks it against the store when the message is posted).
Exit status: 0 all valid, 1 some break a rule, 2 some do not parse.
"""

import argparse
import sys
from pathlib import Path

from hub.model import vocabulary as v
from hub.model.errors import Invalid, ParseError, Violation
from hub.model.message import Message, parse
from hub.model.shapes import shapes
from hub.model.validation import validate

MEDIA_TYPES = {
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".ttl": "text/turtle",
    ".nt": "application/n-triples",
    ".nq": "application/n-quads",
    ".rdf": "application/rdf+xml",
}


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")


def _read(file: Path) -> Message:
    media_type = MEDIA_TYPES.get(file.suffix.lower())
    if media_type is None:
        known = ", ".join(MEDIA_TYPES)
        raise ParseError(f"unknown file type {file.suffix!r}; expected one of {known}")
    return parse(file.read_bytes(), media_type)


def _trusted_references(messages: list[Message]) -> dict[str, str]:
    """Every message's type: those given, and for the others the type the shapes expect."""
    expected = {f.path: f.refers_to for f in shapes().every_field if f.refers_to}
    trusted = {
        target.value: cls.removeprefix(v.HEILA)
        for message in messages
        for _s, path, target in message.triples
        if (cls := expected.get(path.value)) is not None
    }
    return {**trusted, **{m.iri: m.type for m in messages}}


def run(args: argparse.Namespace) -> int:
    messages: dict[Path, Message] = {}
    outcome: dict[Path, list[Violation] | str] = {}
    for file in args.files:
        try:
            messages[file] = _read(file)
        except OSError as error:
            outcome[file] = f"cannot be read: {error.strerror or error}"
        except ParseError as error:
            outcome[file] = f"does not parse: {error}"
        except Invalid as invalid:
            outcome[file] = invalid.violations
    known = _trusted_references(list(messages.values()))
    for file, message in messages.items():
        outcome[file] = validate(message, known)
    return _report(args.files, outcome)


def _report(files: list[Path], outcome: dict[Path, list[Violation] | str]) -> int:
    status = 0
    for file in files:
        result = outcome[file]
        if isinstance(result, str):
            print(f"{file}: {result}", file=sys.stderr)
            status = 2
        elif result:
            for violation in result:
                print(f"{file}: {violation.line()}")
            status = max(status, 1)
        else:
            print(f"{file}: valid")
    return status
