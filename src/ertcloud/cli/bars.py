"""``ertcloud bars``: live OHLC bars (open, high, low, close, volume, VWAP) per interval.

    ertcloud bars TRI.N --interval 1m
    ertcloud bars TRI.N EUR= --interval 5s --count 10 --format jsonl

Bars come from trades (TRDPRC_1, TRDVOL_1); an interval without trades uses the quote
midpoints (volume 0). Intervals: 1s, 30s, 1m, 5m, 1h, 1d ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..bars import Bar, parse_interval
from ..exceptions import ConfigError
from .common import add_connection_options
from .follow import follow

if TYPE_CHECKING:
    from ..client.session import Session
from .options import description
from .shared_options import add_shared

__all__ = ["add_parser", "bar_line", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bars",
        help="live OHLC bars of items",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rics", nargs="+", metavar="RIC", help="items (comma lists allowed)")
    p.add_argument("--interval", default="1m", help="bar length: 1s, 1m, 5m, 1h ... (default 1m)")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")
    p.add_argument("--count", type=int, default=None, help="stop after this many bars")
    add_shared(p, "duration")
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


def bar_line(ric: str, b: Bar) -> str:
    """One table line: start time, RIC, OHLC, volume, VWAP, tick count, source."""
    start = time.strftime("%H:%M:%S", time.gmtime(b.start))
    vwap = f"{b.vwap:.6g}" if b.vwap is not None else "-"
    return (
        f"{start} {ric:<12} {b.open:>12.6g} {b.high:>12.6g} {b.low:>12.6g} {b.close:>12.6g} "
        f"{b.volume:>12.0f} {vwap:>12} {b.count:>6} {b.source}"
    )


async def run(a: argparse.Namespace) -> int:
    try:
        seconds = parse_interval(a.interval)
    except ValueError as exc:
        raise ConfigError(f"--interval: {exc}") from None
    rics = list(dict.fromkeys(r.strip() for s in a.rics for r in s.split(",") if r.strip()))
    cols = ("open", "high", "low", "close", "volume", "vwap")
    header = (
        f"{'start':<8} {'RIC':<12} "
        + " ".join(f"{c:>12}" for c in cols)
        + f" {'ticks':>6} source\n"
    )

    async def lines(session: Session) -> AsyncIterator[str | None]:
        async for ric, bar in session.bars(rics, seconds):
            yield json.dumps(bar.as_row(ric)) if a.format == "jsonl" else bar_line(ric, bar)

    return await follow(a, lines, header if a.format == "table" else "")
