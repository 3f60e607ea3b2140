"""The hub's end of the socket to one query worker: a question goes out, one frame comes back.

The serving event loop asks most queries, so on that loop, the channel's home, the socket stays
registered for reading: an answer is read as it arrives into a buffer kept for the purpose and
resolves the future its question left, which saves the registering, the futile first read and
the unregistering that each of the loop's socket calls costs. A transport would do as much, but
a transport belongs to one loop for good, and other loops ask too (an update's trial runs in a
thread of its own, under `asyncio.run`): a loop other than the home reads its answer with the
loop's socket calls. The pool sees to it that the home loop is not among them while it runs.
"""

import asyncio
import pickle
import socket
from contextlib import suppress
from typing import Any

from hub.storage.query_worker import LENGTH_BYTES, length_of

_BUFFER_BYTES = 1 << 16
"""Room for most answers; a larger one gets a buffer of its own, let go once it is read."""


class Channel:
    """A connected socket to a worker, which answers each frame it is sent with one frame."""

    def __init__(self, channel: socket.socket, home: asyncio.AbstractEventLoop | None) -> None:
        self._socket = channel
        self._socket.setblocking(False)
        self._home = home
        self._watched = False
        self._kept = memoryview(bytearray(_BUFFER_BYTES))
        self._buffer = self._kept
        self._got = 0
        self._awaited: asyncio.Future[Any] | None = None

    async def ask(self, question: bytes | None = None) -> Any:
        """Send the question, if any, and return the next frame the worker sends; EOFError or
        OSError when the worker's end is closed first."""
        loop = asyncio.get_running_loop()
        if loop is not self._home:
            if question is not None:
                await loop.sock_sendall(self._socket, question)
            return await _received(self._socket)
        if not self._watched:
            loop.add_reader(self._socket.fileno(), self._readable)
            self._watched = True
        self._awaited = loop.create_future()
        try:
            if question is not None:
                await self._send(loop, question)
            return await self._awaited
        finally:
            self._awaited = None

    async def _send(self, loop: asyncio.AbstractEventLoop, question: bytes) -> None:
        """Write at once what the socket takes; the loop waits to write any rest."""
        try:
            sent = self._socket.send(question)
        except BlockingIOError:
            sent = 0
        if sent < len(question):
            await loop.sock_sendall(self._socket, memoryview(question)[sent:])

    def _readable(self) -> None:
        """Read what has arrived; a whole frame is the answer awaited."""
        try:
            count = self._socket.recv_into(self._buffer[self._got :])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._ended(error)
            return
        if not count:
            self._ended(EOFError())
            return
        self._got += count
        if self._got < LENGTH_BYTES:
            return
        size = LENGTH_BYTES + length_of(self._buffer[:LENGTH_BYTES])
        if size > len(self._buffer):
            larger = memoryview(bytearray(size))
            larger[: self._got] = self._buffer[: self._got]
            self._buffer = larger
        if self._got < size:
            return
        frame = pickle.loads(self._buffer[LENGTH_BYTES:size])
        self._buffer, self._got = self._kept, 0
        if self._awaited is not None and not self._awaited.done():
            self._awaited.set_result(frame)

    def _ended(self, error: BaseException) -> None:
        """The worker's end is closed: stop watching, and fail the answer awaited."""
        self._unwatch()
        if self._awaited is not None and not self._awaited.done():
            self._awaited.set_exception(error)

    def _unwatch(self) -> None:
        if self._watched and self._home is not None:
            self._home.remove_reader(self._socket.fileno())
        self._watched = False

    def shutdown(self) -> None:
        """Tell the worker no more questions come."""
        with suppress(OSError):  # closed already
            self._socket.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the socket; on the home loop, which watches it, when called from elsewhere."""
        home = self._home
        if not self._watched or home is None or home.is_closed() or _on(home):
            self._closing()
            return
        try:
            home.call_soon_threadsafe(self._closing)
        except RuntimeError:  # the home loop closed meanwhile: nothing watches the socket
            self._socket.close()

    def _closing(self) -> None:
        self._unwatch()
        self._socket.close()


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `loop` runs in this thread, now."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _received(channel: socket.socket) -> Any:
    """The next frame, read with the running loop's socket calls."""
    head = await _exactly(channel, LENGTH_BYTES)
    return pickle.loads(await _exactly(channel, length_of(head)))


async def _exactly(channel: socket.socket, size: int) -> bytearray:
    loop = asyncio.get_running_loop()
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        count = await loop.sock_recv_into(channel, view[got:])
        if not count:
            raise EOFError
        got += count
    return data
