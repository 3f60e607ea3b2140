"""How administrators change the actor registry: `heila actor …` and the /actors routes.

`heila actor` works on a store directory, or with `--hub URL` asks a running hub (which holds
the store's lock) through /actors, as an administrator. A new or rotated token is printed once,
for the actor; the registry keeps only its hash.
"""

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from hub.model.errors import UsageError
from hub.mqtt.broker_rules import broker_rules
from hub.storage.backup import add_hub_arguments, bearer, refusal
from hub.storage.store import open_for_command
from hub.trust.registry import Registry, RegistryRefused
from hub.web.problem import Problem

_VERBS = ("add", "rotate", "keys", "revoke", "list", "broker-config")


class NewActor(BaseModel):
    id: str
    role: str
    party: str | None = None
    keys: list[str] = []
    """public JWKs (as JSON text) of the keys the actor signs with"""
    signed: bool = False
    """every message the actor sends must be signed by one of its keys"""


class SigningKeys(BaseModel):
    keys: list[str]
    """public JWKs (as JSON text) of the keys the actor signs with from now on"""


def _problem(error: RegistryRefused) -> Problem:
    return Problem(
        error.status, "registry", "Registry change refused", str(error), field=error.field
    )


def registry_router(registry: Registry, administrator: Callable[[Request], str]) -> APIRouter:
    """Add, rotate, revoke and list actors on a running hub, for administrators only."""
    router = APIRouter(tags=["administration"])
    admin = Annotated[str, Depends(administrator)]

    @router.get("/actors", summary="The registered actors, without their token hashes")
    def listed(_admin: admin) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in registry.listing()]

    @router.get(
        "/broker-rules",
        summary="A Mosquitto password file and ACL with the registered actors' rights",
    )
    def broker_config(_admin: admin) -> dict[str, Any]:
        return asdict(broker_rules(registry))

    @router.post("/actors", status_code=201, summary="Register an actor; its token, once")
    def add(actor: NewActor, _admin: admin) -> dict[str, str]:
        try:
            token = registry.add(actor.id, actor.role, actor.party, actor.keys, actor.signed)
            return {"id": actor.id, "token": token}
        except RegistryRefused as error:
            raise _problem(error) from None

    @router.post("/actors/{actor}/rotate", summary="A new token for an actor; the old one dies")
    def rotate(actor: str, _admin: admin) -> dict[str, str]:
        try:
            return {"id": actor, "token": registry.rotate(actor)}
        except RegistryRefused as error:
            raise _problem(error) from None

    @router.put(
        "/actors/{actor}/keys",
        status_code=204,
        summary="Replace the keys an actor signs with; the old ones are refused from now on",
    )
    def set_keys(actor: str, keys: SigningKeys, _admin: admin) -> Response:
        try:
            registry.set_keys(actor, keys.keys)
        except RegistryRefused as error:
            raise _problem(error) from None
        return Response(status_code=204)

    @router.delete("/actors/{actor}", status_code=204, summary="Revoke an actor's credentials")
    def revoke(actor: str, _admin: admin) -> Response:
        try:
            registry.revoke(actor)
        except RegistryRefused as error:
            raise _problem(error) from None
        return Response(status_code=204)

    return router


def add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", choices=_VERBS, help="what to do")
    parser.add_argument("actor", nargs="?", help="the actor's id (all but list and broker-config)")
    parser.add_argument("--role", help="add: SPP, MGMS, CEMS, AMS, FMP, DMS, IED, researcher…")
    parser.add_argument("--party", help="add: the business party operating the actor system")
    parser.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        help="add, keys: a public JWK it signs with (keys: the ones it signs with from now on)",
    )
    parser.add_argument("--signed", action="store_true", help="add: it must sign every message")
    parser.add_argument(
        "--passwords", type=Path, help="broker-config: write Mosquitto's password file here"
    )
    parser.add_argument("--acl", type=Path, help="broker-config: write Mosquitto's ACL here")
    parser.add_argument("--store", default="var/store", help="the store's directory")
    add_hub_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """`heila actor VERB [ID]`: change or list the registry, and print what the actor needs."""
    if args.verb not in ("list", "broker-config") and not args.actor:
        raise UsageError(f"heila actor {args.verb} needs the actor's id")
    if args.verb == "add" and not args.role:
        raise UsageError("heila actor add needs --role")
    if args.verb == "broker-config" and (args.passwords is None or args.acl is None):
        raise UsageError("heila actor broker-config needs --passwords FILE and --acl FILE")
    answer = _over_http(args) if args.hub is not None else _on_store(args)
    if args.verb == "broker-config":
        _write_broker_rules(answer, args.passwords, args.acl)
    elif args.verb == "list":
        for entry in answer:
            logins = "token" if entry["token"] else ""
            logins += " certificate" if entry["certificate"] else ""
            print(f"{entry['actor']}\t{entry['role']}\t{entry['party']}\t{logins.strip()}")
    elif args.verb in ("add", "rotate"):
        print(f"# token for {args.actor} (give it to the actor, keep it nowhere else):")
        print(answer)
    elif args.verb == "keys":
        print(f"{args.actor} signs with {len(args.key)} key(s) from now on", file=sys.stderr)
    else:
        print(f"revoked {args.actor}", file=sys.stderr)
    return 0


def _on_store(args: argparse.Namespace) -> Any:
    store = open_for_command(args.store)
    try:
        registry = Registry(store)
        if args.verb == "add":
            return registry.add(args.actor, args.role, args.party, _keys(args), args.signed)
        if args.verb == "rotate":
            return registry.rotate(args.actor)
        if args.verb == "revoke":
            return registry.revoke(args.actor)
        if args.verb == "keys":
            return registry.set_keys(args.actor, _keys(args))
        if args.verb == "broker-config":
            return asdict(broker_rules(registry))
        return [asdict(entry) for entry in registry.listing()]
    finally:
        store.close()


def _over_http(args: argparse.Namespace) -> Any:
    hub = args.hub.rstrip("/")
    url = f"{hub}/actors"
    requests = {
        "add": (
            "POST",
            url,
            {
                "id": args.actor,
                "role": args.role,
                "party": args.party,
                "keys": _keys(args),
                "signed": args.signed,
            },
        ),
        "rotate": ("POST", f"{url}/{args.actor}/rotate", None),
        "revoke": ("DELETE", f"{url}/{args.actor}", None),
        "keys": ("PUT", f"{url}/{args.actor}/keys", {"keys": _keys(args)}),
        "list": ("GET", url, None),
        "broker-config": ("GET", f"{hub}/broker-rules", None),
    }
    method, target, body = requests[args.verb]
    try:
        answer = httpx.request(method, target, json=body, headers=bearer(args), timeout=30)
    except httpx.HTTPError as error:
        raise UsageError(f"cannot reach {args.hub}: {error}") from None
    if answer.status_code >= 400:
        raise refusal(answer)
    if args.verb in ("add", "rotate"):
        return answer.json()["token"]
    return answer.json() if args.verb in ("list", "broker-config") else None


def _write_broker_rules(rules: dict[str, Any], passwords: Path, acl: Path) -> None:
    """Write the password file (readable by its owner and group alone) and the ACL."""
    try:
        passwords.touch(mode=0o640)
        passwords.write_text(rules["passwords"])
        acl.write_text(rules["acl"])
    except OSError as error:
        raise UsageError(f"cannot write the broker's files: {error}") from None
    for actor in rules["left_out"]:
        print(
            f"{actor} has no password for the broker (configured in hub.toml, not registered): "
            f"heila actor rotate {actor}",
            file=sys.stderr,
        )
    print(
        f"wrote {passwords} and {acl}; add the hub's login: mosquitto_passwd {passwords} heila-hub"
    )


def _keys(args: argparse.Namespace) -> list[str]:
    try:
        return [path.read_text() for path in args.key]
    except OSError as error:
        raise UsageError(f"cannot read a key file: {error}") from None
