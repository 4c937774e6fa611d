"""Live feeds built on a session: bars from an item's updates, stories from MRN."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ..bars import Bar, BarBuilder, parse_interval, tick_of
from ..news import BrokenStory, NewsStory, Reassembler

if TYPE_CHECKING:
    from .session import Session

__all__ = ["stream_bars", "stream_news"]

_BAR_FIELDS = ("TRDPRC_1", "TRDVOL_1", "BID", "ASK")


async def stream_bars(
    session: Session,
    rics: str | Sequence[str],
    interval: float | str,
    *,
    clock: Any = time.time,
) -> AsyncIterator[tuple[str, Bar]]:
    """``(ric, bar)`` for each interval of each item, as the intervals end.

    Ticks are stamped with the local receive time (``clock``), so they arrive in order;
    a bar is emitted when its interval is over even if no later tick came."""
    seconds = parse_interval(interval) if isinstance(interval, str) else interval
    names = [rics] if isinstance(rics, str) else list(rics)
    builders = {r: BarBuilder(seconds) for r in names}
    ready: asyncio.Queue[tuple[str, Bar]] = asyncio.Queue()

    def on_update(ev: Any) -> None:
        fields = ev.message.fields
        tick = tick_of(fields) if fields else None
        b = builders.get(ev.stream.name)
        if tick is None or b is None:
            return
        kind, x, y = tick
        now = clock()
        done = b.trade(now, x, y) if kind == "trade" else b.quote(now, x, y)
        for bar in done:
            ready.put_nowait((ev.stream.name, bar))

    sub = session.subscribe(names, fields=list(_BAR_FIELDS), on_update=on_update, queue=False)
    try:
        while True:
            try:
                yield await asyncio.wait_for(ready.get(), timeout=min(0.25, seconds))
                continue
            except asyncio.TimeoutError:
                pass
            now = clock()
            for ric, b in builders.items():
                for bar in b.close_until(now):
                    ready.put_nowait((ric, bar))
    finally:
        await sub.close()


async def stream_news(
    session: Session,
    item: str = "MRN_STORY",
    *,
    service: str | int | None = None,
    timeout: float = 30.0,
) -> AsyncIterator[NewsStory | BrokenStory]:
    """Stories of the MRN ``item`` as they complete (or break)."""
    asm = Reassembler(timeout=timeout)
    out: asyncio.Queue[NewsStory | BrokenStory] = asyncio.Queue()

    def on_update(ev: Any) -> None:
        fields = ev.message.fields
        if fields:
            for s in asm.feed(fields, time.monotonic()):
                out.put_nowait(s)

    sub = session.subscribe(
        item, domain="NewsTextAnalytics", service=service, on_update=on_update, queue=False
    )
    try:
        while True:
            try:
                yield await asyncio.wait_for(out.get(), timeout=1.0)
            except asyncio.TimeoutError:
                for s in asm.expire(time.monotonic()):
                    out.put_nowait(s)
                st = sub.streams[0]
                if not st.is_open:
                    from ..exceptions import ErtcloudError

                    why = st.state.text if st.state is not None else ""
                    raise ErtcloudError(f"news item {item} closed: {why}") from None
    finally:
        await sub.close()
