"""``ertcloud subscribe``: stream items to the terminal as pretty JSON, JSON lines or a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from ..client.session import Session
from ..client.standby import StandbySubscription
from ..client.subscription import Subscription
from ..exceptions import ConfigError
from ..protocol import codec
from ..protocol.events import (
    ErrorReceived,
    ItemRefreshed,
    ItemStatus,
    ItemUpdated,
    StreamClosed,
)
from ..protocol.streams import ItemStream
from .common import add_connection_options, open_session, open_standby
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
    p.add_argument(
        "--hotstandby",
        action="store_true",
        help="two sessions on two endpoints, each update shown once (by SeqNumber); the "
        "embedded simulator serves two endpoints for it",
    )
    p.add_argument(
        "--standby-url",
        default=None,
        metavar="URL",
        help="the second endpoint of --hotstandby (implies it); --url or --hostname is the first",
    )
    p.add_argument(
        "--from", dest="from_url", default=None, metavar="URL",
        help="read a cluster's stream (nats://...) instead of the service; RIC '*' for all",
    )  # fmt: skip
    p.add_argument("--start", default=None, help="with --from: now (default), all or a seq")
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
    names = list(dict.fromkeys(rics))
    if a.from_url:
        from .cluster import run_subscribe_from

        return await run_subscribe_from(a, names)
    standby = a.hotstandby or a.standby_url is not None
    if standby and a.snapshot:
        raise ConfigError("--snapshot takes one image per item: it has no use for --hotstandby")
    view = _fields(a.fields)
    cols = [str(c) for c in view] if view else list(DEFAULT_TABLE_FIELDS)
    out = sys.stdout
    count = 0
    failed: dict[str, str] = {}  # item -> why the server refused or closed it
    refused: dict[str, set[int]] = {}  # item -> the sessions whose request got an Error
    done = asyncio.Event()
    subs: list[Subscription | StandbySubscription] = []
    sessions: list[Session] = []

    def record(name: str) -> ItemStream | None:
        sub = subs[0]
        if isinstance(sub, StandbySubscription):
            return sub.records.get(name)
        return next((s for s in sub.streams if s.name == name), None)

    def finished(name: str) -> bool:
        if len(refused.get(name, ())) >= len(sessions):
            return True  # every session was refused it
        s = record(name)
        if s is None or s.is_open:
            return False
        # ClosedRecover: the session re-requests the item by itself.
        return not (s.state is not None and s.state.stream == "ClosedRecover")

    def check_done() -> None:
        if subs and all(finished(n) for n in names):
            done.set()

    def fail(name: str, opened: bool, reason: str) -> None:
        if name in failed:
            return
        failed[name] = reason
        what = f"{name} was closed by the server" if opened else f"cannot open {name}"
        sys.stderr.write(f"ertcloud: error: {what}: {reason}\n")
        sys.stderr.flush()

    def emit(ev: Event) -> None:
        nonlocal count
        if isinstance(ev, StreamClosed):
            if ev.state.stream not in ("NonStreaming", "ClosedRecover"):
                fail(ev.stream.name, ev.stream.refreshes > 0, _reason(ev.state.text, ev.state.code))
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

    def on_event(index: int, ev: object) -> None:
        """An Error answering an item request (or its batch) ends that item (on every
        session, with hot standby)."""
        if not isinstance(ev, ErrorReceived) or not subs:
            return
        sub = subs[0]
        leg = sub.legs.get(index) if isinstance(sub, StandbySubscription) else sub
        if leg is None:
            return
        err = ev.message
        hit = [
            s
            for s in leg.streams
            if err.id in (s.id, s.batch_id)
            and index not in refused.get(s.name, ())
            and not s.refreshes
        ]
        final: list[ItemStream] = []
        for s in hit:
            refused.setdefault(s.name, set()).add(index)
            if len(refused[s.name]) >= len(sessions):
                final.append(s)
        if not final:
            return
        for s in final:
            if a.format == "jsonl":
                rec = {"ts": round(time.time(), 6), "ric": s.name, "id": s.id}
                rec.update(event="error", text=err.text)
                out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            elif a.format == "table":
                out.write(f"{time.strftime('%H:%M:%S')} {s.name:<12} {'ERROR':<8} {err.text}\n")
        if a.format == "pretty":
            out.write(pretty(codec.to_builtins(err)) + "\n")
        out.flush()
        for s in final:
            fail(s.name, False, f"the server answered with an Error: {_reason(err.text, None)}")
        check_done()

    def watch(index: int, session: Session) -> None:
        sessions.append(session)
        session.on_event = lambda ev: on_event(index, ev)

    options: dict[str, Any] = {
        "fields": view,
        "domain": a.domain,
        "service": int(a.service) if a.service and a.service.isdigit() else a.service,
        "private": a.private,
        "on_refresh": emit,
        "on_update": emit,
        "on_status": emit,
    }

    async def stream(sub: Subscription | StandbySubscription) -> None:
        subs.append(sub)
        check_done()
        try:
            await asyncio.wait_for(done.wait(), a.duration)
        except asyncio.TimeoutError:
            pass
        await sub.close()

    header = f"{'time':<8} {'RIC':<12} {'event':<8} " + " ".join(f"{c:>12}" for c in cols)
    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, done.set)
    try:
        if standby:
            async with open_standby(a) as hs:
                for i, s in enumerate(hs.sessions):
                    if s is not None:
                        watch(i, s)
                if a.format == "table":
                    out.write(header + "\n")
                await stream(hs.subscribe(rics, **options))
        else:
            async with open_session(a) as session:
                watch(0, session)
                if a.format == "table":
                    out.write(header + "\n")
                await stream(session.subscribe(rics, snapshot=a.snapshot, **options))
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 1 if failed else 0
