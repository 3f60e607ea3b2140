"""Backup and restore: `heila dump FILE` and `heila load FILE` move the whole store as N-Quads.

A dump holds every message graph and the log graph (the ontology comes with the hub), so
dumping, loading into an empty store and dumping again gives the same quads. A dump is written
to a temporary file and renamed, so a failed one leaves no half file; a load is checked whole
(syntax, graphs, every message against the shapes) before one transaction writes it.
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from hub.errors import Invalid, ParseError, QueryRefused, UsageError
from hub.store import open_store


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    verb = "write the dump to" if name == "dump" else "read the dump from"
    parser.add_argument("file", type=Path, help=f"{verb} this N-Quads file")
    parser.add_argument("--store", default="var/store", help="the store's directory")


def dump(args: argparse.Namespace) -> int:
    """Export the whole store to FILE."""
    try:
        store = open_store(args.store, create=False)
    except OSError as error:
        raise UsageError(f"cannot open the store at {args.store}: {error}") from None
    try:
        count = _write_atomically(args.file, store.dump)
    except OSError as error:
        raise UsageError(f"cannot write {args.file}: {error.strerror}") from None
    finally:
        store.close()
    print(f"wrote {count} quads to {args.file}", file=sys.stderr)
    return 0


def _write_atomically(target: Path, write: Callable[[BinaryIO], int]) -> int:
    """Write into a temporary file beside the target, then rename it: all of it or nothing."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(handle, "wb") as part:
            count = write(part)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return count


def load(args: argparse.Namespace) -> int:
    """Restore FILE into an empty store (made if missing)."""
    source: Path = args.file
    if not source.is_file():
        raise UsageError(f"there is no file {source}")
    try:
        store = open_store(args.store)
    except OSError as error:
        raise UsageError(f"cannot open the store at {args.store}: {error}") from None
    try:
        with source.open("rb") as data:
            count = store.load(data)
    except ParseError as error:
        raise UsageError(f"{source} is not N-Quads: {error}") from None
    except Invalid as error:
        first = error.violations[0]
        more = f" (and {len(error.violations) - 1} more)" if len(error.violations) > 1 else ""
        raise UsageError(f"{source} holds an invalid message: {first.line()}{more}") from None
    except QueryRefused as error:
        raise UsageError(f"cannot load {source}: {error}") from None
    finally:
        store.close()
    print(f"loaded {count} quads from {source}", file=sys.stderr)
    return 0
