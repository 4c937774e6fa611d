"""The interface between :class:`~ertcloud.client.session.Session` and a WebSocket library.

A :class:`Transport` opens connections; a :class:`Connection` is one open WebSocket that
pushes every complete message to a synchronous handler (:meth:`Connection.run`). The
session has one read path for all of them. The adapters of this package:

* :class:`~ertcloud.client.transport_picows.PicowsTransport` (the data path: the default
  wherever picows is installed, a dependency on CPython x86_64 and aarch64),
* :class:`~ertcloud.client.transport_aiohttp.AiohttpTransport` (the fallback, and what
  permessage-deflate or a caller's own ``aiohttp.ClientSession`` needs),
* :class:`~ertcloud.client.transport_memory.MemoryTransport` (no sockets: tests).

``Session(transport=...)`` takes "auto" (the default: see :func:`pick_transport`),
"picows", "aiohttp", or any object with the methods of :class:`Transport`.

What every adapter guarantees:

* :meth:`Transport.connect` raises :class:`~ertcloud.exceptions.ConnectFailed` when no
  WebSocket could be opened (refused, TLS, handshake, timeout);
* a message over ``max_message_size`` bytes, all its fragments together, ends the
  connection and :meth:`Connection.run` raises :class:`~ertcloud.exceptions.LimitExceeded`;
* what the handler raises ends the connection and is re-raised by :meth:`Connection.run`;
* :meth:`Connection.send` raises :class:`ConnectionError` when the connection is gone;
* :meth:`Connection.close` never raises.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol

from ..exceptions import ConfigError

__all__ = [
    "NAMES",
    "ConnectOptions",
    "Connection",
    "FrameHandler",
    "Transport",
    "http_status",
    "pick_transport",
]

log = logging.getLogger("ertcloud.client")

#: the transports a session can be asked for by name
NAMES = ("auto", "picows", "aiohttp")

#: Called with each complete TEXT/BINARY message; a view is valid only during the call.
FrameHandler = Callable[[bytes | memoryview], None]


@dataclass(frozen=True)
class ConnectOptions:
    """What the session asks of a new connection."""

    protocols: Sequence[str]
    #: largest message accepted, fragments included (bytes)
    max_message_size: int
    #: TLS: a context, False (do not verify), True/None (verify with the defaults)
    ssl: ssl.SSLContext | bool | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: handshake timeout (seconds)
    timeout: float = 10.0
    #: offer permessage-deflate where the adapter supports it
    compression: bool = False
    #: HTTP proxy URL to connect through (resolved: see :mod:`ertcloud.proxy`), or None
    proxy: str | None = None


class Connection(Protocol):
    """One open WebSocket."""

    @property
    def subprotocol(self) -> str | None:
        """The sub-protocol the server accepted."""

    @property
    def closed(self) -> bool: ...

    async def send(self, data: bytes) -> None:
        """Write one TEXT message."""

    async def close(self) -> None:
        """Close the connection (and end :meth:`run`); never raises."""

    def pause_reading(self) -> None:
        """Stop reading the socket (back-pressure); messages already read may still come."""

    def resume_reading(self) -> None: ...

    async def run(self, on_frame: FrameHandler) -> None:
        """Push every message to ``on_frame`` until the connection ends."""


class Transport(Protocol):
    """Opens connections for a session (one at a time, again after each loss)."""

    async def connect(self, url: str, options: ConnectOptions) -> Connection: ...

    async def aclose(self) -> None:
        """Release what the transport holds (called once, when the session ends)."""


def pick_transport(name: str = "auto", *, aiohttp_only: str | None = None) -> str:
    """The built-in transport ``name`` stands for: "picows" or "aiohttp". "auto" is picows
    when it can be imported, else aiohttp; with ``aiohttp_only`` (what the caller asked for
    that only aiohttp does, e.g. "permessage-deflate"), "auto" is aiohttp. Raises
    :class:`~ertcloud.exceptions.ConfigError` for an unknown name, or for "picows" when it
    is not installed."""
    if name not in NAMES:
        raise ConfigError(f"unknown transport {name!r}: use auto, picows or aiohttp")
    if name == "aiohttp":
        return name
    if name == "auto" and aiohttp_only is not None:
        log.debug("transport auto: aiohttp, for %s", aiohttp_only)
        return "aiohttp"
    try:
        import picows  # noqa: F401
    except ImportError:
        if name == "picows":
            raise ConfigError("transport='picows' needs: pip install 'ertcloud[picows]'") from None
        return "aiohttp"
    return "picows"


def http_status(status: int, text: str = "") -> str:
    """``HTTP 503 Service Unavailable``: how every adapter words a refused WebSocket
    handshake (``text`` when the status has no standard reason phrase)."""
    try:
        text = HTTPStatus(status).phrase
    except ValueError:
        pass
    return f"HTTP {status} {text}".rstrip()
