"""The simulated streaming server (what the ADS / RTO endpoints do on ``/WebSocket``).

One :class:`StreamingServer` holds the market, the order books, symbol lists and curves
derived from it, the subscriptions of every connection and the liveness and token checks;
one :class:`~ertcloud.sim.session.ClientSession` per WebSocket answers the client (the
protocol in :class:`~ertcloud.sim.connection.ServerConnection`, with no I/O; the send queue
and writer around it).
Every change of an instrument goes through :meth:`StreamingServer.publish`, which sends the
MarketPrice update and the book, market-maker and list changes it causes in the same tick.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import ConfigError
from ..protocol.dictionary import Dictionary
from ..protocol.messages import Key, State, Status
from .chains import ChainRecords
from .connection import ServerConnection, Stream
from .curves import make_curves
from .depth import Book, BookDelta
from .domains import market_maker_diff
from .gateway import Gateway
from .market import Instrument, Market
from .news import MRN_ITEMS, NewsWire
from .policies import PING_MODES, SLOW_CONSUMER_POLICIES
from .session import ClientSession, Closer, Sender
from .symbols import SymbolList, SymbolLists

__all__ = [
    "PING_MODES",
    "SLOW_CONSUMER_POLICIES",
    "ClientSession",
    "ServerConfig",
    "StreamingServer",
]

log = logging.getLogger("ertcloud.sim")

_QUOTE_FIELDS = frozenset(("BID", "ASK", "BIDSIZE", "ASKSIZE"))


@dataclass
class ServerConfig:
    """Knobs of the streaming server (see ``ertcloud sim --help``)."""

    ping_timeout: int = 30
    max_msg_size: int = 61430
    services: dict[str, int] = field(default_factory=lambda: {"ELEKTRON_DD": 257})
    default_service: str = "ELEKTRON_DD"
    rate: float = 2.0  # updates per second per subscribed item
    tick_interval: float = 0.02
    max_per_frame: int = 20
    token_grace: float = 0.0
    ping_mode: str = "spec"  # one of PING_MODES
    allow_user_login: bool = False
    # an item request before the Login Refresh: refused NotOpen (strict), else held back
    # and served once the login succeeds (lenient, conformance A11)
    strict_login: bool = True
    catch_unknown_keys: bool = False  # *ads*catchUnknownJsonKeys: unknown keys are an Error
    # a second streaming request for an item already open on the connection (on another
    # id): refused with Closed/Suspect AlreadyOpen instead of fanned out (conformance B17)
    already_open: bool = False
    host_name: str = field(default_factory=lambda: socket.gethostname() or "sim")
    entitlements: dict[str, frozenset[str]] = field(default_factory=dict)  # user -> denied RICs
    pause_resume: bool = False  # advertise SupportPauseResume 1 and honour Pause
    support_post: bool = True  # SupportOMMPost; without it every post is Nacked DeniedBySrc
    strict_generic: bool = False  # Generic on a market-data domain: Error instead of ignored
    login_limit: int = 0  # logins per user per login_window seconds (0: no limit)
    login_window: float = 60.0
    interleave_refresh: bool = False  # an MBO Update between the parts of a multi-part refresh
    post_creates: bool = False  # an off-stream posted Refresh of an unknown name creates it
    # services that take off-stream posts besides the served ones (a provider's cache, as in
    # the vendor's posting sample); a post to any other service is Nacked SourceUnknown
    post_services: frozenset[str] = frozenset({"NIPROV"})
    depth_levels: int = 20  # price levels per side of a book
    serve_dictionary: bool = True  # answer the Dictionary domain (else Closed/Suspect)
    dictionary_part_entries: int = 0  # entries per Dictionary refresh part (0: one part)
    # the field dictionary served (Dictionary domain) and used for Views and posts
    # (None: the package's builtin table)
    dictionary: Dictionary | None = None
    # faults
    send_pings: bool = True
    answer_pings: bool = True
    stamp_updates: bool = False
    # slow consumers (see SLOW_CONSUMER_POLICIES)
    slow_consumer: str = "conflate"
    send_queue_bytes: int = 1 << 20
    drain_timeout: float = 30.0
    chain_churn: float = 0.05  # chance that a chain record's tick changes a constituent
    news_chance: float = 0.5  # chance that an MRN item's tick publishes a story
    # warm standby: SupportStandby 1 in the Login Refresh, and the ConsumerConnectionStatus
    # Generic honoured per connection (a standby one gets no Updates)
    support_standby: bool = False

    def __post_init__(self) -> None:
        if self.ping_mode not in PING_MODES:
            raise ConfigError(f"ping_mode must be one of {', '.join(PING_MODES)}")
        if self.slow_consumer not in SLOW_CONSUMER_POLICIES:
            raise ConfigError(f"slow_consumer must be one of {', '.join(SLOW_CONSUMER_POLICIES)}")
        if self.send_queue_bytes < 1024:
            raise ConfigError("send_queue_bytes must be at least 1024")
        if self.drain_timeout <= 0:
            raise ConfigError("drain_timeout must be positive")


class StreamingServer:
    """Everything behind ``/WebSocket``: market, subscriptions, pings, token expiry."""

    def __init__(
        self, market: Market, gateway: Gateway, config: ServerConfig | None = None
    ) -> None:
        self.market = market
        self.gateway = gateway
        self.config = config or ServerConfig()
        self.sessions: set[ClientSession] = set()
        self.subs: dict[str, list[tuple[ServerConnection, Stream]]] = {}
        self._seq: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rr = 0
        self._rng = random.Random(f"{market.seed}/ticker")
        self.updates_sent = 0
        # slow consumers: updates merged, updates discarded, connections dropped
        self.conflated = 0
        self.dropped_updates = 0
        self.slow_disconnects = 0
        self._logins: dict[str, list[float]] = {}
        self.list_subs: dict[str, list[tuple[ServerConnection, Stream]]] = {}
        self.curve_subs: dict[str, list[tuple[ServerConnection, Stream]]] = {}
        self.books: dict[str, Book] = {}
        self.mm_last: dict[str, dict[str, dict[str, Any]]] = {}
        self.symbols = SymbolLists(market)
        self.list_last: dict[str, dict[str, int]] = {}
        self.curves = make_curves(market.seed, market.now)
        self.news = NewsWire(market)
        members = {n: sl.candidates for n, sl in self.symbols.lists.items() if not sl.ranked}
        self.chains = ChainRecords(market, members)

    def seq(self, ric: str) -> int:
        n = self._seq.get(ric)
        if n is None:
            n = 1000 + (sum(map(ord, ric)) * 97) % 60000
        n += 16
        self._seq[ric] = n
        return n

    def current_seq(self, ric: str) -> int:
        """The item's sequence number as of its last update, for a refresh: an image sent
        to one client must not move the sequence that the other subscribers see."""
        n = self._seq.get(ric)
        if n is None:
            n = self._seq[ric] = 1000 + (sum(map(ord, ric)) * 97) % 60000
        return n

    def later(self, delay: float, fn: Callable[[], Awaitable[Any]]) -> None:
        async def _run() -> None:
            await asyncio.sleep(delay)
            await fn()

        t = asyncio.ensure_future(_run())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def cancel_later(self) -> None:
        """Cancel what :meth:`later` still has waiting (the server is stopping)."""
        pending = list(self._tasks)
        for t in pending:
            t.cancel()
        for t in pending:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    def connect(self, send: Sender, close: Closer, peer: str) -> ClientSession:
        cs = ClientSession(self, send, close, peer)
        self.sessions.add(cs)
        return cs

    def forget(self, cs: ClientSession) -> None:
        cs.drop_all_streams()
        self.sessions.discard(cs)

    def subscribe(self, cs: ServerConnection, s: Stream) -> None:
        table = self._table(s)
        if table is not None:
            table.setdefault(s.instrument.ric, []).append((cs, s))

    def unsubscribe(self, cs: ServerConnection, s: Stream) -> None:
        table = self._table(s)
        lst = table.get(s.instrument.ric) if table is not None else None
        if table is not None and lst:
            try:
                lst.remove((cs, s))
            except ValueError:
                pass
            if not lst:
                del table[s.instrument.ric]

    def _table(self, s: Stream) -> dict[str, list[tuple[ServerConnection, Stream]]] | None:
        if s.domain == "SymbolList":
            return self.list_subs
        if s.domain == "YieldCurve":
            return self.curve_subs
        return None if s.domain == "Source" else self.subs

    def book(self, ric: str) -> Book | None:
        """The order book of an equity, created on first use; None for other kinds."""
        book = self.books.get(ric)
        if book is not None:
            return book
        params = self.market.book_params(ric)
        inst = self.market.get(ric)
        if params is None or inst is None:
            return None
        tick, dec, lot = params
        book = Book(
            inst.ric,
            tick=tick,
            dec=dec,
            lot=lot,
            rng=random.Random(f"{self.market.seed}/book/{inst.ric}"),
            clock=self.market.stamp,
            depth=self.config.depth_levels,
        )
        self.books[inst.ric] = book
        self._sync_book(inst, book)
        return book

    def _sync_book(self, inst: Instrument, book: Book) -> BookDelta:
        img = inst.image
        bid, ask, bsz, asz = (
            float(v) if isinstance(v, (int, float)) and v > 0 else 0.0
            for v in (img.get(k) for k in ("BID", "ASK", "BIDSIZE", "ASKSIZE"))
        )
        if bid <= 0 or ask <= 0:
            return BookDelta()
        return book.sync(bid, ask, bsz or 1.0, asz or 1.0)

    def publish(self, inst: Instrument, utype: str, fields: dict[str, Any]) -> None:
        """Apply a change to an instrument and send it to every subscriber: the
        MarketPrice fields, and the book, market-maker and list changes it causes."""
        if utype == "Unspecified":
            self.market.apply(inst.ric, fields, ripple=True)
        book = self.books.get(inst.ric)
        delta = self._sync_book(inst, book) if book and _QUOTE_FIELDS & fields.keys() else None
        self._fan_out(inst, utype, fields, delta)
        if "ACVOL_1" in fields and self.list_subs:
            self._update_lists(inst.ric)

    def publish_refresh(self, inst: Instrument, fields: dict[str, Any]) -> None:
        """A posted Refresh: overwrite the fields and re-image every subscriber."""
        self.market.apply(inst.ric, fields)
        book = self.books.get(inst.ric)
        if book is not None:
            self._fan_out(inst, "Unspecified", {}, self._sync_book(inst, book))
        for cs, s in self.subs.get(inst.ric, ()):
            if s.domain == "MarketPrice":
                cs.push_refresh(s)

    def allow_login(self, user: str) -> bool:
        """False when ``user`` has logged in ``login_limit`` times within the window."""
        cfg = self.config
        if cfg.login_limit <= 0:
            return True
        now = time.monotonic()
        times = [t for t in self._logins.get(user, []) if now - t < cfg.login_window]
        allowed = len(times) < cfg.login_limit
        if allowed:
            times.append(now)
        self._logins[user] = times
        return allowed

    def interleave(self, inst: Instrument) -> None:
        """A book event (a new order) published now, e.g. between the parts of a refresh."""
        book = self.books.get(inst.ric)
        if book is not None:
            self._fan_out(inst, "Unspecified", {}, book.add_away())

    def _fan_out(
        self, inst: Instrument, utype: str, fields: dict[str, Any], delta: BookDelta | None
    ) -> None:
        subs = self.subs.get(inst.ric)
        if not subs:
            return
        seq = self.seq(inst.ric)
        stamp = time.time_ns() if self.config.stamp_updates else None
        summary: dict[str, Any] | None = None
        mm: list[dict[str, Any]] | None = None
        for cs, s in subs:
            if s.domain == "MarketPrice":
                if not fields:
                    continue
                cs.push_update(s, utype, fields, seq, stamp)
            elif delta:
                entries = delta.mbp if s.domain == "MarketByPrice" else delta.mbo
                if summary is None:
                    summary = {"TIMACT_MS": self.market.stamp()[1]}
                if s.domain == "MarketMaker":
                    if mm is None:
                        new = self.books[inst.ric].market_makers()
                        mm = market_maker_diff(
                            self.mm_last.get(inst.ric, {}), new, summary["TIMACT_MS"]
                        )
                        self.mm_last[inst.ric] = new
                    entries = mm
                if not entries:
                    continue
                cs.push_container(s, seq, entries=entries, summary=summary)
            else:
                continue
            self.updates_sent += 1

    def _update_lists(self, ric: str) -> None:
        for sl in self.symbols.containing(ric):
            subs = self.list_subs.get(sl.name)
            if not subs:
                continue
            new = sl.members(self.market)
            entries = SymbolList.diff(self.list_last.get(sl.name, {}), new)
            self.list_last[sl.name] = new
            if not entries:
                continue
            sl.moves += 1
            seq = self.seq(sl.name)
            for cs, s in subs:
                cs.push_container(
                    s, seq, entries=entries, summary={"NUM_MOVES": sl.moves}, utype="MarketDigest"
                )
                self.updates_sent += 1

    def _step(self, kind: str, name: str) -> None:
        """One tick of a subscribed source: an instrument, a list or a curve."""
        if kind == "L":
            sl = self.symbols.lists[name]
            if not sl.ranked:
                return
            name = sl.candidates[int(self._rng.random() * len(sl.candidates))]
        elif kind == "C":
            fields = self.curves[name].step()
            seq = self.seq(name)
            for cs, s in self.curve_subs.get(name, ()):
                cs.push_container(s, seq, fields=fields)
                self.updates_sent += 1
            return
        if name in self.chains.records or name in MRN_ITEMS:
            self._step_trader(name)
            return
        if not self.market.steppable(name):
            return
        inst, utype, fields = self.market.step(name)
        self.publish(inst, utype, fields)
        book = self.books.get(inst.ric)
        if book is not None and self._rng.random() < 0.7:
            self._fan_out(inst, "Unspecified", {}, book.churn(1 + int(self._rng.random() * 3)))

    def _step_trader(self, name: str) -> None:
        """A tick of a chain record (maybe a constituent change) or of an MRN item (maybe
        a story, sent as back-to-back fragments)."""
        cfg = self.config
        if name in self.chains.records:
            inst = self.market.get(name)
            if inst is not None and self._rng.random() < cfg.chain_churn:
                changed = self.chains.step(name)
                if changed:
                    self._fan_out(inst, "Unspecified", changed, None)
            return
        if self._rng.random() >= cfg.news_chance:
            return
        for fields in self.news.step(name):
            seq = self.seq(name)
            for cs, s in self.subs.get(name, ()):
                if s.domain == "NewsTextAnalytics":
                    cs.push_news(s, fields, seq)
                    self.updates_sent += 1

    async def run(self) -> None:
        """The market ticker and the housekeeping (pings, token expiry), until cancelled."""
        cfg = self.config
        budget = 0.0
        last = time.monotonic()
        last_house = last
        while True:
            await asyncio.sleep(cfg.tick_interval)
            now = time.monotonic()
            dt, last = now - last, now
            sources = [
                *(("I", r) for r in self.subs),
                *(("L", n) for n in self.list_subs),
                *(("C", n) for n in self.curve_subs),
            ]
            if sources and cfg.rate > 0:
                budget += cfg.rate * len(sources) * dt
                n = int(budget)
                budget -= n
                for _ in range(n):
                    self._step(*sources[self._rr % len(sources)])
                    self._rr += 1
            else:
                budget = 0.0
            if now - last_house >= 0.1:
                last_house = now
                self._housekeeping(now)
            for cs in list(self.sessions):
                if cs.out:
                    await cs.flush()  # only packs and queues: never waits on a socket

    def _housekeeping(self, now: float) -> None:
        cfg = self.config
        wall = self.gateway.clock()
        for cs in list(self.sessions):
            if cs.closed:
                continue
            if cs.stuck_for(now) >= cfg.drain_timeout:
                cs.stall_drop(now)
                continue
            cs.tick(now, wall)

    # -- fault hooks ---------------------------------------------------------------------

    async def drop_all(self) -> None:
        await asyncio.gather(*(cs.drop() for cs in list(self.sessions)))

    def close_items(self, rics: list[str], state: State) -> int:
        """Close every subscriber's stream of ``rics`` with a Status in ``state`` (e.g.
        ClosedRecover); returns how many streams were closed."""
        taken = self._take(rics)
        for cs, s in taken:
            cs.queue(Status(id=s.id, key=Key(service=s.service, name=s.ric), state=state))
        return len(taken)

    def suspect_items(self, text: str = "**F10: Service Down") -> int:
        """Every open item goes Open/Suspect (the service is down); returns how many."""
        state = State(stream="Open", data="Suspect", text=text)
        opened = [sub for lst in self.subs.values() for sub in lst]
        for cs, s in opened:
            _item_status(cs, s, state)
        return len(opened)

    def recover_items(self) -> int:
        """The service is back: an unsolicited Refresh (Open/Ok) on every open MarketPrice
        item, a Status Open/Ok on the others."""
        ok = State(stream="Open", data="Ok", text="All is well")
        opened = [sub for lst in self.subs.values() for sub in lst]
        for cs, s in opened:
            if s.domain == "MarketPrice":
                cs.queue(cs.image_refresh(s, True, solicited=False))
            else:
                _item_status(cs, s, ok)
        return len(opened)

    def redirect_items(self, rics: list[str], to: str) -> int:
        """Close every subscriber's stream of ``rics`` as Redirected to the item ``to``."""
        taken = self._take(rics)
        for cs, s in taken:
            text = f"Stream redirect for item: {s.ric}"
            _item_status(cs, s, State(stream="Redirected", data="Suspect", text=text), to)
        return len(taken)

    def _take(self, rics: list[str]) -> list[tuple[ServerConnection, Stream]]:
        """Every subscriber's stream of ``rics``, each removed from its connection."""
        taken: list[tuple[ServerConnection, Stream]] = []
        for ric in rics:
            inst = self.market.get(ric)
            for cs, s in list(self.subs.get(inst.ric if inst else ric, [])):
                cs.streams.pop(s.id, None)
                self.unsubscribe(cs, s)
                taken.append((cs, s))
        return taken


def _item_status(cs: ServerConnection, s: Stream, state: State, name: str | None = None) -> None:
    """Queue a Status of stream ``s`` (keyed by ``name``, else its own item)."""
    key = Key(service=s.service, name=name or s.ric)
    cs.queue(Status(id=s.id, domain=_dom(s.domain), key=key, state=state))


def _dom(domain: str) -> str | None:
    return None if domain == "MarketPrice" else domain
