"""``ertcloud subscribe``: stream items to the terminal as pretty JSON, JSON lines or a table."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from . import interrupt
from .common import add_connection_options, add_transport_option, open_session, open_standby
from .market_price import install_signals
from .options import add_option, description
from .output import BOOK_DOMAINS, book_header, book_table_lines, pretty
from .session_notices import announce_reconnects, until_done_or_ended
from .shared_options import add_shared
from .subscribe_expand import follow_chains

if TYPE_CHECKING:
    from ..chains import ChainChanged
    from ..client.session import Session
    from ..client.warm_standby import ActiveChanged
    from ..protocol.dictionary import Dictionary
    from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
    from ..protocol.streams import ItemStream

    Event = ItemRefreshed | ItemUpdated | ItemStatus | StreamClosed

__all__ = ["add_parser", "event_record"]

DEFAULT_TABLE_FIELDS = ("BID", "ASK", "BIDSIZE", "ASKSIZE", "TRDPRC_1", "ACVOL_1")


@functools.cache
def _protocol() -> tuple[ModuleType, type[StreamClosed]]:
    """The codec and StreamClosed, imported once on first use (not for ``--help``)."""
    from ..protocol import codec
    from ..protocol.events import StreamClosed

    return codec, StreamClosed


def event_record(ev: Event) -> dict[str, Any]:
    """A flat JSON-able record of an event (the ``jsonl`` format)."""
    codec, closed = _protocol()
    s = ev.stream
    rec: dict[str, Any] = {"ts": round(time.time(), 6), "ric": s.name, "id": s.id}
    if isinstance(ev, closed):
        rec["event"] = "closed"
        rec["state"] = codec.to_builtins(ev.state)
        return rec
    msg = ev.message  # type: ignore[union-attr]  # not a StreamClosed (returned above)
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
        "subscribe",
        help="stream items: pretty JSON, JSON lines or a table",
        description=description(__doc__),
    )
    p.add_argument("rics", nargs="*", metavar="RIC", help="items (comma lists allowed)")
    add_shared(
        p, "ric", "fields",
        ric={"help": "an item, like RIC; repeat or comma-separate"},
        fields={
            "help": "comma-separated field names or FIDs to request (a view; --view works too)"
        },
    )  # fmt: skip
    p.add_argument(
        "--domain",
        default="MarketPrice",
        help="MarketPrice (default), MarketByPrice, MarketByOrder, MarketMaker, "
        "SymbolList, YieldCurve ... (any RDM domain but Login; case does not matter)",
    )
    add_shared(p, "service")
    p.add_argument("--snapshot", action="store_true", help="one image per item, then exit")
    p.add_argument("--private", action="store_true", help="private streams")
    p.add_argument(
        "--expand",
        action="store_true",
        help="chains (0#.DJI): subscribe to their constituents and follow the chain (new "
        "constituents opened, removed ones closed, a 'chain' event for each change); with "
        "--snapshot: one image of each constituent",
    )
    p.add_argument(
        "--format",
        choices=("pretty", "jsonl", "table"),
        default="pretty",
        help="pretty: each message as indented JSON (default); jsonl: one JSON record per "
        "event; table: one line per event with --fields (default BID ASK ...)",
    )
    p.add_argument(
        "--count", type=int, default=None, metavar="N", help="stop after this many events"
    )
    add_shared(
        p, "duration", "hotstandby",
        hotstandby={
            "help": "two sessions on two endpoints, each update shown once (by SeqNumber); the "
            "embedded simulator serves two endpoints for it"
        },
    )  # fmt: skip
    add_option(
        p,
        "--warm-standby",
        "--warmstandby",
        dest="warmstandby",
        action="store_true",
        help="two sessions on two endpoints, one active: its server streams, the other's "
        "waits (ConsumerConnectionStatus) and takes over if the active one is lost; the "
        "active server is named on stderr",
    )
    p.add_argument(
        "--standby-url",
        default=None,
        metavar="URL",
        help="the second endpoint of --hot-standby (implied) or --warm-standby; --url or "
        "--hostname is the first",
    )
    p.add_argument(
        "--from", dest="from_url", default=None, metavar="URL",
        help="read a cluster's stream (nats://...) instead of the service; RIC '*' for all",
    )  # fmt: skip
    p.add_argument("--start", default=None, help="with --from: now (default), all or a seq")
    add_connection_options(p)
    add_transport_option(p)
    p.set_defaults(func=lambda a: interrupt.run(run(a)))


#: a snapshot of this many items ends with a progress line on stderr
PROGRESS_SUMMARY = 1000


def _say_progress(total: int, pending: set[str], elapsed: float | None = None) -> None:
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    sys.stderr.write(f"ertcloud: snapshots {total - len(pending)}/{total}{took}\n")
    sys.stderr.flush()


async def _progress(total: int, pending: set[str], every: float = 1.0) -> None:
    """A progress line on stderr every ``every`` seconds while snapshots arrive."""
    while pending:
        await asyncio.sleep(every)
        _say_progress(total, pending)


def _fields(spec: str | None) -> list[str | int] | None:
    if not spec:
        return None
    return [int(f) if f.strip().isdigit() else f.strip() for f in spec.split(",") if f.strip()]


def _column_value(fields: Mapping[str, Any], col: str, dictionary: Dictionary) -> Any:
    """The value of a table column: a field by name, or by FID through the dictionary."""
    if col in fields:
        return fields[col]
    fd = dictionary.lookup(col)
    return fields.get(fd.name) if fd is not None else None


def _table_line(ev: Event, cols: list[str], dictionary: Dictionary | None = None) -> str:
    from ..protocol.dictionary import builtin
    from ..protocol.events import ItemRefreshed, ItemUpdated

    s: ItemStream = ev.stream
    kind = {
        "ItemRefreshed": "REFRESH",
        "ItemUpdated": "UPDATE",
        "ItemStatus": "STATUS",
        "StreamClosed": "CLOSED",
    }[type(ev).__name__]
    if isinstance(ev, (ItemRefreshed, ItemUpdated)):  # an order book: its levels
        prefix = f"{time.strftime('%H:%M:%S')} {s.name:<12} {kind:<8}"
        book = book_table_lines(prefix, kind, s, ev.message)
        if book is not None:
            return "\n".join(book)
    if kind in ("STATUS", "CLOSED"):
        st = s.state
        text = f"{st.stream}/{st.data} {st.code or ''} {st.text or ''}" if st else ""
        return f"{time.strftime('%H:%M:%S')} {s.name:<12} {kind:<8} {text.strip()}"
    d = dictionary if dictionary is not None else builtin()
    vals = " ".join(f"{_fmt(_column_value(s.fields, c, d)):>12}" for c in cols)
    return f"{time.strftime('%H:%M:%S')} {s.name:<12} {kind:<8} {vals}"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _say_active(ev: ActiveChanged) -> None:
    why = {"start": "at start", "lost": "the active one was lost"}.get(ev.reason, ev.reason)
    sys.stderr.write(f"ertcloud: warm standby: active server {ev.url} ({why})\n")
    sys.stderr.flush()


def _reason(text: str | None, code: str | None) -> str:
    text = " ".join((text or "").split())
    if code and code not in text:
        return f"{text} ({code})" if text else code
    return text or "closed"


async def run(a: argparse.Namespace) -> int:
    specs = [*a.rics, *(a.ric or [])]
    rics = [r.strip() for spec in specs for r in spec.split(",") if r.strip()]
    if not rics:
        raise ConfigError("no item given: name at least one RIC (or --ric)")
    names = list(dict.fromkeys(rics))
    if a.from_url:
        from .cluster import run_subscribe_from

        return await run_subscribe_from(a, names)
    import msgspec

    from ..client.standby import HotStandby, StandbySubscription
    from ..client.subscription import Subscription
    from ..client.warm_standby import WarmStandby
    from ..protocol import codec
    from ..protocol.events import ErrorReceived, StreamClosed

    encode = msgspec.json.Encoder().encode  # as json.dumps, compact, and many times faster

    pending = set(names)  # items not finished yet: each check is O(1), never a scan
    index: dict[str, ItemStream] = {}  # name -> stream (single session)
    warm = bool(getattr(a, "warmstandby", False))
    if warm and a.hotstandby:
        raise ConfigError("--hotstandby and --warmstandby exclude each other")
    standby = warm or a.hotstandby or a.standby_url is not None
    flag = "--warmstandby" if warm else "--hotstandby"
    if standby and getattr(a, "expand", False):
        raise ConfigError(f"--expand works on one session: it has no use for {flag}")
    if standby and a.snapshot:
        raise ConfigError(f"--snapshot takes one image per item: it has no use for {flag}")
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
        return index.get(name)

    def finished(name: str, s: ItemStream | None = None) -> bool:
        if len(refused.get(name, ())) >= len(sessions):
            return True  # every session was refused it
        s = s or record(name)
        if s is None or s.is_open:
            return False
        # ClosedRecover: the session re-requests the item by itself.
        return not (s.state is not None and s.state.stream == "ClosedRecover")

    def check_done(s: ItemStream | None = None) -> None:
        if not subs:
            return
        if s is None:
            pending.difference_update([n for n in pending if finished(n)])
        elif s.name in pending and finished(s.name, s):
            pending.discard(s.name)
        if not pending:
            done.set()

    flushing = False

    def flush() -> None:
        nonlocal flushing
        flushing = False
        out.flush()

    def flush_soon() -> None:
        """Flush once the frame at hand is handled (not one write per event)."""
        nonlocal flushing
        if not flushing:
            flushing = True
            asyncio.get_running_loop().call_soon(flush)

    def fail(name: str, opened: bool, reason: str) -> None:
        if name in failed:
            return
        failed[name] = reason
        what = f"{name} was closed by the server" if opened else f"cannot open {name}"
        sys.stderr.write(f"ertcloud: error: {what}: {reason}\n")
        sys.stderr.flush()

    def emit(ev: Event) -> None:
        nonlocal count
        if a.count is not None and count >= a.count:
            return  # --count reached: the rest of the frame at hand is not printed
        if isinstance(ev, StreamClosed):
            if ev.state.stream not in ("NonStreaming", "ClosedRecover"):
                fail(ev.stream.name, ev.stream.refreshes > 0, _reason(ev.state.text, ev.state.code))
            check_done(ev.stream)
        if a.format == "jsonl":
            out.write(encode(event_record(ev)).decode() + "\n")
        elif a.format == "table":
            dictionary = sessions[0].dictionary if sessions else None
            out.write(_table_line(ev, cols, dictionary) + "\n")
        elif not isinstance(ev, StreamClosed):
            out.write(pretty(codec.to_builtins(ev.message)) + "\n")
        flush_soon()
        count += 1
        if a.count is not None and count >= a.count:
            done.set()

    requests: dict[int, dict[int, list[ItemStream]]] = {}  # session -> request id -> streams

    def by_request(index: int, streams: list[ItemStream], rid: int) -> list[ItemStream]:
        """The streams a request ID (its own or its batch's) names, without a scan per
        Error: the index is rebuilt only when an ID is not in it (re-requested streams)."""
        table = requests.get(index)
        if table is None or rid not in table:
            table = requests[index] = {}
            for st in streams:
                table.setdefault(st.id, []).append(st)
                if st.batch_id is not None and st.batch_id != st.id:
                    table.setdefault(st.batch_id, []).append(st)
        return table.get(rid, [])

    def chain_changed(ev: ChainChanged) -> None:
        if a.format == "jsonl":
            rec = {"ts": round(time.time(), 6), "ric": ev.chain, "event": "chain"}
            rec.update(added=list(ev.added), removed=list(ev.removed))
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
        else:
            moves = " ".join([*(f"+{r}" for r in ev.added), *(f"-{r}" for r in ev.removed)])
            out.write(f"{time.strftime('%H:%M:%S')} {ev.chain:<12} {'CHAIN':<8} {moves}\n")
        flush_soon()

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
            for s in by_request(index, leg.streams, err.id)
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
        flush_soon()
        for s in final:
            fail(s.name, False, f"the server answered with an Error: {_reason(err.text, None)}")
            check_done(s)

    def watch(index: int, session: Session) -> None:
        sessions.append(session)
        session.on_event = lambda ev: on_event(index, ev)
        announce_reconnects(session)

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
        if isinstance(sub, Subscription):
            index.update((s.name, s) for s in sub.streams)
        check_done()
        progress = None
        if a.snapshot and len(names) > 1:
            progress = asyncio.create_task(_progress(len(names), pending))
        try:
            await asyncio.wait_for(until_done_or_ended(done, sessions), a.duration)
        except asyncio.TimeoutError:
            pass
        finally:
            if progress is not None:
                progress.cancel()
        elapsed = time.monotonic() - started
        if progress is not None and (len(names) >= PROGRESS_SUMMARY or elapsed >= 1.0):
            _say_progress(len(names), pending, elapsed)
        await sub.close()

    started = time.monotonic()

    from ..protocol.dictionary import builtin

    # a column given by FID is headed by its name where the builtin table knows it
    titles = [fd.name if (fd := builtin().lookup(c)) is not None else c for c in cols]
    header = f"{'time':<8} {'RIC':<12} {'event':<8} " + " ".join(f"{c:>12}" for c in titles)
    if str(a.domain).lower() in {d.lower() for d in BOOK_DOMAINS}:
        header = book_header()
    loop = asyncio.get_running_loop()
    installed = install_signals(loop, done.set)
    try:
        if standby:
            kind, kw = (WarmStandby, {"on_active": _say_active}) if warm else (HotStandby, {})
            async with open_standby(a, kind, **kw) as hs:
                for i, s in enumerate(hs.sessions):
                    if s is not None:
                        watch(i, s)
                if a.format == "table":
                    out.write(header + "\n")
                await stream(hs.subscribe(rics, **options))
        else:
            async with open_session(a) as session:
                watch(0, session)
                if getattr(a, "expand", False) and not a.snapshot:
                    if a.format == "table":
                        out.write(header + "\n")
                    await follow_chains(
                        session, names, fields=view, service=options["service"], emit=emit,
                        changed=chain_changed, done=done, duration=a.duration,
                    )  # fmt: skip
                    return 1 if failed else 0
                if getattr(a, "expand", False):
                    rics = [r for c in rics for r in await session.chain(c)]
                    names[:] = list(dict.fromkeys(rics))
                    pending.clear()
                    pending.update(names)
                if a.format == "table":
                    out.write(header + "\n")
                await stream(session.subscribe(rics, snapshot=a.snapshot, **options))
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 1 if failed else 0
