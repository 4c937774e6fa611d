"""Subscriptions: a group of item streams, consumed as an async iterator or by callbacks."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.streams import ItemStream

if TYPE_CHECKING:
    from .session import Session

__all__ = ["ItemEvent", "Subscription"]

ItemEvent = ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed
Callback = Callable[[Any], Any]


class Subscription:
    """Item streams opened by one :meth:`Session.subscribe` call.

    Iterate it (``async for event in sub``) to receive :class:`ItemRefreshed`,
    :class:`ItemUpdated`, :class:`ItemStatus` and :class:`StreamClosed` events, or pass
    ``on_refresh``/``on_update``/``on_status`` callbacks. ``records`` holds the live image
    of every item by name. Iteration ends when every stream has reached a final state
    (snapshots end after their refresh).
    """

    def __init__(
        self,
        session: Session,
        *,
        on_refresh: Callback | None = None,
        on_update: Callback | None = None,
        on_status: Callback | None = None,
        queue: bool = True,
        max_queue: int = 100_000,
    ) -> None:
        self._session = session
        self.streams: list[ItemStream] = []
        self.on_refresh = on_refresh
        self.on_update = on_update
        self.on_status = on_status
        self._queue: deque[ItemEvent] | None = deque() if queue else None
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        self._open = 0
        self.dropped = 0
        self.closed = False

    def _attach(self, streams: list[ItemStream]) -> None:
        self.streams.extend(streams)
        self._open += len(streams)
        for s in streams:
            s.user = self

    def _replace(self, old: ItemStream, new: ItemStream) -> None:
        self.streams[self.streams.index(old)] = new
        new.user = self
        self._open += 1

    @property
    def records(self) -> dict[str, ItemStream]:
        """The streams by item name (the latest one if a name appears twice)."""
        return {s.name: s for s in self.streams}

    def _deliver(self, event: ItemEvent) -> None:
        t = type(event)
        cb = (
            self.on_update
            if t is ItemUpdated
            else self.on_refresh
            if t is ItemRefreshed
            else self.on_status
        )
        if cb is not None:
            cb(event)
        if t is StreamClosed:
            self._open -= 1
        q = self._queue
        if q is not None:
            if len(q) >= self._max_queue:
                q.popleft()
                self.dropped += 1
            q.append(event)
            self._wakeup.set()
        elif self._open <= 0:
            self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ItemEvent:
        q = self._queue
        if q is None:
            raise TypeError("this subscription was made with queue=False; use callbacks")
        while not q:
            if self._open <= 0 or self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return q.popleft()

    async def wait_complete(self, timeout: float | None = None) -> None:
        """Wait until every stream has its full image (or has ended)."""

        async def _wait() -> None:
            while any(s.is_open and s.refreshes == 0 for s in self.streams):
                self._wakeup.clear()
                await self._wakeup.wait()

        await asyncio.wait_for(_wait(), timeout)

    async def close(self) -> None:
        """Close every stream of this subscription (a batch Close on the wire)."""
        if self.closed:
            return
        self.closed = True
        self._session._close_streams([s for s in self.streams if s.is_open])
        self._open = 0
        self._wakeup.set()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
