"""OHLC bars from ticks: open, high, low, close, volume and VWAP per time interval.

No I/O. :class:`BarBuilder` takes trades (price, size) and quotes (bid, ask) with their
timestamps and emits one :class:`Bar` per interval that saw a tick.

Rules:

* Bars are aligned on the epoch: with a 1 minute interval a bar covers
  ``[hh:mm:00, hh:mm+1:00)``; a tick exactly on a boundary opens the next bar.
* A bar is built from its trades; a bar with no trade (a record that only quotes, such as
  FX) is built from the quote midpoints ``(bid + ask) / 2``, with volume 0 and no VWAP.
* Out-of-order ticks inside the open bar are merged: high, low, volume and VWAP do not
  depend on order; open is the tick with the earliest timestamp, close the one with the
  latest (ties: arrival order).
* A late tick, older than the open bar, is dropped and counted in :attr:`BarBuilder.late`:
  a bar, once emitted, never changes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigError, RecordingError

__all__ = ["Bar", "BarBuilder", "bars_frame", "parse_interval", "tick_of"]

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "t": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.IGNORECASE)


def parse_interval(text: str) -> float:
    """Seconds in an interval such as ``1s``, ``1m``, ``5min``, ``1h``, ``1d``.

    Raises ``ValueError`` with a one-line message for anything else (``7x``)."""
    m = _INTERVAL.match(text)
    word = m.group(2).lower() if m else ""
    unit = _UNITS.get(word)
    if unit is None and len(word) > 2 and word.endswith("s"):
        unit = _UNITS.get(word[:-1])  # plurals: mins, hours
    if m is None or unit is None:
        raise ConfigError(
            f"invalid interval {text!r}: use a number and a unit s, m (min), h or d, e.g. 1m"
        )
    n = float(m.group(1) or 1)
    if n <= 0 or not math.isfinite(n):
        raise ConfigError(f"invalid interval {text!r}: it must be positive")
    return n * unit


@dataclass
class _Side:
    """Running OHLC of one kind of tick (trades or midpoints) in a bar."""

    open: float = math.nan
    high: float = -math.inf
    low: float = math.inf
    close: float = math.nan
    first_ts: float = math.inf
    last_ts: float = -math.inf
    count: int = 0

    def add(self, ts: float, price: float) -> None:
        if ts < self.first_ts:
            self.first_ts, self.open = ts, price
        if ts >= self.last_ts:
            self.last_ts, self.close = ts, price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.count += 1


@dataclass(frozen=True)
class Bar:
    """One interval's bar; ``start``/``end`` in epoch seconds (UTC), ``end`` exclusive.

    ``source`` is ``"trade"`` or ``"quote"`` (midpoints, volume 0, ``vwap`` None)."""

    start: float
    end: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    count: int
    source: str

    def as_row(self, ric: str) -> dict[str, Any]:
        """A flat row (``ric``, ``start``, ``end``, OHLC, volume, vwap, count, source)."""
        return {"ric": ric, **self.__dict__}


@dataclass
class _Open:
    start: float
    trades: _Side = field(default_factory=_Side)
    quotes: _Side = field(default_factory=_Side)
    volume: float = 0.0
    notional: float = 0.0


class BarBuilder:
    """Bars of one instrument at a fixed ``interval`` (seconds, or text like ``"1m"``)."""

    def __init__(self, interval: float | str) -> None:
        self.interval = parse_interval(interval) if isinstance(interval, str) else interval
        if not self.interval > 0:
            raise ConfigError("the interval must be positive")
        self._bar: _Open | None = None
        #: ticks dropped because their bar was already emitted
        self.late = 0

    def _start_of(self, ts: float) -> float:
        return math.floor(ts / self.interval) * self.interval

    def _route(self, ts: float) -> tuple[_Open | None, list[Bar]]:
        start = self._start_of(ts)
        out: list[Bar] = []
        bar = self._bar
        if bar is not None and start < bar.start:
            self.late += 1
            return None, out
        if bar is not None and start > bar.start:
            done = self._emit(bar)
            if done is not None:
                out.append(done)
            bar = None
        if bar is None:
            bar = self._bar = _Open(start)
        return bar, out

    def trade(self, ts: float, price: float, size: float) -> list[Bar]:
        """Add a trade; returns the bars this tick closed (zero or one)."""
        bar, out = self._route(ts)
        if bar is not None:
            bar.trades.add(ts, price)
            bar.volume += size
            bar.notional += price * size
        return out

    def quote(self, ts: float, bid: float, ask: float) -> list[Bar]:
        """Add a quote (its midpoint counts only in bars without trades)."""
        bar, out = self._route(ts)
        if bar is not None:
            bar.quotes.add(ts, round((bid + ask) / 2, 10))
        return out

    def close_until(self, now: float) -> list[Bar]:
        """Emit the open bar if its interval ended by ``now`` (for a live clock)."""
        bar = self._bar
        if bar is None or now < bar.start + self.interval:
            return []
        return self.flush()

    def flush(self) -> list[Bar]:
        """Emit the open bar, whatever the time (end of input)."""
        bar, self._bar = self._bar, None
        done = self._emit(bar) if bar is not None else None
        return [done] if done is not None else []

    def _emit(self, b: _Open) -> Bar | None:
        end = b.start + self.interval
        t = b.trades
        if t.count:
            vwap = b.notional / b.volume if b.volume > 0 else None
            return Bar(
                b.start, end, t.open, t.high, t.low, t.close, b.volume, vwap, t.count, "trade"
            )
        q = b.quotes
        if q.count:
            return Bar(b.start, end, q.open, q.high, q.low, q.close, 0.0, None, q.count, "quote")
        return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and f > 0 else None


def tick_of(fields: dict[str, Any]) -> tuple[str, float, float] | None:
    """What an update's fields say for bars: ``("trade", price, size)`` when it carries
    ``TRDPRC_1`` and ``TRDVOL_1``, ``("quote", bid, ask)`` when it carries both ``BID``
    and ``ASK``; None otherwise."""
    price, size = _num(fields.get("TRDPRC_1")), _num(fields.get("TRDVOL_1"))
    if price is not None and size is not None:
        return "trade", price, size
    bid, ask = _num(fields.get("BID")), _num(fields.get("ASK"))
    if bid is not None and ask is not None:
        return "quote", bid, ask
    return None


def _epoch(ts: Any) -> float:
    """Seconds since the epoch of a recording's ``ts`` (a number, or a timestamp as
    :func:`ertcloud.sinks.load` returns it)."""
    stamp = getattr(ts, "timestamp", None)
    return float(stamp()) if callable(stamp) else float(ts)


def bars_frame(df: Any, interval: float | str) -> Any:
    """Bars of a recording as a pandas DataFrame, one row per (ric, interval).

    ``df`` is a recording loaded with :func:`ertcloud.sinks.load`: the ``trades`` table
    (``ts``, ``ric``, ``price``, ``size``), the ``quotes`` table (``bid``, ``ask``) or the
    ``messages`` table (``fields`` of each update). Rows are taken in ``ts`` order, so late
    ticks do not arise; quotes count only in bars without trades."""
    import pandas as pd

    builders: dict[str, BarBuilder] = {}
    rows: list[dict[str, Any]] = []
    cols = set(df.columns)
    sort = df.sort_values("ts", kind="stable") if "ts" in cols else df

    def add(ric: str, ts: float, tick: tuple[str, float, float] | None) -> None:
        if tick is None:
            return
        b = builders.get(ric)
        if b is None:
            b = builders[ric] = BarBuilder(interval)
        kind, x, y = tick
        done = b.trade(ts, x, y) if kind == "trade" else b.quote(ts, x, y)
        rows.extend(bar.as_row(ric) for bar in done)

    if {"price", "size"} <= cols:
        for ric, ts, p, s in zip(sort["ric"], sort["ts"], sort["price"], sort["size"], strict=True):
            add(str(ric), _epoch(ts), tick_of({"TRDPRC_1": p, "TRDVOL_1": s}))
    elif {"bid", "ask"} <= cols:
        for ric, ts, b_, a_ in zip(sort["ric"], sort["ts"], sort["bid"], sort["ask"], strict=True):
            add(str(ric), _epoch(ts), tick_of({"BID": b_, "ASK": a_}))
    elif {"fields", "ric", "ts"} <= cols:
        kinds = sort["kind"] if "kind" in cols else ["Update"] * len(sort)
        for ric, ts, f, k in zip(sort["ric"], sort["ts"], sort["fields"], kinds, strict=True):
            if k != "Update":
                continue  # a refresh repeats the last trade
            if isinstance(f, str):
                import json

                f = json.loads(f)
            if isinstance(f, dict) and ric is not None:
                add(str(ric), _epoch(ts), tick_of(f))
    else:
        raise RecordingError("bars need a trades, quotes or messages table of a recording")
    for ric, b in builders.items():
        rows.extend(bar.as_row(ric) for bar in b.flush())
    names = ["ric", "start", "end", "open", "high", "low", "close", "volume", "vwap", "count"]
    out = pd.DataFrame.from_records(rows, columns=[*names, "source"])
    return out.sort_values(["ric", "start"], kind="stable").reset_index(drop=True)
