"""The way to a station: a loopback port that c104 connects to, carried on to the station.

c104 2.2.1 leaves two things undone that the bridge needs, and the tunnel does both:
- TLS: its client cannot open a verified TLS link (its lib60870 always requires the peer's
  certificate to be verified but never gives mbedtls a host name, and mbedtls 3.6 refuses every
  such handshake, -0x5D80). The tunnel ends TLS in Python's ssl module instead: it presents the
  bridge's certificate and checks the station's against the CA and against the host name or
  address the station is reached by, which is more than c104 would have checked.
- Backoff: c104 reopens a lost link every second, for ever. The tunnel dials the station only
  when its backoff allows (pauses doubling from `backoff[0]` to `backoff[1]`, back to the first
  once the station answers again); until then it closes c104's connection at once, on the
  loopback, and the station sees nothing.
Each hop through the tunnel costs about 0.1 ms.

Each connection has a thread of its own that relays both ways from one selector loop: one
OpenSSL connection must not be read and written from two threads at once.
"""

import contextlib
import itertools
import logging
import re
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

log = logging.getLogger("heila.bridge.tunnel")

CHUNK = 65536


class Tunnel:
    """A loopback port whose every connection is carried on to one station, over TLS if given.

    A failed connection or handshake closes the local side, so c104 sees a dropped link and
    reconnects as usual; each reason is logged once until the station answers again.
    """

    def __init__(
        self,
        station: tuple[str, int],
        context: ssl.SSLContext | None = None,
        *,
        backoff: tuple[float, float] = (1.0, 30.0),
        timeout: float = 5.0,
    ) -> None:
        """`context`: TLS to the station, None for plain TCP; `timeout`: seconds to connect and
        to complete the handshake."""
        self.station = station
        self._context = context
        self._backoff = backoff
        self._delay = backoff[0]
        self._next_try = 0.0
        """time.monotonic() before which the station is not dialled again"""
        self._timeout = timeout
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake, self._waker = socket.socketpair()
        """readable for every loop once `stop` wrote to the other end"""
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._reported: set[str] = set()
        self._connections = itertools.count(1)
        self._name = f"tunnel {station[0]}:{station[1]}"

    def start(self) -> None:
        self._spawn(self._accept, self._name)

    def stop(self) -> None:
        """Close the port and every connection through it; returns once their threads ended."""
        self._waker.send(b"\0")
        while True:
            with self._lock:
                running = next(iter(self._threads), None)
            if running is None:
                break
            running.join()
        for sock in (self._listener, self._wake, self._waker):
            sock.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake in ready:
                    return
                try:
                    near, _ = self._listener.accept()
                except OSError as error:  # the client gave up meanwhile
                    log.debug("%s: accept failed: %s", self._name, error)
                    continue
                if time.monotonic() < self._next_try:
                    near.close()  # backing off: c104 tries again in a second, on the loopback
                    continue
                self._spawn(self._carry, f"{self._name} #{next(self._connections)}", near)

    def _carry(self, near: socket.socket) -> None:
        far: socket.socket | None = None
        replied = False

        def on_reply() -> None:
            nonlocal replied
            replied = True
            self._answered()

        try:
            near.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                far = self._open()
            except OSError as error:  # ssl.SSLError and TimeoutError are OSErrors too
                self._report("refused", error)
                return
            if far is None:
                return
            try:
                _relay(near, far, self._wake, on_reply)
            except OSError as error:
                if replied:  # c104 says the link dropped too
                    self._report("dropped", error, logging.INFO)
                elif self._context is not None:  # TLS 1.3 refuses a certificate after the handshake
                    doubt = "refused after the handshake (the bridge's certificate?)"
                    self._report(doubt, error, same_cause=True)
                else:
                    self._report("closed before answering", error, same_cause=True)
        finally:
            if not replied:
                self._back_off()  # before c104 sees the close, so its next try knows the pause
            if isinstance(far, ssl.SSLSocket):
                with contextlib.suppress(OSError):
                    far.unwrap()  # close_notify, if the station still listens
            if far is not None:
                far.close()
            near.close()

    def _open(self) -> socket.socket | None:
        """The connection to the station, or None if the tunnel stopped meanwhile."""
        raw = socket.create_connection(self.station, timeout=self._timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._context is None:
            return raw
        host, _ = self.station
        far = self._context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        try:
            far.setblocking(False)
            deadline = time.monotonic() + self._timeout
            while True:
                try:
                    far.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    wanted = selectors.EVENT_READ
                except ssl.SSLWantWriteError:
                    wanted = selectors.EVENT_WRITE
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no TLS handshake within the timeout")
                with selectors.DefaultSelector() as selector:
                    selector.register(far, wanted)
                    selector.register(self._wake, selectors.EVENT_READ)
                    if any(key.fileobj is self._wake for key, _ in selector.select(remaining)):
                        far.close()
                        return None
        except BaseException:
            far.close()
            raise
        log.debug("TLS to %s:%d open (%s, %s)", *self.station, far.version(), far.cipher())
        return far

    def _answered(self) -> None:
        """The station spoke: the link is up, and its next loss is retried without a pause."""
        with self._lock:
            self._delay, self._next_try = self._backoff[0], 0.0
            if self._reported:
                log.info("station %s:%d answers again", *self.station)
                self._reported.clear()

    def _back_off(self) -> None:
        """No dial before a pause twice as long as the last one, up to `backoff[1]`."""
        with self._lock:
            self._next_try = time.monotonic() + self._delay
            log.debug("station %s:%d: next try in %g s", *self.station, self._delay)
            self._delay = min(self._delay * 2, self._backoff[1])

    def _report(
        self, what: str, error: OSError, level: int = logging.WARNING, same_cause: bool = False
    ) -> None:
        """Log `what` happened and why, unless it was since the station last replied.

        `same_cause`: whatever the error says, it is the cause `what` names.
        """
        reason = _reason(error)
        cause = what if same_cause else f"{what}: {reason}"
        with self._lock:
            first = cause not in self._reported
            self._reported.add(cause)
        if first:
            tls = "TLS " if self._context is not None else ""
            log.log(level, "%sstation %s:%d %s: %s", tls, *self.station, what, reason)


def _relay(
    near: socket.socket, far: socket.socket, wake: socket.socket, on_reply: Callable[[], None]
) -> None:
    """Carry bytes both ways until either side closes or `wake` becomes readable.

    `on_reply` is called when the station first sends something: only then is the link known
    to be accepted, since a TLS 1.3 server refuses a client's certificate after the handshake.

    Reads drain a socket (and OpenSSL's buffer with it) before the loop waits again; what a
    socket cannot take at once waits for it in memory. IEC 104's window (k = 12 unconfirmed
    APDUs) bounds that, so there is no flow control of our own.
    """
    near.setblocking(False)
    far.setblocking(False)
    waiting: dict[socket.socket, bytearray] = {near: bytearray(), far: bytearray()}
    """bytes for each socket that it could not take yet"""
    stalled: dict[socket.socket, bool] = {near: False, far: False}
    """OpenSSL must write before it can read on"""
    other: dict[socket.socket, socket.socket] = {near: far, far: near}
    interest = {near: selectors.EVENT_READ, far: selectors.EVENT_READ}
    replied = False
    with selectors.DefaultSelector() as selector:
        selector.register(wake, selectors.EVENT_READ)
        for sock, events in interest.items():
            selector.register(sock, events)
        while True:
            ready = {key.fileobj for key, _ in selector.select()}
            if wake in ready:
                return
            for source in (near, far):
                if source not in ready:
                    continue
                sink = other[source]
                state = _receive(source, waiting[sink])
                if source is far and waiting[sink] and not replied:
                    replied = True
                    on_reply()
                _send(sink, waiting[sink])
                if state == _CLOSED:
                    _flush(sink, waiting[sink])
                    return
                stalled[source] = state == _STALLED
            for sock in (near, far):
                if sock in ready and waiting[sock]:
                    _send(sock, waiting[sock])
                writing = bool(waiting[sock]) or stalled[sock]
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
                if events != interest[sock]:
                    interest[sock] = events
                    selector.modify(sock, events)


_OPEN, _CLOSED, _STALLED = "open", "closed", "stalled"


def _receive(sock: socket.socket, into: bytearray) -> str:
    """Append all a non-blocking socket holds now to `into`.

    _CLOSED once its peer has closed it, _STALLED if OpenSSL must send first (a TLS 1.3 key
    update, say) and the socket takes nothing now, else _OPEN.
    """
    while True:
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError):
            return _OPEN
        except ssl.SSLWantWriteError:
            return _STALLED
        if not data:
            return _CLOSED
        into += data


def _send(sock: socket.socket, waiting: bytearray) -> None:
    """Send what the socket takes now, and drop it from `waiting`."""
    while waiting:
        try:
            sent = sock.send(waiting)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        del waiting[:sent]


def _flush(sock: socket.socket, waiting: bytearray) -> None:
    """Send what is left before closing, waiting a second at most."""
    if waiting:
        sock.settimeout(1.0)
        with contextlib.suppress(OSError):
            sock.sendall(waiting)


def _reason(error: OSError) -> str:
    """The readable part of an error: 'certificate verify failed: ...' without OpenSSL's tags."""
    text = error.strerror or str(error)
    return re.sub(r"^\[SSL: \w+\] | \(_ssl\.c:\d+\)$", "", text) or type(error).__name__
