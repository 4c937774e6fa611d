"""A small synchronous facade for scripts and notebooks.

The asyncio session runs on an event loop in a background thread; calls block until
done::

    from ertcloud.sync import connect
    with connect(url, token_url=..., user=..., password=..., client_id=...) as session:
        sub = session.subscribe(["TRI.N", "EUR="], fields=["BID", "ASK"])
        for event in sub.events(limit=10):
            print(event.stream.name, event.stream.fields)
        print(session.snapshot())   # the live image of every item, one row per RIC
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from .client.api import connect as async_connect
from .client.session import Session
from .client.subscription import ItemEvent, Subscription
from .protocol.streams import ItemStream

__all__ = ["SyncSession", "SyncSubscription", "connect"]

T = TypeVar("T")


class SyncSubscription:
    """A subscription whose events land in a thread-safe queue."""

    def __init__(self, owner: SyncSession, sub: Subscription, q: queue.Queue[ItemEvent]) -> None:
        self._owner = owner
        self._sub = sub
        self._queue = q

    @property
    def records(self) -> dict[str, ItemStream]:
        return self._sub.records

    def events(self, limit: int | None = None, timeout: float | None = 30.0) -> Iterator[ItemEvent]:
        """Yield events as they come (at most ``limit``; stop after ``timeout`` s of silence)."""
        n = 0
        while limit is None or n < limit:
            try:
                yield self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            n += 1

    def wait_complete(self, timeout: float | None = 30.0) -> SyncSubscription:
        """Block until every item has its full image (or has ended); returns itself."""
        self._owner._call(self._sub.wait_complete(timeout), None)
        return self

    def close(self) -> None:
        self._owner._call(self._sub.close())


class SyncSession:
    """A :class:`~ertcloud.client.session.Session` driven from a background thread."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="ertcloud")
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> SyncSession:
        self._call(self._session.start())
        return self

    def subscribe(self, rics: str | Sequence[str], **options: Any) -> SyncSubscription:
        """Like :meth:`Session.subscribe`; events are queued for :meth:`SyncSubscription.events`."""
        q: queue.Queue[ItemEvent] = queue.Queue()

        async def _subscribe() -> Subscription:
            return self._session.subscribe(
                rics, on_refresh=q.put, on_update=q.put, on_status=q.put, **options
            )

        return SyncSubscription(self, self._call(_subscribe()), q)

    def snapshot(self, kind: str = "pandas") -> Any:
        """Like :meth:`Session.snapshot`: the latest image of every open item as a
        DataFrame, one row per RIC (taken on the session's thread, so it is consistent)."""

        async def _snapshot() -> Any:
            return self._session.snapshot(kind)

        return self._call(_snapshot())

    def close(self) -> None:
        try:
            self._call(self._session.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> SyncSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str | Sequence[str] | None = None, **options: Any) -> SyncSession:
    """Same arguments as :func:`ertcloud.connect`; use as ``with connect(...) as session``."""
    return SyncSession(async_connect(url, **options))
