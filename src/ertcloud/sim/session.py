"""The I/O around one simulated server connection: a send queue and its writer.

:class:`ClientSession` drives a :class:`~ertcloud.sim.connection.ServerConnection` (which
does all the protocol work and no I/O) for the aiohttp ``/WebSocket`` handler: it feeds
each received frame in, puts the frames that come out on this connection's own send queue,
and closes the socket when the connection asks for it. The queue keeps a slow client from
delaying the others (``ServerConfig.slow_consumer``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..protocol.messages import Generic
from . import bench
from .connection import ServerConnection, Stream

if TYPE_CHECKING:
    from .ads import StreamingServer

__all__ = ["ClientSession", "Closer", "Sender", "Stream"]

log = logging.getLogger("ertcloud.sim")

#: past this many times its bound, a connection's queue stops the server reading its
#: requests until it drains (a client that keeps asking while not reading)
_HARD_LIMIT_FACTOR = 4

Sender = Callable[[bytes], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]


class ClientSession(ServerConnection):
    """One WebSocket connection to the streaming server: the sans-I/O connection plus
    its send queue, writer task and socket close."""

    def __init__(self, server: StreamingServer, send: Sender, close: Closer, peer: str) -> None:
        super().__init__(server, peer)
        self._send = send
        self._close = close
        self.transport: asyncio.BaseTransport | None = None  # set by the HTTP layer
        # the send queue: frames packed and not yet written, drained by one writer task
        self._frames: deque[bytes] = deque()
        self._queued = 0
        self._writer: asyncio.Future[None] | None = None
        self._sending_since: float | None = None
        self._dropping = False
        self._room = asyncio.Event()  # set as the writer makes progress (see wait_room)

    @property
    def queued_bytes(self) -> int:
        """Bytes packed for this connection and not yet written to its socket."""
        return self._queued

    @property
    def congested(self) -> bool:
        """True while the send queue is over its bound (the client does not keep up)."""
        return self._queued > self.server.config.send_queue_bytes

    def stuck_for(self, now: float) -> float:
        """Seconds the writer has waited on one frame (0 when it is not blocked)."""
        return 0.0 if self._sending_since is None else now - self._sending_since

    async def write(self, frame: bytes) -> None:
        """Write one frame straight to the socket, past the send queue (bench mode)."""
        await self._send(frame)

    def request_close(self, delay: float = 0.0) -> None:
        first = self.close_after is None
        super().request_close(delay)
        if first:
            self.server.later(delay, self.drop)

    async def flush(self) -> None:
        """Pack what is queued into frames and hand them to this connection's writer.

        Never waits for the socket: a client that does not read only fills its own send
        queue, which the slow-consumer policy keeps bounded (``ServerConfig.slow_consumer``).
        """
        if not self.out or self.closed:
            self.out.clear()
            return
        congested = self.congested
        if (congested or self.holding) and self.server.config.slow_consumer == "disconnect":
            self.out.clear()
            self._slow_drop("send queue full")
            return
        for frame in self.data_to_send(congested):
            self._enqueue(frame)

    def _enqueue(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._queued += len(frame)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        """This connection's writer: the only place that waits on its socket."""
        limit = self.server.config.send_queue_bytes
        while self._frames and not self.closed:
            frame = self._frames.popleft()
            self._queued -= len(frame)
            self._sending_since = time.monotonic()
            try:
                await self._send(frame)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("send to %s failed: %s", self.peer, exc)
                self._frames.clear()
                self._queued = 0
                self._sending_since = None
                await self.drop()
                return
            self._sending_since = None
            self.last_out = time.monotonic()
            self._room.set()
            if self.holding and self._queued <= limit // 2:
                for released in self.release_held():
                    self._enqueue(released)

    async def wait_room(self) -> None:
        """Before reading the next request: wait while the send queue is over its hard
        limit, so a client cannot make it grow by asking while it does not read."""
        hard = self.server.config.send_queue_bytes * _HARD_LIMIT_FACTOR
        while self._queued > hard and not self.closed:
            self._room.clear()
            await self._room.wait()

    def stall_drop(self, now: float) -> None:
        """The writer has waited ``drain_timeout`` on one frame: the client stopped
        reading. Dropped whatever the policy, so it holds no resources forever."""
        self._slow_drop(f"no progress writing for {self.stuck_for(now):.1f} s")

    def _slow_drop(self, why: str) -> None:
        if self.closed or self._dropping:
            return
        self._dropping = True
        log.warning(
            "%s: slow consumer (%s, %d bytes queued): disconnecting", self.peer, why, self._queued
        )
        self.server.slow_disconnects += 1
        self._frames.clear()
        self._queued = 0
        self.discard_held()
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()  # a client that does not read would hold a graceful close
        self.server.later(0, self.drop)

    async def drop(self) -> None:
        """Close this connection (no JSON goodbye)."""
        if self.closed:
            return
        self.closed = True
        self._room.set()
        self.server.forget(self)
        writer = self._writer
        if writer is not None and not writer.done() and writer is not asyncio.current_task():
            writer.cancel()
        await self._close()

    async def receive(self, data: str | bytes) -> None:
        """Feed one received frame and queue the answers for the writer."""
        self.receive_data(data, time.monotonic())
        if self.close_after == 0:
            await self.drop()
            return
        await self.flush()
        await asyncio.sleep(0)  # let the writer send the answers before the next request

    def _generic(self, msg: Generic) -> None:
        if msg.domain == bench.BENCH_DOMAIN and msg.id == self.login_id:
            bench.handle(self.server, self, msg)  # high-rate bench mode (see sim/bench.py)
            return
        super()._generic(msg)
