"""A transport with no sockets: the session talks to a peer object in the same process.

For tests. The peer is made by ``accept(send, close)`` for each connection; it gets the
client's messages through ``await peer.receive(data)`` and is told of a client-side close
through ``await peer.drop()``. The simulator's per-connection session fits as it is::

    transport = MemoryTransport(lambda send, close: sim.streaming.connect(send, close, "mem"))
    async with Session("memory://sim", transport=transport) as session: ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..exceptions import ConnectFailed, LimitExceeded
from .transport import ConnectOptions, FrameHandler

__all__ = ["MemoryConnection", "MemoryPeer", "MemoryTransport"]

Send = Callable[[bytes], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


class MemoryPeer(Protocol):
    """The server side of one in-memory connection."""

    async def receive(self, data: bytes) -> None: ...

    async def drop(self) -> None: ...


class MemoryConnection:
    """One in-memory WebSocket; the peer's messages are queued until :meth:`run`."""

    def __init__(self, max_message_size: int, subprotocol: str | None) -> None:
        self.max_message_size = max_message_size
        self._subprotocol = subprotocol
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reading = asyncio.Event()
        self._reading.set()
        self._closed = False
        self.peer: MemoryPeer | None = None

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def closed(self) -> bool:
        return self._closed

    async def push(self, data: bytes) -> None:
        """The peer sends ``data`` to the client."""
        if not self._closed:
            self._inbox.put_nowait(data)

    async def hang_up(self) -> None:
        """The peer closes the connection."""
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(None)

    async def send(self, data: bytes) -> None:
        if self._closed or self.peer is None:
            raise ConnectionError("WebSocket is closed")
        await self.peer.receive(data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reading.set()
        self._inbox.put_nowait(None)
        if self.peer is not None:
            try:
                await self.peer.drop()
            except Exception:  # the peer's trouble, not the client's
                pass

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    async def run(self, on_frame: FrameHandler) -> None:
        while True:
            await self._reading.wait()
            data = await self._inbox.get()
            if data is None:
                return
            if len(data) > self.max_message_size:
                self._closed = True
                raise LimitExceeded(
                    f"message larger than max_message_size ({self.max_message_size}): "
                    f"{len(data)} bytes",
                    limit=self.max_message_size,
                )
            on_frame(data)


class MemoryTransport:
    """Opens :class:`MemoryConnection` objects to peers made by ``accept(send, close)``."""

    def __init__(
        self, accept: Callable[[Send, Close], MemoryPeer], *, subprotocol: str = "tr_json2"
    ) -> None:
        self.accept = accept
        self.subprotocol = subprotocol
        #: every connection opened, the last one last
        self.connections: list[MemoryConnection] = []
        #: while True, connect() fails as a refused connection would
        self.refusing = False

    async def connect(self, url: str, options: ConnectOptions) -> MemoryConnection:
        if self.refusing:
            raise ConnectFailed(f"cannot connect to {url}: refused")
        if self.subprotocol not in options.protocols:
            raise ConnectFailed(f"{url} does not offer {self.subprotocol}")
        conn = MemoryConnection(options.max_message_size, self.subprotocol)
        conn.peer = self.accept(conn.push, conn.hang_up)
        self.connections.append(conn)
        return conn

    async def aclose(self) -> None:
        for conn in self.connections:
            await conn.close()
