"""Run one actor as its own process.

    python -m actors.run NAME --hub URL --mqtt URL --token-file FILE [--signing-key FILE] ...

NAME is one of spp, mgms, cems, ams, fmp, dms; each has options of its own (`--help` after the
name). The process prints `ready` once the broker has confirmed its subscriptions, then works
until SIGINT or SIGTERM.
"""

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType

from actors.actor import Actor
from actors.clock import Clock
from actors.signing import Signer
from heila_client.hub import HubClient

ACTORS = ("spp", "mgms", "cems", "ams", "fmp", "dms")
_READY_TIMEOUT = 30.0


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"actors.{name}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m actors.run", description=__doc__)
    names = root.add_subparsers(dest="name", required=True, metavar="NAME")
    for name in ACTORS:
        module = _module(name)
        sub = names.add_parser(name, help=(module.__doc__ or "").split("\n", 1)[0])
        sub.add_argument("--id", default=module.DEFAULT_ID, help="the actor's id")
        sub.add_argument("--hub", default="http://127.0.0.1:8000", help="the hub's base URL")
        sub.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="the hub's broker")
        sub.add_argument(
            "--token-file", type=Path, required=True, help="file holding the bearer token"
        )
        sub.add_argument(
            "--signing-key", type=Path, help="file holding the private JWK it signs messages with"
        )
        sub.add_argument(
            "--clock-origin",
            type=datetime.fromisoformat,
            help="a real moment that is a modelled midnight (default: real time)",
        )
        sub.add_argument(
            "--state",
            type=Path,
            help="file that keeps what the actor has handled (default var/actors/ID.json)",
        )
        sub.add_argument("--clock-speed", type=float, default=1.0, help="modelled s per real s")
        module.add_arguments(sub)
    return root


def clock_of(args: argparse.Namespace) -> Clock:
    if args.clock_origin is None:
        return Clock(Clock.wall().origin, args.clock_speed)
    return Clock(args.clock_origin, args.clock_speed)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        token = args.token_file.read_text().strip()
    except OSError as error:
        print(f"{args.name}: cannot read the token file: {error.strerror}", file=sys.stderr)
        return 2
    try:
        signer = None if args.signing_key is None else Signer.from_file(args.signing_key)
    except (OSError, ValueError) as error:
        print(f"{args.name}: cannot use the signing key: {error}", file=sys.stderr)
        return 2
    if signer is not None:
        signer.prepare()
    state = args.state or Path("var/actors") / f"{args.id}.json"
    client = HubClient(args.hub, token, sign=signer)
    actor = Actor(args.id, client, args.mqtt, clock_of(args), state=state)
    _module(args.name).install(actor, args)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    actor.start()
    try:
        if not actor.ready.wait(_READY_TIMEOUT):
            print(f"{args.name}: the broker at {args.mqtt} did not answer", file=sys.stderr)
            return 1
        print("ready", flush=True)
        stop.wait()
    finally:
        actor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
