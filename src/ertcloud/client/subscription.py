"""Subscriptions: a group of item streams, consumed as an async iterator or by callbacks.

The event queue of a subscription is bounded (``max_queue``). What happens when a consumer
falls behind is the ``overflow`` policy:

``"conflate"`` (the default)
    Keep at most one pending update per item: a new update for an item that already has
    an update waiting is merged into it (its fields overwrite the older values) and counted
    in :attr:`Subscription.conflated`. Refreshes, statuses and closes are never merged or
    dropped, so the queue holds at most ``max_queue`` events plus one per item, and the
    merged events still bring the consumer to the current image.
``"block"``
    Nothing is merged or dropped: the session stops reading the socket until the consumer
    has made room, pushing back onto the server (which may then conflate or disconnect a
    slow client, as the real service does). The queue may exceed ``max_queue`` by the
    messages of one frame (aiohttp transport) or of one socket read (picows).
``"drop_oldest"``
    The oldest queued event is discarded for each new one and counted in
    :attr:`Subscription.dropped`. Cheapest, but the consumer then misses data.

Each time the queue fills (an *overflow episode*) one warning is logged on
``ertcloud.client``; the episode ends when the consumer has drained the queue to half.
The cached images (``records``) are always current whatever the policy: only the queue of
events is bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ..exceptions import ConfigError, SessionClosed
from ..protocol.book import OrderBook
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.messages import Priority
from ..protocol.streams import ItemStream
from .deadline import within
from .integrity import LEARN_DELTAS, IntegrityMonitor, StreamHealth, _RareHealth
from .subscription_base import NO_QUEUE, BaseSubscription, Callback

if TYPE_CHECKING:
    from .session import Session

_fast_delivery: Any = None
try:
    from ..protocol import _speedups
except ImportError:  # the compiled core is not built
    pass
else:  # (a core built from older sources has none)
    _fast_delivery = getattr(_speedups, "fast_delivery", None)

__all__ = ["OVERFLOW_POLICIES", "ItemEvent", "Overflow", "Subscription"]

log = logging.getLogger("ertcloud.client")

ItemEvent = ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed
Overflow = Literal["conflate", "block", "drop_oldest"]
OVERFLOW_POLICIES: tuple[str, ...] = ("conflate", "block", "drop_oldest")


def _failed(message: str) -> None:
    """Log the exception being handled (a user callback's) with ``message``: the one place
    that logs it for an Update, whether the compiled core or ``deliver_update`` called it."""
    log.exception(message)


class _Slot:
    """A queued event; an update slot may absorb later updates of its item."""

    __slots__ = ("event", "live")

    def __init__(self, event: ItemEvent) -> None:
        self.event = event
        self.live = True


def _merge(old: ItemUpdated, new: ItemUpdated) -> ItemUpdated | None:
    """``new`` folded into ``old``; None when they cannot be merged (container payloads)."""
    a, b = old.message, new.message
    if a.map is not None or b.map is not None or a.do_not_cache or b.do_not_cache:
        return None
    merged = msgspec.structs.replace(b, fields={**(a.fields or {}), **(b.fields or {})})
    return ItemUpdated(new.stream, merged)


class Subscription(BaseSubscription):
    """Item streams opened by one :meth:`Session.subscribe` call.

    Iterate it (``async for event in sub``) to receive :class:`ItemRefreshed`,
    :class:`ItemUpdated`, :class:`ItemStatus` and :class:`StreamClosed` events, or pass
    ``on_refresh``/``on_update``/``on_status`` callbacks. ``records`` holds the live image
    of every item by name. Iteration ends when every stream has reached a final state
    (snapshots end after their refresh). The event queue is bounded: see the module
    documentation for the ``overflow`` policies and the ``conflated``/``dropped`` counters.
    """

    def __init__(
        self,
        session: Session,
        *,
        on_refresh: Callback | None = None,
        on_update: Callback | None = None,
        on_status: Callback | None = None,
        queue: bool = True,
        max_queue: int = 10_000,
        overflow: Overflow = "conflate",
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ConfigError(
                f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, not {overflow!r}"
            )
        if max_queue < 1:
            raise ConfigError("max_queue must be at least 1")
        self._session = session
        self.streams: list[ItemStream] = []
        self.on_refresh = on_refresh
        self.on_update = on_update
        self.on_status = on_status
        self._queue: deque[_Slot] | None = deque() if queue else None
        self._pending: dict[ItemStream, _Slot] = {}
        self.max_queue = max_queue
        self.overflow: Overflow = overflow
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._open = 0
        #: updates merged into a pending update of the same item ("conflate")
        self.conflated = 0
        #: events discarded unseen ("drop_oldest")
        self.dropped = 0
        #: times the queue filled up (each logged once)
        self.overflows = 0
        #: the most events the queue has held at once
        self.high_water = 0
        self._overflowing = False
        self.closed = False
        self._ended: BaseException | None = None  # set when the session has ended
        #: updates are held back here because the server cannot pause (SupportPauseResume 0)
        self.paused_locally = False
        self._sink = self.deliver_update  # one bound method shared by every stream

    def _attach(self, streams: list[ItemStream]) -> None:
        self.streams.extend(streams)
        self._open += len(streams)
        sink = self._sink
        for s in streams:
            s.owner = self
            s.deliver = sink

    def _replace(self, old: ItemStream, new: ItemStream) -> None:
        self.streams[self.streams.index(old)] = new
        new.owner = self
        new.deliver = self._sink

    def deliver_update(self, event: ItemUpdated) -> None:
        """The hot path: one update, straight from the protocol core (no event list)."""
        s = event.stream  # its health record is in its own slots (see StreamHealth)
        seq = event.seq_number  # the compiled core's event need not read its message for it
        if seq == s._h_next_seq and s._h_last_message is not None:  # the expected next one
            s._h_last_seq = seq
            s._h_next_seq = seq + (s._h_step or 0)
        else:
            self._session.integrity.observe(event)
        if not self.paused_locally:  # paused: the cache still follows, delivery waits
            cb = self.on_update
            if cb is not None:
                try:
                    cb(event)
                except Exception:
                    # A bug in user code must not take the connection (and every stream) down.
                    _failed("subscription callback failed on ItemUpdated")
            if self._queue is not None:
                self._enqueue(event, ItemUpdated)
            elif self._open <= 0:
                self._wakeup.set()
        on_event = self._session.on_event
        if on_event is not None:
            try:
                on_event(event)
            except Exception:
                _failed("on_event callback failed on ItemUpdated")

    @property
    def books(self) -> dict[str, OrderBook]:
        """Order books of the MarketByPrice / MarketByOrder items, by name."""
        return {s.name: OrderBook.from_map(s.map) for s in self.streams if s.map is not None}

    @property
    def records(self) -> dict[str, ItemStream]:
        """The streams by item name (the latest one if a name appears twice)."""
        return {s.name: s for s in self.streams}

    def record(self, name: str, *, raw: bool = False) -> dict[str, Any]:
        """The live image of item ``name``, its values typed by the session's field
        dictionary (``raw=True``: the JSON values as received). KeyError if unknown."""
        stream = self.records[name]
        if raw:
            return dict(stream.fields)
        return self._session.dictionary.typed(stream.fields)

    @property
    def pending(self) -> int:
        """Events waiting in the queue."""
        return len(self._queue) if self._queue is not None else 0

    @property
    def blocked(self) -> bool:
        """True while a ``"block"`` subscription holds the session's reader back."""
        return not self._room.is_set()

    async def wait_room(self) -> None:
        """Wait until a ``"block"`` subscription's queue has room again."""
        await self._room.wait()

    def deliver(self, event: ItemRefreshed | ItemStatus | StreamClosed) -> None:
        """Every other item event (updates take :meth:`deliver_update`)."""
        t = type(event)
        cb = self.on_refresh if t is ItemRefreshed else self.on_status
        if cb is not None:
            try:
                cb(event)
            except Exception:
                # A bug in user code must not take the connection (and every stream) down.
                log.exception("subscription callback failed on %s", type(event).__name__)
        if t is StreamClosed and event.state.stream != "ClosedRecover":  # type: ignore[union-attr]
            self._open -= 1  # a ClosedRecover stream is re-requested: it stays wanted
        if self._queue is None:
            self._wakeup.set()  # for wait_complete()
            return
        self._enqueue(event, t)

    def _enqueue(self, event: ItemEvent, t: type) -> None:
        q = self._queue
        assert q is not None
        if len(q) >= self.max_queue:
            if self._overflow(event):
                return
        slot = _Slot(event)
        q.append(slot)
        stream = event.stream
        if t is ItemUpdated:
            self._pending[stream] = slot
        else:
            # Later updates must not be merged across a refresh/status of the item.
            old = self._pending.pop(stream, None)
            if old is not None:
                old.live = False
        if len(q) > self.high_water:
            self.high_water = len(q)
        self._wakeup.set()

    def _overflow(self, event: ItemEvent) -> bool:
        """The queue is full: apply the policy. True if ``event`` was absorbed."""
        q = self._queue
        assert q is not None
        if not self._overflowing:
            self._overflowing = True
            self.overflows += 1
            log.warning(
                "subscription queue full (%d events; policy %s): the consumer is too slow "
                "(conflated so far %d, dropped %d)",
                len(q),
                self.overflow,
                self.conflated,
                self.dropped,
            )
        if self.overflow == "conflate":
            if type(event) is ItemUpdated:
                slot = self._pending.get(event.stream)
                if slot is not None and slot.live:
                    pending = slot.event
                    assert type(pending) is ItemUpdated
                    merged = _merge(pending, event)
                    if merged is not None:
                        slot.event = merged
                        self.conflated += 1
                        return True
        elif self.overflow == "drop_oldest":
            old = q.popleft()
            old.live = False
            if self._pending.get(old.event.stream) is old:
                del self._pending[old.event.stream]
            self.dropped += 1
        else:
            self._room.clear()
            self._session._blocked.add(self)  # the session's reader waits for room
        return False

    async def __anext__(self) -> ItemEvent:
        q = self._queue
        if q is None:
            raise TypeError(NO_QUEUE)
        while not q:
            if self._ended is not None:
                raise self._ended
            if self._open <= 0 or self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        slot = q.popleft()
        slot.live = False
        event = slot.event
        if self._pending.get(event.stream) is slot:
            del self._pending[event.stream]
        if self._overflowing and len(q) <= self.max_queue // 2:
            self._overflowing = False
            if not self._room.is_set():
                self._room.set()
            log.info(
                "subscription queue drained (conflated %d, dropped %d so far)",
                self.conflated,
                self.dropped,
            )
        elif not self._room.is_set() and len(q) < self.max_queue:
            self._room.set()
        return event

    async def wait_complete(self, timeout: float | None = None) -> None:
        """Wait until every stream has its full image (or has ended)."""

        async def _wait() -> None:
            while any(s.is_open and s.refreshes == 0 for s in self.streams):
                if self._ended is not None:
                    raise SessionClosed("session ended before every image came")
                self._wakeup.clear()
                await self._wakeup.wait()

        await within(_wait(), timeout, "not every image came")

    def pause(self) -> None:
        """Stop delivering updates. Where the server supports it, a reissue with
        ``Pause: true`` stops them at the source; otherwise (``SupportPauseResume: 0``,
        as on RTO) they are held back locally while the cached images keep following."""
        if self._session.protocol.login.supports("PauseResume"):
            self._reissue(pause=True, refresh=False)
        else:
            self.paused_locally = True

    def resume(self) -> None:
        """Resume delivery; a fresh Refresh of every stream follows."""
        self.paused_locally = False
        self._reissue(pause=None, refresh=None)

    def change(
        self, *, fields: Sequence[str | int] | None = None, priority: Priority | None = None
    ) -> None:
        """Change the view (a new Refresh follows) or the priority (no reply) of the streams."""
        if fields is not None:
            self._reissue(view=list(fields), refresh=None)
        if priority is not None:
            self._reissue(priority=priority, refresh=False)

    def _reissue(self, **changes: Any) -> None:
        for s in self.streams:
            if s.is_open and s.streaming:
                self._session.protocol.reissue(s, **changes)
        self._session.flush_soon()

    def _session_ended(self, fatal: BaseException | None) -> None:
        """The session is over: queued events can still be read, then iteration stops
        (or raises the session's fatal error)."""
        if self._ended is None:
            self._ended = fatal if fatal is not None else StopAsyncIteration()
        self._room.set()
        self._wakeup.set()

    async def close(self) -> None:
        """Close every stream of this subscription (a batch Close on the wire)."""
        if self.closed:
            return
        self.closed = True
        self._session.unsubscribe([s for s in self.streams if s.is_open])
        self._open = 0
        self._room.set()
        self._wakeup.set()

    def close_items(self, names: Sequence[str]) -> None:
        """Close the streams of these items (a batch Close); the others stay open."""
        records = self.records
        wanted = (records.get(n) for n in dict.fromkeys(names))
        streams = [s for s in wanted if s is not None and s.is_open]
        if streams and not self._session.closing:
            self._session.unsubscribe(streams)

    async def __aenter__(self) -> Subscription:
        return self


if _fast_delivery is not None:
    # deliver_update's common case then runs in the compiled core, as it would here
    try:
        _fast_delivery(Subscription.deliver_update, StreamHealth, _failed)
    except TypeError:  # the health is not slotted as the core reads it: all stays here
        pass
    else:
        # and an Update that goes back in sequence, counted as IntegrityMonitor.observe does
        _fast_reordering = getattr(_speedups, "fast_reordering", None)
        if _fast_reordering is not None:
            _fast_reordering(IntegrityMonitor, _RareHealth, LEARN_DELTAS)
