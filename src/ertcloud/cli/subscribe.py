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
from ..protocol.events import (
    ErrorReceived,
    ItemRefreshed,
    ItemStatus,
    ItemUpdated,
    StreamClosed,
)
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
        "SymbolList, YieldCurve ... (any RDM domain but Login; case does not matter)",
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


def _reason(text: str | None, code: str | None) -> str:
    text = " ".join((text or "").split())
    if code and code not in text:
        return f"{text} ({code})" if text else code
    return text or "closed"


async def run(a: argparse.Namespace) -> int:
    rics = [r.strip() for spec in a.rics for r in spec.split(",") if r.strip()]
    view = _fields(a.fields)
    cols = [str(c) for c in view] if view else list(DEFAULT_TABLE_FIELDS)
    out = sys.stdout
    count = 0
    failed: dict[str, str] = {}  # item -> why the server refused or closed it
    refused: set[int] = set()  # ids of streams whose request got an Error
    done = asyncio.Event()
    subs: list[Subscription] = []

    def finished(s: ItemStream) -> bool:
        if s.id in refused:
            return True
        if s.is_open:
            return False
        # ClosedRecover: the session re-requests the item by itself.
        return not (s.state is not None and s.state.stream == "ClosedRecover")

    def check_done() -> None:
        if subs and all(finished(s) for s in subs[0].streams):
            done.set()

    def fail(s: ItemStream, reason: str) -> None:
        if s.name in failed:
            return
        failed[s.name] = reason
        what = f"{s.name} was closed by the server" if s.refreshes else f"cannot open {s.name}"
        sys.stderr.write(f"ertcloud: error: {what}: {reason}\n")
        sys.stderr.flush()

    def emit(ev: Event) -> None:
        nonlocal count
        if isinstance(ev, StreamClosed):
            if ev.state.stream not in ("NonStreaming", "ClosedRecover"):
                fail(ev.stream, _reason(ev.state.text, ev.state.code))
            check_done()
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

    def on_event(ev: object) -> None:
        """An Error answering an item request (or its batch) ends that item."""
        if not isinstance(ev, ErrorReceived) or not subs:
            return
        err = ev.message
        hit = [
            s
            for s in subs[0].streams
            if err.id in (s.id, s.batch_id) and s.id not in refused and not s.refreshes
        ]
        if not hit:
            return
        for s in hit:
            refused.add(s.id)
            if a.format == "jsonl":
                rec = {"ts": round(time.time(), 6), "ric": s.name, "id": s.id}
                rec.update(event="error", text=err.text)
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            elif a.format == "table":
                out.write(f"{time.strftime('%H:%M:%S')} {s.name:<12} {'ERROR':<8} {err.text}\n")
        if a.format == "pretty":
            out.write(pretty(codec.to_builtins(err)) + "\n")
        out.flush()
        for s in hit:
            fail(s, f"the server answered with an Error: {_reason(err.text, None)}")
        check_done()

    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, done.set)
    try:
        async with open_session(a) as session:
            session.on_event = on_event
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
            check_done()
            try:
                await asyncio.wait_for(done.wait(), a.duration)
            except asyncio.TimeoutError:
                pass
            await sub.close()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 1 if failed else 0
