"""The live feed: every commit, in commit order, to the people watching, as server-sent events.

The intake calls `LiveFeed.publish` after each commit, on the committing thread. With nobody
watching it returns at once; otherwise it writes the event once and hands it to each viewer's
bounded queue, never waiting: a viewer whose queue is full is dropped (its browser reconnects
and resumes from its Last-Event-ID, read back from the store's log). So a slow or stalled
viewer costs the write path nothing but one failed append.

`GET /events` streams `text/event-stream`; each event's id is the commit `sequence`, so a
reconnecting EventSource resumes where it stopped, and `?after=N` asks for the same by hand.
"""

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from hub.model.message import Message
from hub.mqtt.notify import rfc3339
from hub.storage.store import Store, Stored
from hub.web.problem import Problem

KEEP_ALIVE_LINE = b": keep-alive\n\n"
FLUSH_INTERVAL = 0.1
"""Seconds between two writes to one viewer: fast commits reach it in batches, so the event
loop wakes ten times a second per viewer at most instead of once per commit."""
REPLAY_LIMIT = 1000
"""Most events replayed from the store to a viewer that resumes; older ones it reads by query."""
KEEP_ALIVE = 15.0
"""Seconds of silence after which a comment line keeps proxies from closing the stream."""


def event_of(message: Message, stored: Stored) -> dict[str, Any]:
    """What a viewer learns of a commit: the envelope and the messages this one links to."""
    return {
        "sequence": stored.sequence,
        "id": message.id,
        "type": message.type,
        "sender": message.sender,
        "time": rfc3339(message.time),
        "links": [link for link in message.references if link != message.id],
    }


def frame(event: dict[str, Any]) -> bytes:
    """One server-sent event, its id the commit sequence."""
    data = json.dumps(event, separators=(",", ":"))
    return f"id: {event['sequence']}\nevent: message\ndata: {data}\n\n".encode()


class Viewer:
    """One connected viewer: a bounded queue filled by committing threads, read by its stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop, length: int) -> None:
        self._loop = loop
        self._frames: deque[tuple[int, bytes]] = deque()
        self._length = length
        self._ready = asyncio.Event()
        self._woken = False
        self.dropped = False
        self.gone = False

    def offer(self, sequence: int, data: bytes) -> bool:
        """Queue a frame; False when the queue is full and the viewer must go."""
        if len(self._frames) >= self._length:
            self.dropped = True
            self._wake()
            return False
        self._frames.append((sequence, data))
        if not self._woken:  # one wake-up per batch, not one per frame
            self._wake()
        return True

    def leave(self) -> None:
        """The viewer went away (called on its own event loop)."""
        self.gone = True
        self._ready.set()

    def _wake(self) -> None:
        self._woken = True
        self._loop.call_soon_threadsafe(self._ready.set)

    async def next_frames(self, timeout: float) -> list[tuple[int, bytes]]:
        """Every frame queued so far, waiting up to `timeout` seconds for the first; none when
        the time is up or the viewer was dropped."""
        deadline = self._loop.time() + timeout
        while not self._frames and not self.dropped and not self.gone:
            self._woken = False
            self._ready.clear()
            if self._frames:
                break
            try:
                await asyncio.wait_for(self._ready.wait(), deadline - self._loop.time())
            except TimeoutError:
                return []
        taken = []
        while self._frames:
            taken.append(self._frames.popleft())
        return taken


class LiveFeed:
    """Hands each commit to the viewers connected at that moment."""

    def __init__(self, queue_length: int, most_viewers: int = 100) -> None:
        """`queue_length`: events a viewer may fall behind before it is dropped;
        `most_viewers`: viewers at once, each costing every commit one append."""
        self._viewers: frozenset[Viewer] = frozenset()
        self._lock = threading.Lock()
        self._queue_length = queue_length
        self._most_viewers = most_viewers

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    def publish(self, message: Message, stored: Stored) -> None:
        """Called after each commit, on the committing thread; never blocks."""
        viewers = self._viewers
        if not viewers:
            return
        data = frame(event_of(message, stored))
        for viewer in viewers:
            if not viewer.offer(stored.sequence, data):
                self.leave(viewer)

    def join(self) -> Viewer | None:
        """A new viewer following the feed; None when as many as allowed already do."""
        viewer = Viewer(asyncio.get_running_loop(), self._queue_length)
        with self._lock:
            if len(self._viewers) >= self._most_viewers:
                return None
            self._viewers = self._viewers | {viewer}
        return viewer

    def leave(self, viewer: Viewer) -> None:
        with self._lock:
            self._viewers = self._viewers - {viewer}

    def close(self) -> None:
        """End every viewer's stream, so that a stopping server need not wait for them (call
        on the event loop)."""
        for viewer in self._viewers:
            viewer.leave()


def replay(store: Store, after: int, limit: int = REPLAY_LIMIT) -> list[tuple[int, bytes]]:
    """The frames of the commits after `after` that the store holds, oldest first: the latest
    `limit` of them when more were missed, so that none is missing up to the live ones."""
    frames = []
    start = max(after, store.last_sequence - limit)
    for stored in store.messages(after=start, limit=limit):
        message = store.get(stored.iri)
        if message is not None:
            frames.append((stored.sequence, frame(event_of(message, stored))))
    return frames


async def _until_disconnected(request: Request, viewer: Viewer) -> None:
    """Servers of ASGI 2.4 tell a streaming response of a lost client only when it writes:
    listen, so that a viewer who left is forgotten at once rather than at the next event."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    viewer.leave()


async def stream(
    request: Request, feed: LiveFeed, viewer: Viewer, store: Store, after: int | None
) -> AsyncIterator[bytes]:
    """Replay from the store what the viewer missed, then follow the feed until it leaves."""
    listening = asyncio.create_task(_until_disconnected(request, viewer))
    try:
        yield b"retry: 1000\n\n"
        last = -1
        if after is not None:
            for sequence, data in await run_in_threadpool(replay, store, after):
                last = sequence
                yield data
        while not viewer.dropped and not viewer.gone:
            frames = await viewer.next_frames(KEEP_ALIVE)
            fresh = b"".join(data for sequence, data in frames if sequence > last)
            yield fresh or KEEP_ALIVE_LINE
            await asyncio.sleep(FLUSH_INTERVAL)  # let the next commits gather into one write
    finally:
        listening.cancel()
        feed.leave(viewer)


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """Where to resume: the browser's Last-Event-ID on a reconnect, else `?after=`."""
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return after


def events_router(feed: LiveFeed, store: Store) -> APIRouter:
    router = APIRouter(tags=["live"])

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
        summary="Every commit as a server-sent event, its id the commit sequence",
    )
    async def events(
        request: Request,
        after: Annotated[int | None, Query(ge=0, description="replay commits after this")] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        viewer = feed.join()
        if viewer is None:
            raise Problem(
                503,
                "too-many-viewers",
                "Too many live viewers",
                "the hub serves as many live viewers as it is configured for; try again later",
                {"Retry-After": "10"},
                field="viewers",
                rule="maxViewers",
            )
        return StreamingResponse(
            stream(request, feed, viewer, store, _resume_point(last_event_id, after)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
