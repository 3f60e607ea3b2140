"""Publishing a point map (hub.model.pointmaps): `heila pointmap publish FILE... --name NAME` into
the store's directory, or through a running hub with `--hub URL` as an administrator, which
is `PUT /pointmaps/{name}` with the point map in Turtle. The bridge's operator publishes the
map the bridge runs with, so that its readings' points have their units in the hub.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import pyoxigraph as ox
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.model.errors import UsageError
from hub.model.pointmaps import PointMapConflict, PointMapRefused, graph_of, parse, read
from hub.storage.backup import add_hub_arguments, bearer, refusal
from hub.storage.store import Store, open_for_command
from hub.web.problem import Problem


def point_map_router(store: Store, administrator: Callable[[Request], str]) -> APIRouter:
    router = APIRouter(tags=["administration"])

    @router.put(
        "/pointmaps/{name}",
        status_code=204,
        summary="Publish a point map (Turtle) under a name, for administrators",
    )
    async def publish(
        name: str, request: Request, _admin: Annotated[str, Depends(administrator)]
    ) -> Response:
        try:
            graph = graph_of(name)
            triples = await run_in_threadpool(parse, await request.body())
        except PointMapRefused as error:
            raise Problem(
                422,
                "invalid-point-map",
                "The point map breaks rules",
                str(error),
                field=name,
                rule="pointmap",
            ) from None
        try:
            await run_in_threadpool(store.publish_point_map, graph, triples)
        except PointMapConflict as error:
            raise Problem(
                409,
                "point-map-conflict",
                "The point map describes what another point map describes",
                str(error),
                field=name,
                rule="describedOnce",
            ) from None
        return Response(status_code=204)

    return router


def add_arguments(_name: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", type=Path, nargs="+", help="point map files in Turtle")
    parser.add_argument("--name", required=True, help="the name it is published under")
    parser.add_argument("--store", default="var/store", help="the store's directory")
    add_hub_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """`heila pointmap publish FILE... --name NAME`: check the point map, then store it, in the
    store's directory or through a running hub (as an administrator)."""
    try:
        graph = graph_of(args.name)
        triples = read(args.files)
        if args.hub is not None:
            publish_online(args.hub, bearer(args), args.name, triples)
        else:
            _publish_offline(args.store, graph, triples)
    except PointMapRefused as error:
        raise UsageError(str(error)) from None
    print(f"published {len(triples)} triples as <{graph.value}>", file=sys.stderr)
    return 0


def publish_online(
    hub: str, authorization: dict[str, str], name: str, triples: list[ox.Triple]
) -> None:
    """PUT a point map to the hub at `hub` as an administrator; UsageError says why not."""
    body = ox.serialize(triples, format=ox.RdfFormat.TURTLE) or b""
    headers = {**authorization, "Content-Type": "text/turtle"}
    url = f"{hub.rstrip('/')}/pointmaps/{name}"
    try:
        answer = httpx.put(url, content=body, headers=headers, timeout=60)
    except httpx.HTTPError as error:
        raise UsageError(f"cannot reach the hub at {hub}: {error}") from None
    if answer.status_code != 204:
        raise refusal(answer)


def _publish_offline(location: str, graph: ox.NamedNode, triples: list[ox.Triple]) -> None:
    store = open_for_command(location)
    try:
        store.publish_point_map(graph, triples)
    finally:
        store.close()
