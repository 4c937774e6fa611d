"""Recording a session: every item message becomes a :class:`Row` with the next sequence
number and goes to the sinks through a :class:`SinkRunner`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client.session import Session
from ..client.subscription import Subscription
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated
from .base import Sink
from .derive import Deriver
from .rows import row_from_message
from .runner import SinkRunner

__all__ = ["Recorder", "RecorderStats"]


@dataclass
class RecorderStats:
    """What a recorder has seen so far (progress lines, /health, /metrics)."""

    started: float = field(default_factory=time.monotonic)
    refreshes: int = 0
    updates: int = 0
    statuses: int = 0
    connected: bool = False
    connects: int = 0
    last_message: float | None = None  # monotonic time of the last item message

    @property
    def messages(self) -> int:
        return self.refreshes + self.updates + self.statuses


class Recorder:
    """Subscribes items on a session and records every Refresh, Update and Status.

    ``seq`` continues after the highest one the sinks already hold, so re-running a
    recorder on the same store appends."""

    def __init__(
        self,
        session: Session,
        sinks: Sequence[Sink],
        *,
        batch_size: int = 2000,
        flush_interval: float = 1.0,
        max_queue: int = 200_000,
        bars: float | str | None = None,
    ) -> None:
        self.session = session
        #: derived rows: stories of MRN items, and bars of ``bars`` length (see derive.py)
        self.derive = Deriver(bars)
        self.runner = SinkRunner(
            sinks, batch_size=batch_size, flush_interval=flush_interval, max_queue=max_queue
        )
        self.stats = RecorderStats()
        self.subscription: Subscription | None = None
        self._seq = 0

    @property
    def next_seq(self) -> int:
        return self._seq + 1

    async def open(self) -> None:
        """Open the sinks (before the session delivers anything)."""
        self._seq = await self.runner.open()

    def on_trace(self, kind: str, detail: Any) -> None:
        """Pass as (or call from) the session's ``trace`` to track the connection state."""
        if kind == "connected":
            self.stats.connected = True
            self.stats.connects += 1
        elif kind == "closed":
            self.stats.connected = False

    def subscribe(
        self,
        rics: Sequence[str],
        *,
        fields: Sequence[str] | None = None,
        domain: str = "MarketPrice",
        service: str | int | None = None,
    ) -> Subscription:
        self.subscription = self.session.subscribe(
            list(rics),
            fields=fields,
            domain=domain,
            service=service,
            on_refresh=self._record,
            on_update=self._record,
            on_status=self._record,
            queue=False,
        )
        return self.subscription

    def _record(self, ev: Any) -> None:
        t = type(ev)
        st = self.stats
        if t is ItemUpdated:
            st.updates += 1
        elif t is ItemRefreshed:
            st.refreshes += 1
        elif t is ItemStatus:
            st.statuses += 1
        else:
            return  # StreamClosed: its Status was already recorded
        st.last_message = time.monotonic()
        self._seq += 1
        s = ev.stream
        row = row_from_message(
            self._seq, time.time(), ev.message, ric=s.name, domain=s.domain, service=s.service
        )
        self.runner.submit(row)
        if t is ItemUpdated:
            for d in self.derive.feed(row, self.next_seq):
                self._seq = d.seq
                self.runner.submit(d)

    @property
    def items(self) -> tuple[int, int]:
        """(items with data, items subscribed)."""
        sub = self.subscription
        if sub is None:
            return 0, 0
        return sum(1 for s in sub.streams if s.refreshes > 0), len(sub.streams)

    async def close(self) -> None:
        """Close the streams, then write, flush and close every sink."""
        if self.subscription is not None:
            await self.subscription.close()
        for d in self.derive.flush(self.next_seq):
            self._seq = d.seq
            self.runner.submit(d)
        await self.runner.close()
