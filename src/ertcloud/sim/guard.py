"""Guards of the simulator's HTTP side: a connection cap and rate-limited logging.

:class:`ConnectionGuard` caps the open connections of an aiohttp server. At the cap, a
new connection closes the oldest one that has not yet sent a whole request (a slowloris
connection, or an idle keep-alive one), so clients that do send requests keep being
served; when every connection is busy, the new one is answered ``503`` and closed. The
cap stays below the process's file descriptor limit, so accepting never runs out of
descriptors. (Connections that take too long to send a request head are closed by
aiohttp's ``keepalive_timeout``, which the simulator sets to its header timeout.)

:class:`RateLimitFilter` lets through a few records of each message per window and then
one summary, so a flood of identical errors (``EMFILE`` on accept, say) cannot fill a disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from ..exceptions import ConfigError

__all__ = ["ConnectionGuard", "RateLimitFilter", "fd_headroom"]

log = logging.getLogger("ertcloud.sim")

_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#: file descriptors kept free of connections (listeners, log files, the event loop)
_FD_RESERVE = 64


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


class _Busy(asyncio.Protocol):
    """Answers 503 and hangs up: the cap is reached and nobody can be evicted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_BUSY)
        transport.close()


def _waiting_for_request(handler: Any) -> bool:
    """True when an aiohttp request handler holds no request (it is waiting for one)."""
    waiter = getattr(handler, "_waiter", None)
    return (
        waiter is not None
        and not waiter.done()
        and not getattr(handler, "_messages", None)
        and getattr(handler, "transport", None) is not None
    )


class ConnectionGuard:
    """A cap on the open connections of one aiohttp :class:`web.Server`."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ConfigError("the connection cap must be at least 1")
        self.limit = limit
        self.evicted = 0  # connections closed to make room
        self.refused = 0  # connections answered 503

    def adopt(self, server: web.Server) -> None:
        """Make ``server`` (built by an ``AppRunner``) go through this guard."""
        server.__class__ = _GuardedServer
        server._ertcloud_guard = self  # type: ignore[attr-defined]

    def admit(self, server: web.Server) -> bool:
        """Room for one more connection (closing the oldest idle one if need be)?"""
        live = [h for h in server.connections if getattr(h, "transport", None) is not None]
        if len(live) < self.limit:
            return True
        for h in live:  # oldest first
            if _waiting_for_request(h):
                h.force_close()
                self.evicted += 1
                log.info("connection cap %d reached: closed an idle connection", self.limit)
                return True
        self.refused += 1
        log.warning("connection cap %d reached: refusing a connection", self.limit)
        return False


class _GuardedServer(web.Server):
    _ertcloud_guard: ConnectionGuard

    def __call__(self) -> Any:
        if not self._ertcloud_guard.admit(self):
            return _Busy()
        return super().__call__()


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records of each message (its format string) per ``window``
    seconds; the first one after a suppressed run says how many were left out."""

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
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
