"""The interface between :class:`~ertcloud.client.session.Session` and a WebSocket library.

A :class:`Transport` opens connections; a :class:`Connection` is one open WebSocket that
pushes every complete message to a synchronous handler (:meth:`Connection.run`). The
session has one read path for all of them. The adapters of this package:

* :class:`~ertcloud.client.transport_aiohttp.AiohttpTransport` (the default),
* :class:`~ertcloud.client.transport_picows.PicowsTransport` (the ``picows`` extra),
* :class:`~ertcloud.client.transport_memory.MemoryTransport` (no sockets: tests).

Any object with the same methods can be passed as ``Session(transport=...)``.

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

import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["ConnectOptions", "Connection", "FrameHandler", "Transport"]

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
