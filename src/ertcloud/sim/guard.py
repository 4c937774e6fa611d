"""Guards of the simulator's HTTP side: a connection cap and rate-limited logging.

:class:`ConnectionGuard` caps the open connections of an aiohttp server. It accepts them
itself (:class:`GuardedSite`), not through asyncio's accept loop: that one takes up to
``backlog`` connections per wake-up before any of them reaches the server, and a
connection closed to make room holds its descriptor until the next turn of the loop, so
under a flood ``accept()`` failed with ``EMFILE`` and asyncio stopped accepting for a
second. Here the guard decides on each connection as it is accepted: at the cap it closes
the oldest one that has not yet sent a whole request (a slowloris connection, an idle
keep-alive one, a TLS handshake that does not finish), so clients that do send requests
keep being served; when every connection is busy, the new one is answered ``503`` (plain
HTTP; over TLS it is closed) at once. Descriptors still closing count too: at most
``_ACCEPT_BURST`` beyond the cap, which stays below the process's descriptor limit, so
accepting never runs out of descriptors. (Connections that take too long to send a
request head are closed by aiohttp's ``keepalive_timeout``, which the simulator sets to
its header timeout.)

:class:`RateLimitFilter` lets through a few records of each message per window and then
one summary, so a flood of identical errors (``EMFILE`` on accept, say) cannot fill a disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from yarl import URL

from ..exceptions import ConfigError

__all__ = ["ConnectionGuard", "GuardedSite", "RateLimitFilter", "fd_headroom"]

log = logging.getLogger("ertcloud.sim")

_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#: file descriptors kept free of connections (listeners, log files, the event loop)
_FD_RESERVE = 64
#: connections accepted per wake-up of a listening socket; also how many descriptors
#: beyond the cap may still be closing (they are released on the next turn of the loop)
_ACCEPT_BURST = 16
#: accept() errors that mean "no descriptor or memory now": wait, then try again
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
#: seconds to wait before accepting again after such an error
_RETRY_DELAY = 0.1


def fd_headroom(wanted: int) -> int:
    """``wanted`` connections, lowered to fit this process's file descriptor limit."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return wanted
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(8, soft - _FD_RESERVE))


def _waiting_for_request(handler: Any) -> bool:
    """True when an aiohttp request handler holds no request (it is waiting for one)."""
    waiter = getattr(handler, "_waiter", None)
    return (
        waiter is not None
        and not waiter.done()
        and not getattr(handler, "_messages", None)
        and getattr(handler, "transport", None) is not None
    )


def _arriving(handler: Any) -> bool:
    """True when an aiohttp request handler is up but has not started waiting for its
    first request yet (nor is handling one)."""
    return (
        getattr(handler, "transport", None) is not None
        and getattr(handler, "_waiter", None) is None
        and getattr(handler, "_current_request", None) is None
        and not getattr(handler, "_messages", None)
    )


def _has_input(handler: Any) -> bool:
    """True when bytes wait in the kernel to be read from the handler's socket."""
    try:
        import fcntl
        import termios
    except ImportError:  # not on Windows
        return False
    transport = getattr(handler, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return False
    try:
        waiting = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError):
        return False
    return int.from_bytes(waiting, sys.byteorder) > 0


class ConnectionGuard:
    """A cap on the open connections of one aiohttp :class:`web.Server` (all its sites)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ConfigError("the connection cap must be at least 1")
        self.limit = limit
        self.evicted = 0  # connections closed to make room
        self.refused = 0  # connections answered 503
        # every accepted socket not yet closed, closing ones included (pruned lazily)
        self._socks: set[socket.socket] = set()
        # accepted sockets whose handler is not up yet (a TLS handshake, or for one turn)
        self._pending: dict[socket.socket, tuple[asyncio.Task[None], _Listener]] = {}

    def descriptors(self) -> int:
        """Descriptors held by accepted connections, those still closing included."""
        if len(self._socks) >= self.limit:
            self._socks = {s for s in self._socks if s.fileno() != -1}
        return len(self._socks)

    def _live(self, server: web.Server) -> int:
        handlers = sum(1 for h in server.connections if h.transport is not None)
        return handlers + len(self._pending)

    def _room(self, server: web.Server) -> str:
        """What a new connection would get: ``"free"`` (below the cap), ``"evict"`` (an
        idle one makes room), ``"wait"`` (none idle, but some just arrived and will be
        idle or busy within a turn or two) or ``"full"`` (all busy: refuse)."""
        if self._live(server) < self.limit:
            return "free"
        if any(_waiting_for_request(h) for h in server.connections) or any(
            listener.ssl is not None for _, listener in self._pending.values()
        ):
            return "evict"
        if self._pending or any(_arriving(h) for h in server.connections):
            return "wait"
        return "full"

    def _evict(self, server: web.Server) -> bool:
        """Close the oldest connection that has not sent a whole request, if any (one
        whose request is in the socket but not yet read is spared when another can go)."""
        idle = (h for h in server.connections if _waiting_for_request(h))  # oldest first
        first = next(idle, None)
        victim = (
            first
            if first is None or not _has_input(first)
            else next((h for h in idle if not _has_input(h)), first)
        )
        if victim is not None:
            transport = victim.transport
            victim.force_close()
            if transport is not None:
                transport.abort()  # its descriptor is released on the next turn
        else:
            for sock, (task, listener) in self._pending.items():
                if listener.ssl is not None:
                    del self._pending[sock]
                    task.cancel()
                    break
            else:
                return False
        self.evicted += 1
        log.info("connection cap %d reached: closed an idle connection", self.limit)
        return True

    def _forget(self, listener: _Listener) -> None:
        """Drop the connections of ``listener`` that are not up yet (it stops)."""
        for sock, (task, owner) in list(self._pending.items()):
            if owner is listener:
                del self._pending[sock]
                task.cancel()

    def _refuse(self, conn: socket.socket, plain: bool) -> None:
        self.refused += 1
        log.warning("connection cap %d reached: refusing a connection", self.limit)
        if plain:
            # read what already came, so that closing sends a FIN after the answer, not a reset
            with contextlib.suppress(OSError):
                for _ in range(4):
                    if not conn.recv(1 << 16):
                        break
            with contextlib.suppress(OSError):
                conn.send(_BUSY)
        conn.close()

    def _take(self, conn: socket.socket, listener: _Listener, room: str) -> None:
        """A connection just accepted: hand it to the server, making room or refusing."""
        conn.setblocking(False)
        if room != "free" and not self._evict(listener.server):
            self._refuse(conn, plain=listener.ssl is None)
            return
        self._socks.add(conn)
        made: list[bool] = []  # once asyncio makes a transport, the transport closes conn

        def protocol() -> asyncio.BaseProtocol:
            made.append(True)
            return listener.server()

        task = asyncio.get_running_loop().create_task(_hand_over(conn, listener, protocol))
        task.add_done_callback(functools.partial(self._handed_over, conn, made))
        self._pending[conn] = (task, listener)

    def _handed_over(self, conn: socket.socket, made: list[bool], task: asyncio.Task[None]) -> None:
        self._pending.pop(conn, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("connection dropped before its first request: %s", exc)
        if not made:  # cancelled before it started: no transport will close it
            conn.close()


async def _hand_over(
    conn: socket.socket, listener: _Listener, protocol: Callable[[], asyncio.BaseProtocol]
) -> None:
    loop = asyncio.get_running_loop()
    if listener.ssl is None:
        await loop.connect_accepted_socket(protocol, conn)
    else:
        await loop.connect_accepted_socket(
            protocol, conn, ssl=listener.ssl, ssl_handshake_timeout=listener.handshake_timeout
        )


class _Listener:
    """The accept loop of one site's listening sockets, on behalf of a guard."""

    def __init__(
        self,
        guard: ConnectionGuard,
        server: web.Server,
        sockets: Iterable[socket.socket],
        ssl_context: ssl.SSLContext | None,
        handshake_timeout: float,
    ) -> None:
        self.guard = guard
        self.server = server
        self.ssl = ssl_context
        self.handshake_timeout = handshake_timeout
        self._loop = asyncio.get_running_loop()
        self.sockets = list(sockets)
        self._retry: dict[socket.socket, asyncio.Handle] = {}
        self._stuck = 0  # wake-ups in a row with too many descriptors still closing
        self._closed = False
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._readable, sock)

    def close(self) -> None:
        """Stop accepting and close the listening sockets."""
        self._closed = True
        for handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
        self.guard._forget(self)
        for sock in self.sockets:
            if sock.fileno() != -1:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    def _readable(self, sock: socket.socket) -> None:
        guard = self.guard
        # few evictions per turn, so that a connection just accepted has turns enough
        # to have its request read before it is the oldest idle one
        evictions = max(1, guard.limit // _ACCEPT_BURST)
        for _ in range(_ACCEPT_BURST):
            room = guard._room(self.server)
            if guard.descriptors() >= guard.limit + _ACCEPT_BURST or room == "wait":
                # closing ones are released, and arriving ones settle, on the next turns;
                # if they do not (a transport still flushing, a lingering handler), do
                # not spin on a readable socket meanwhile
                self._stuck += 1
                self._pause(sock, 0.0 if self._stuck < 3 else _RETRY_DELAY)
                return
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                log.warning("accepting a connection failed: %s", exc.strerror or exc)
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(sock, _RETRY_DELAY)
                return
            self._stuck = 0
            guard._take(conn, self, room)
            if room == "evict":
                evictions -= 1
                if not evictions:
                    return

    def _pause(self, sock: socket.socket, delay: float) -> None:
        self._loop.remove_reader(sock.fileno())
        self._retry[sock] = self._loop.call_later(delay, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        self._retry.pop(sock, None)
        if not self._closed and sock.fileno() != -1:
            self._loop.add_reader(sock.fileno(), self._readable, sock)


class GuardedSite(web.BaseSite):
    """A TCP site (like :class:`web.TCPSite`) whose connections go through ``guard``."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str | None,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float = 60.0,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard
        self._handshake_timeout = handshake_timeout
        self._listener: _Listener | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the one asked for before)."""
        if self._listener is not None:
            return int(self._listener.sockets[0].getsockname()[1])
        return self._port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return str(URL.build(scheme=scheme, host=self._host or "0.0.0.0", port=self.port))

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        sockets = await _bind(self._host, self._port, self._backlog)
        self._listener = _Listener(
            self._guard, server, sockets, self._ssl_context, self._handshake_timeout
        )

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        await super().stop()


async def _bind(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` (all interfaces if empty), as
    ``loop.create_server`` makes them; with port 0, all on the port the first one got."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, type_, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            if os.name == "posix":  # as asyncio: a restarted server gets its port back
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


_NUMBERS = re.compile(r"0x[0-9a-f]+|[0-9]+", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _shape(msg: str) -> str:
    """What makes two messages "the same": the first line, numbers left out (asyncio's
    own messages carry descriptors and addresses, so no two are alike word for word)."""
    return _NUMBERS.sub("#", msg.partition("\n")[0][:200])


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records of each message (its format string's first line,
    numbers aside) per ``window``
    seconds; the first one after a suppressed run says how many were left out."""

    def __init__(
        self, burst: int = 5, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, _shape(str(record.msg)))
        now = self._clock()
        start, shown, dropped = self._seen.get(key, (now, 0, 0))
        if now - start >= self.window:
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this were not logged]"
            start, shown, dropped = now, 0, 0
        if shown >= self.burst:
            self._seen[key] = (start, shown, dropped + 1)
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = (start, shown + 1, dropped)
        return True
