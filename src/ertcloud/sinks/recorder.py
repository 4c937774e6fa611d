"""Recording a session: every item message becomes a :class:`Row` with the next sequence
number and goes to the sinks through a :class:`SinkRunner`.

What the recording is missing is written into it too, as ``Status`` rows whose state text
starts with ``ertcloud:``: a lost connection (one row per item, ``Data: Suspect``, until
the Refresh that follows the reconnect) and a sequence gap on an item (``Data: Ok``, the
text says how many messages are missing)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client.integrity import SequenceGap
from ..client.session import Session
from ..client.subscription import Subscription
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated
from ..protocol.messages import Key, State, Status
from ..protocol.streams import ItemStream
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
    disconnects: int = 0
    #: sequence gaps seen on items, and the messages they are missing
    gaps: int = 0
    missing: int = 0
    #: Status rows written by the recorder itself (disconnects, gaps)
    gap_rows: int = 0
    last_message: float | None = None  # monotonic time of the last item message

    @property
    def messages(self) -> int:
        return self.refreshes + self.updates + self.statuses


class Recorder:
    """Subscribes items on a session and records every Refresh, Update and Status.

    ``seq`` continues after the highest one the sinks already hold, so re-running a
    recorder on the same store appends. ``runner_options`` go to the :class:`SinkRunner`
    (backlog and spill bounds, retry delays, ``close_timeout``)."""

    def __init__(
        self,
        session: Session,
        sinks: Sequence[Sink],
        *,
        batch_size: int = 2000,
        flush_interval: float = 0.5,
        max_queue: int = 200_000,
        bars: float | str | None = None,
        **runner_options: Any,
    ) -> None:
        self.session = session
        #: derived rows: stories of MRN items, and bars of ``bars`` length (see derive.py)
        self.derive = Deriver(bars)
        self.runner = SinkRunner(
            sinks,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            **runner_options,
        )
        self.stats = RecorderStats()
        self.subscription: Subscription | None = None
        self._seq = 0
        self._closing = False
        integrity = session.integrity
        user_cb = integrity.on_event

        def on_integrity(ev: Any) -> None:
            if isinstance(ev, SequenceGap):
                self._gap(ev)
            if user_cb is not None:
                user_cb(ev)

        integrity.on_event = on_integrity

    @property
    def next_seq(self) -> int:
        return self._seq + 1

    async def open(self, *, already_open: bool = False) -> None:
        """Open the sinks (before the session delivers anything)."""
        self._seq = await self.runner.open(already_open=already_open)

    def on_trace(self, kind: str, detail: Any) -> None:
        """Pass as (or call from) the session's ``trace`` to track the connection state."""
        if kind == "connected":
            self.stats.connected = True
            self.stats.connects += 1
        elif kind == "closed":
            was = self.stats.connected
            self.stats.connected = False
            if was and not self._closing:
                self.stats.disconnects += 1
                self._mark_all("Suspect", f"ertcloud: connection lost ({detail})")

    def _mark_all(self, data: str, text: str) -> None:
        sub = self.subscription
        for s in sub.streams if sub is not None else ():
            self._status_row(s, data, text)

    def _gap(self, ev: SequenceGap) -> None:
        self.stats.gaps += 1
        self.stats.missing += ev.missing
        if self._closing:
            return
        self._status_row(
            ev.stream,
            "Ok",
            f"ertcloud: sequence gap: {ev.missing} message(s) missing "
            f"(SeqNumber {ev.expected} expected, {ev.received} received)",
        )

    def _status_row(self, s: ItemStream, data: str, text: str) -> None:
        msg = Status(
            id=s.id,
            domain=None if s.domain == "MarketPrice" else s.domain,
            key=Key(name=s.name, service=s.service),
            state=State(stream="Open", data=data, code="None", text=text),
        )
        self._seq += 1
        self.stats.gap_rows += 1
        self.runner.submit(
            row_from_message(
                self._seq, time.time(), msg, ric=s.name, domain=s.domain, service=s.service
            )
        )

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
        self._closing = True
        if self.subscription is not None:
            await self.subscription.close()
        for d in self.derive.flush(self.next_seq):
            self._seq = d.seq
            self.runner.submit(d)
        await self.runner.close()
