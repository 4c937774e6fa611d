"""Rows a recorder derives from the messages: reassembled MRN stories (kind ``Story``,
the ``news`` table) and OHLC bars (kind ``Bar``, the ``bars`` table).

A bar is written once a tick of a later interval arrives, and at the end of the
recording; ticks are stamped with their receive time.
"""

from __future__ import annotations

import json
from typing import Any

from ..bars import BarBuilder, parse_interval, tick_of
from ..news import NewsStory, Reassembler
from .rows import Row

__all__ = ["Deriver"]


class Deriver:
    """Turns recorded Update rows into derived rows (``bars``: bar length, or None)."""

    def __init__(self, bars: float | str | None = None) -> None:
        self.interval = parse_interval(bars) if isinstance(bars, str) else bars
        self._bars: dict[str, BarBuilder] = {}
        self._news = Reassembler()

    def _row(self, seq: int, ts: float, kind: str, ric: str, fields: dict[str, Any]) -> Row:
        return Row(seq, ts, kind, "Derived", ric, None, None, fields, json.dumps(fields))

    def feed(self, row: Row, seq: int) -> list[Row]:
        """Derived rows after ``row``, numbered from ``seq``."""
        out: list[Row] = []
        f = row.fields
        if not f:
            return out
        if row.domain == "NewsTextAnalytics":
            for st in self._news.feed(f, row.ts):
                if isinstance(st, NewsStory):
                    out.append(self._row(seq + len(out), row.ts, "Story", row.ric, st.as_row()))
        elif self.interval is not None and row.domain == "MarketPrice":
            tick = tick_of(f)
            if tick is not None:
                b = self._bars.get(row.ric)
                if b is None:
                    b = self._bars[row.ric] = BarBuilder(self.interval)
                kind, x, y = tick
                done = b.trade(row.ts, x, y) if kind == "trade" else b.quote(row.ts, x, y)
                for bar in done:
                    out.append(
                        self._row(seq + len(out), row.ts, "Bar", row.ric, bar.as_row(row.ric))
                    )
        return out

    def flush(self, seq: int) -> list[Row]:
        """The bars still open (end of the recording)."""
        import time

        out: list[Row] = []
        for ric, b in self._bars.items():
            for bar in b.flush():
                out.append(self._row(seq + len(out), time.time(), "Bar", ric, bar.as_row(ric)))
        return out
