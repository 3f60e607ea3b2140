"""Backup and restore: `heila dump FILE` and `heila load FILE` move the whole store as N-Quads.

A dump holds every message graph and the log graph (the ontology comes with the hub), so
dumping, loading into an empty store and dumping again gives the same quads. A dump is written
to a temporary file and renamed, so a failed one leaves no half file; a load is checked whole
(syntax, graphs, every message against the shapes) before one transaction writes it.

While a hub runs it holds the store's lock, so `heila dump --hub URL` asks the hub instead:
`GET /dump` answers the same N-Quads, to administrators only (`admin = true` in their
credential), read from one snapshot of the store while writes go on.
"""

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import httpx
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from hub.model.errors import Invalid, ParseError, QueryRefused, UsageError
from hub.storage.store import Store, open_for_command

N_QUADS = "application/n-quads"
_CHUNK = 1 << 20


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    verb = "write the dump to" if name == "dump" else "read the dump from"
    parser.add_argument("file", type=Path, help=f"{verb} this N-Quads file")
    parser.add_argument("--store", default="var/store", help="the store's directory")
    if name == "dump":
        add_hub_arguments(parser)


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """--hub URL and the token to go with it, for commands that can ask a running hub."""
    parser.add_argument("--hub", help="ask the hub running at this URL instead of the store")
    parser.add_argument(
        "--token-file", type=Path, help="file holding the bearer token (else $HEILA_TOKEN)"
    )


def bearer(args: argparse.Namespace) -> dict[str, str]:
    """The Authorization header from --token-file or $HEILA_TOKEN; none without either."""
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as error:
            raise UsageError(f"cannot read {args.token_file}: {error.strerror}") from None
    else:
        token = os.environ.get("HEILA_TOKEN", "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def refusal(answer: httpx.Response) -> UsageError:
    """A hub's error answer as one line: its problem report's detail, or its status."""
    try:
        detail = answer.json().get("detail", "")
    except ValueError:
        detail = ""
    return UsageError(f"the hub answered {answer.status_code}: {detail or answer.reason_phrase}")


def dump(args: argparse.Namespace) -> int:
    """Export the whole store to FILE, from the store's directory or from a running hub."""
    if args.hub is not None:
        count = _write_atomically(args.file, lambda target: _download(args, target))
        print(f"wrote {count} bytes from {args.hub} to {args.file}", file=sys.stderr)
        return 0
    store = open_for_command(args.store, create=False)
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


def _download(args: argparse.Namespace, target: BinaryIO) -> int:
    url = f"{args.hub.rstrip('/')}/dump"
    try:
        with httpx.stream("GET", url, headers=bearer(args), timeout=60) as answer:
            if answer.status_code != 200:
                answer.read()
                raise refusal(answer)
            for chunk in answer.iter_bytes(_CHUNK):
                target.write(chunk)
            return answer.num_bytes_downloaded
    except httpx.HTTPError as error:
        raise UsageError(f"cannot reach the hub at {args.hub}: {error}") from None


def _spooled(store: Store) -> BinaryIO:
    """The store's dump in a temporary file, rewound, so it can be sent at the network's pace."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - _chunks closes it once it is sent
    store.dump(spool)
    spool.seek(0)
    return spool


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(_CHUNK):
            yield chunk


def dump_router(store: Store, administrator: Callable[[Request], str]) -> APIRouter:
    router = APIRouter(tags=["administration"])

    @router.get(
        "/dump",
        response_class=StreamingResponse,
        responses={200: {"content": {N_QUADS: {}}}},
        summary="The whole store as N-Quads, for administrators (what `heila dump` writes)",
    )
    async def dump_online(_admin: Annotated[str, Depends(administrator)]) -> StreamingResponse:
        spool = await run_in_threadpool(_spooled, store)
        return StreamingResponse(_chunks(spool), media_type=N_QUADS)

    return router


def load(args: argparse.Namespace) -> int:
    """Restore FILE into an empty store (made if missing)."""
    source: Path = args.file
    if not source.is_file():
        raise UsageError(f"there is no file {source}")
    store = open_for_command(args.store)
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
