"""A TLS tunnel for the IEC 104 link: the bridge's end of TLS, in Python's ssl module.

c104 2.2.1's client cannot open a verified TLS link: its lib60870 always requires the peer's
certificate to be verified but never gives mbedtls a host name, and mbedtls 3.6 refuses every
such handshake (-0x5D80). So c104 speaks plain TCP to a port on the loopback and the tunnel
carries each of its connections to the station over TLS. It presents the bridge's certificate
(the station authenticates the bridge) and checks the station's against the CA and against the
host name or address the station is reached by, which is more than c104 would have checked.

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
    """A loopback port whose every connection is carried on to one station over TLS.

    A failed connection or handshake closes the local side, so c104 sees a dropped link and
    reconnects as usual; each reason is logged once until a handshake succeeds again.
    """

    def __init__(
        self, station: tuple[str, int], context: ssl.SSLContext, *, timeout: float = 5.0
    ) -> None:
        """`timeout`: seconds to connect and to complete the handshake."""
        self.station = station
        self._context = context
        self._timeout = timeout
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake, self._waker = socket.socketpair()
        """readable for every loop once `stop` wrote to the other end"""
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._reported: set[str] = set()
        self._connections = itertools.count(1)
        self._name = f"tls-tunnel {station[0]}:{station[1]}"

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
                self._spawn(self._carry, f"{self._name} #{next(self._connections)}", near)

    def _carry(self, near: socket.socket) -> None:
        far: ssl.SSLSocket | None = None
        replied = False

        def on_reply() -> None:
            nonlocal replied
            replied = True
            if self._reported:
                log.info("TLS to %s:%d open again", *self.station)
                self._reported.clear()

        try:
            near.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                far = self._open()
            except OSError as error:  # ssl.SSLError and TimeoutError are OSErrors too
                self._report("refused", error)
                _hear_out(near, self._wake)
                return
            if far is None:
                return
            try:
                _relay(near, far, self._wake, on_reply)
            except OSError as error:
                if replied:  # c104 says the link dropped too
                    self._report("dropped", error, logging.INFO)
                else:  # TLS 1.3 tells a client its certificate was refused after the handshake
                    doubt = "refused after the handshake (the bridge's certificate?)"
                    self._report(doubt, error, same_cause=True)
        finally:
            if far is not None:
                with contextlib.suppress(OSError):
                    far.unwrap()  # close_notify, if the station still listens
                far.close()
            near.close()

    def _open(self) -> ssl.SSLSocket | None:
        """The TLS connection to the station, or None if the tunnel stopped meanwhile."""
        host, _ = self.station
        raw = socket.create_connection(self.station, timeout=self._timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    def _report(
        self, what: str, error: OSError, level: int = logging.WARNING, same_cause: bool = False
    ) -> None:
        """Log `what` happened and why, unless it was since the station last replied.

        `same_cause`: whatever the error says, it is the cause `what` names.
        """
        reason = _reason(error)
        cause = what if same_cause else f"{what}: {reason}"
        if cause not in self._reported:
            self._reported.add(cause)
            log.log(level, "TLS to %s:%d %s: %s", *self.station, what, reason)


def _hear_out(near: socket.socket, wake: socket.socket, timeout: float = 1.0) -> None:
    """Wait until c104 has sent its first frame (STARTDT) before its connection is closed, a
    second at most: c104 2.2.1 can crash when a connection closes while it is still sending
    STARTDT on it (Socket_write on a socket its receive thread is freeing)."""
    with selectors.DefaultSelector() as selector:
        selector.register(near, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        selector.select(timeout)


def _relay(
    near: socket.socket, far: ssl.SSLSocket, wake: socket.socket, on_reply: Callable[[], None]
) -> None:
    """Carry bytes both ways until either side closes or `wake` becomes readable.

    `on_reply` is called whenever the station sends something: only then is the link known to
    be accepted, since a TLS 1.3 server refuses a client's certificate after the handshake.

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
                if source is far and waiting[sink]:
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
