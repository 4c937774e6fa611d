"""``ertcloud subscribe``: stream items to the terminal as pretty JSON, JSON lines or a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from ..client.subscription import Subscription
from ..protocol import codec
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.streams import ItemStream
from .common import add_connection_options, open_session
from .market_price import _install_signals
from .output import pretty

__all__ = ["add_parser", "event_record"]

DEFAULT_TABLE_FIELDS = ("BID", "ASK", "BIDSIZE", "ASKSIZE", "TRDPRC_1", "ACVOL_1")
Event = ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed


def event_record(ev: Event) -> dict[str, Any]:
    """A flat JSON-able record of an event (the ``jsonl`` format)."""
    s = ev.stream
    rec: dict[str, Any] = {"ts": round(time.time(), 6), "ric": s.name, "id": s.id}
    if isinstance(ev, StreamClosed):
        rec["event"] = "closed"
        rec["state"] = codec.to_builtins(ev.state)
        return rec
    msg = ev.message
    rec["event"] = type(msg).__name__.lower()
    if s.domain != "MarketPrice":
        rec["domain"] = s.domain
    body = codec.to_builtins(msg)
    for key, name in _RECORD_KEYS:
        if key in body:
            rec[name] = body[key]
    return rec


_RECORD_KEYS = (
    ("UpdateType", "update_type"),
    ("SeqNumber", "seq"),
    ("State", "state"),
    ("Fields", "fields"),
    ("Map", "map"),
    ("Vector", "vector"),
    ("Elements", "elements"),
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "subscribe", help="stream items: pretty JSON, JSON lines or a table", description=__doc__
    )
    p.add_argument("rics", nargs="+", metavar="RIC", help="items (comma lists allowed)")
    p.add_argument("--fields", default=None, help="view: comma-separated field names or FIDs")
    p.add_argument(
        "--domain",
        default="MarketPrice",
        help="MarketPrice (default), MarketByPrice, MarketByOrder, MarketMaker, "
        "SymbolList, YieldCurve ...",
    )
    p.add_argument("--service", default=None, help="service name or id")
    p.add_argument("--snapshot", action="store_true", help="one image per item, then exit")
    p.add_argument("--private", action="store_true", help="private streams")
    p.add_argument("--format", choices=("pretty", "jsonl", "table"), default="pretty")
    p.add_argument("--count", type=int, default=None, help="stop after this many events")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


def _fields(spec: str | None) -> list[str | int] | None:
    if not spec:
        return None
    return [int(f) if f.strip().isdigit() else f.strip() for f in spec.split(",") if f.strip()]


def _table_line(ev: Event, cols: list[str]) -> str:
    s: ItemStream = ev.stream
    kind = {
        "ItemRefreshed": "REFRESH",
        "ItemUpdated": "UPDATE",
        "ItemStatus": "STATUS",
        "StreamClosed": "CLOSED",
    }[type(ev).__name__]
    if kind in ("STATUS", "CLOSED"):
        st = s.state
        text = f"{st.stream}/{st.data} {st.code or ''} {st.text or ''}" if st else ""
        return f"{time.strftime('%H:%M:%S')} {s.name:<12} {kind:<8} {text.strip()}"
    vals = " ".join(f"{_fmt(s.fields.get(c)):>12}" for c in cols)
    return f"{time.strftime('%H:%M:%S')} {s.name:<12} {kind:<8} {vals}"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


async def run(a: argparse.Namespace) -> int:
    rics = [r.strip() for spec in a.rics for r in spec.split(",") if r.strip()]
    view = _fields(a.fields)
    cols = [str(c) for c in view] if view else list(DEFAULT_TABLE_FIELDS)
    out = sys.stdout
    count = 0
    failed: set[str] = set()
    done = asyncio.Event()
    subs: list[Subscription] = []

    def emit(ev: Event) -> None:
        nonlocal count
        if isinstance(ev, StreamClosed):
            if ev.state.stream != "NonStreaming" and ev.state.data != "Ok":
                failed.add(ev.stream.name)
            if subs and not any(s.is_open for s in subs[0].streams):
                done.set()
        if a.format == "jsonl":
            out.write(json.dumps(event_record(ev), separators=(",", ":")) + "\n")
        elif a.format == "table":
            out.write(_table_line(ev, cols) + "\n")
        elif not isinstance(ev, StreamClosed):
            out.write(pretty(codec.to_builtins(ev.message)) + "\n")
        out.flush()
        count += 1
        if a.count is not None and count >= a.count:
            done.set()

    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, done.set)
    try:
        async with open_session(a) as session:
            if a.format == "table":
                out.write(
                    f"{'time':<8} {'RIC':<12} {'event':<8} "
                    + " ".join(f"{c:>12}" for c in cols)
                    + "\n"
                )
            sub = session.subscribe(
                rics,
                fields=view,
                domain=a.domain,
                service=int(a.service) if a.service and a.service.isdigit() else a.service,
                snapshot=a.snapshot,
                private=a.private,
                on_refresh=emit,
                on_update=emit,
                on_status=emit,
            )
            subs.append(sub)
            if not any(s.is_open for s in sub.streams):
                done.set()
            try:
                await asyncio.wait_for(done.wait(), a.duration)
            except asyncio.TimeoutError:
                pass
            await sub.close()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    if failed and len(failed) == len(set(rics)):
        sys.stderr.write(f"ertcloud: error: no item could be opened: {', '.join(sorted(failed))}\n")
        return 1
    return 0
