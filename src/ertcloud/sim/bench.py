"""The simulator's bench mode: streams of updates at a target rate, or as fast as it can go.

A client asks for it with a Generic message on its login stream, in the private domain
number 251 (``BENCH_DOMAIN``; named domains outside the standard set are refused, as real
servers do)::

    {"Type": "Generic", "ID": 1, "Domain": 251,
     "Elements": {"Rate": 0, "PerFrame": 1, "Seconds": 3, "Domain": "MarketPrice"}}

Elements (all optional):

* ``Rate``: messages per second (0 = as fast as the connection drains);
* ``PerFrame``: messages per WebSocket frame;
* ``Seconds`` / ``Messages``: stop after this long / this many messages (first reached);
* ``Domain``: ``MarketPrice`` (Quote/Trade updates from the market's price processes) or
  ``MarketByPrice`` (order-book Map updates);
* ``Stamp``: put the send time (``SimTs``, ns since the epoch) in every Update, taken just
  before its frame is written;
* ``Scope``: ``self`` (default) or ``others`` (every other connection with open streams, for
  clients that cannot send a Generic themselves);
* ``Universe``: make sure ``BENCH0.BX`` ... ``BENCH{N-1}.BX`` exist (cheap clones of one
  equity's image) and answer at once, for subscription and memory benchmarks.

The updates go, round robin, to the streams the connection has open. They are generated
from the market up front and encoded once into a pool of messages; with ``Stamp`` each
message gets its stamp as its frame is built. The simulator writes the frames through the
connection's ordinary send path (:func:`send_plain`); a faster sender can be installed
with :func:`set_sender` (``benchmarks`` installs one that writes pre-framed chunks straight
to the transport and paces with sub-millisecond sleeps). When done the server answers with
a Generic in that domain whose Elements hold ``Sent``, ``Bytes`` and ``Seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ..protocol import codec
from ..protocol.messages import Generic, Key, Update

if TYPE_CHECKING:
    from .ads import ClientSession, StreamingServer
    from .market import Market

__all__ = [
    "BENCH_DOMAIN",
    "BenchSender",
    "BenchSpec",
    "Progress",
    "Target",
    "bench_ric",
    "ensure_universe",
    "frame_size",
    "handle",
    "send_plain",
    "set_sender",
    "update_pool",
]

BENCH_DOMAIN = 251
_POOL_MESSAGES = 4096


def bench_ric(i: int) -> str:
    """Name of the ``i``-th instrument of the bench universe."""
    return f"BENCH{i}.BX"


@dataclass(frozen=True, slots=True)
class BenchSpec:
    """What a bench request asked for."""

    rate: float = 0.0
    per_frame: int = 1
    seconds: float = 5.0
    messages: int = 0
    domain: str = "MarketPrice"
    stamp: bool = False
    scope: str = "self"
    universe: int = 0

    @classmethod
    def from_elements(cls, el: dict[str, Any]) -> BenchSpec:
        """Read the Elements of a request; raises ValueError with a one-line reason."""

        def num(name: str, default: float, lo: float, hi: float) -> float:
            v = el.get(name, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ConfigError(f"bench {name} must be a number in [{lo:g}, {hi:g}]")
            return float(v)

        domain = el.get("Domain", "MarketPrice")
        if domain not in ("MarketPrice", "MarketByPrice"):
            raise ConfigError("bench Domain must be MarketPrice or MarketByPrice")
        scope = el.get("Scope", "self")
        if scope not in ("self", "others"):
            raise ConfigError("bench Scope must be self or others")
        return cls(
            rate=num("Rate", 0, 0, 1e8),
            per_frame=int(num("PerFrame", 1, 1, 1000)),
            seconds=num("Seconds", 5.0, 0, 3600),
            messages=int(num("Messages", 0, 0, 1e10)),
            domain=str(domain),
            stamp=bool(el.get("Stamp", False)),
            scope=str(scope),
            universe=int(num("Universe", 0, 0, 1e7)),
        )


def ensure_universe(market: Market, n: int) -> None:
    """Add ``BENCH0.BX`` ... as clones of one equity's image (identity fields and prices
    varied per item); much cheaper than fully simulated instruments."""
    from .market import Instrument

    have = market.instruments
    template = next(i for i in have.values() if i.kind == "equity")
    base = template.image
    bid = float(base.get("BID") or 10.0)
    for i in range(n):
        ric = bench_ric(i)
        if ric in have:
            continue
        img = dict(base)
        name = ric.split(".", 1)[0]
        for k in ("DSPLY_NAME", "PROV_SYMB", "MNEMONIC"):
            if k in img:
                img[k] = name
        # Identifiers differ per instrument in real data (so memory figures stay honest).
        code = f"{884903709 + i:09d}"
        for k, v in (
            ("OFFCL_CODE", code),
            ("CUSIP_CD", code),
            ("ISIN_CODE", f"US{code}{i % 10}"),
            ("TRADE_ID", str(848989 + 7 * i)),
        ):
            if k in img:
                img[k] = v
        px = round(bid * (0.5 + (i % 1000) / 1000), 2)
        for k in ("BID", "TRDPRC_1", "OPEN_PRC", "HST_CLOSE"):
            if k in img:
                img[k] = px
        if "ASK" in img:
            img["ASK"] = round(px + 0.01, 2)
        have[ric] = Instrument(ric, "equity", img)


def _mbp_update(sid: int, key: Key | None, seq: int, mid: float, n: int, now_ms: int) -> Update:
    entries: list[dict[str, Any]] = []
    for j in range(1 + n % 3):
        side = "B" if (n + j) % 2 else "A"
        px = round(mid + (-1 if side == "B" else 1) * (0.01 * (1 + (n * 7 + j) % 10)), 2)
        k = base64.b64encode(f"{px:.6f}{side}".encode()).decode()
        action = ("Update", "Update", "Add", "Delete")[(n + j) % 4]
        e: dict[str, Any] = {"Action": action, "Key": k}
        if action != "Delete":
            e["Fields"] = {
                "ORDER_PRC": px,
                "ORDER_SIDE": "BID" if side == "B" else "ASK",
                "NO_ORD": 1 + (n + j) % 9,
                "ACC_SIZE": 100 * (1 + (n * 3 + j) % 40),
                "LV_TIM_MS": now_ms,
            }
        entries.append(e)
    return Update(
        id=sid,
        domain="MarketByPrice",
        key=key,
        update_type="Unspecified",
        seq_number=seq,
        map={"KeyType": "Buffer", "Summary": {"Fields": {"TIMACT_MS": now_ms}}, "Entries": entries},
    )


@dataclass(frozen=True, slots=True)
class Target:
    """A stream that bench updates go to."""

    id: int
    ric: str
    service: str | None = "ELEKTRON_DD"
    key_in_updates: bool = True
    view: frozenset[str] | None = None
    mid: float = 100.0
    #: the fields the record holds: updates carry no others (None: no limit)
    holds: frozenset[str] | None = None
    #: the kind of instrument (equity, fx, ...) whose price changes it gets (None: any)
    kind: str | None = None


def update_pool(market: Market, targets: list[Target], domain: str, count: int) -> list[bytes]:
    """``count`` encoded Updates for ``targets`` (round robin): MarketPrice ones from the
    market's price processes, or MarketByPrice order-book changes."""
    out: list[bytes] = []
    now_ms = int(time.time() * 1000) % 86_400_000
    for n in range(max(count, len(targets))):
        t = targets[n % len(targets)]
        key = Key(service=t.service, name=t.ric) if t.key_in_updates else None
        seq = 1000 + n * 16
        if domain == "MarketByPrice":
            msg = _mbp_update(t.id, key, seq, t.mid, n, now_ms + n)
        else:
            utype, fields = _market_step(market, t)
            msg = Update(id=t.id, key=key, update_type=utype, seq_number=seq, fields=fields)
        out.append(codec.encode_one(msg))
    return out


def _market_step(market: Market, t: Target) -> tuple[str, dict[str, Any]]:
    """The next price change of an instrument of ``t``'s kind, cut to the fields its record
    holds (a real update never adds fields to a record) and to its view."""
    utype, fields = "Quote", dict[str, Any]()
    for _ in range(1000):
        inst, utype, fields = market.step()
        if t.kind is not None and inst.kind != t.kind:
            continue
        if t.holds is not None:
            fields = {k: v for k, v in fields.items() if k in t.holds}
        if t.view is not None:
            fields = {k: v for k, v in fields.items() if k in t.view}
        if fields:
            return utype, fields
    return utype, fields


def _pool(server: StreamingServer, cs: ClientSession, spec: BenchSpec) -> list[bytes]:
    targets = []
    for s in cs.streams.values():
        bid = s.instrument.image.get("BID")
        mid = float(bid) if isinstance(bid, (int, float)) else 100.0
        inst = s.instrument
        targets.append(
            Target(
                s.id,
                s.ric,
                s.service,
                s.key_in_updates,
                s.view,
                mid,
                frozenset(inst.image),
                inst.kind,
            )
        )
    return update_pool(server.market, targets, spec.domain, _POOL_MESSAGES)


@dataclass(slots=True)
class Progress:
    """What a bench stream has written so far: messages and bytes (WebSocket framing
    included)."""

    sent: int = 0
    bytes: int = 0


#: Writes a bench stream: the connection, the request, the pool of encoded Updates (sent
#: round robin) and the progress to keep up to date; returns when the request's Messages
#: or Seconds are reached or the connection closes, and may raise ConnectionError.
BenchSender = Callable[["ClientSession", BenchSpec, list[bytes], Progress], Awaitable[None]]


def frame_size(payload: int) -> int:
    """Bytes on the wire of a server-to-client WebSocket frame of ``payload`` bytes."""
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


async def send_plain(
    cs: ClientSession, spec: BenchSpec, msgs: list[bytes], progress: Progress
) -> None:
    """The simulator's own sender: frames of ``PerFrame`` messages through the
    connection's ordinary send path, paced with the event loop's timers."""
    stamped = [m[:-1] + b',"SimTs":' for m in msgs] if spec.stamp else None
    limit = spec.messages or 1 << 62
    start = time.monotonic()
    deadline = start + spec.seconds if spec.seconds > 0 else float("inf")
    n_msgs = len(msgs)
    i = 0
    while progress.sent < limit and not cs.closed and time.monotonic() < deadline:
        if spec.rate > 0:
            wait = start + progress.sent / spec.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, deadline - time.monotonic()))
                continue
        k = min(spec.per_frame, limit - progress.sent)
        if stamped is not None:
            ts = b"%d}" % time.time_ns()
            part = [stamped[(i + j) % n_msgs] + ts for j in range(k)]
        else:
            part = [msgs[(i + j) % n_msgs] for j in range(k)]
        payload = b"[" + b",".join(part) + b"]"
        await cs.write(payload)
        i += k
        progress.sent += k
        progress.bytes += frame_size(len(payload))
        await asyncio.sleep(0)


_sender: BenchSender = send_plain


def set_sender(sender: BenchSender | None) -> None:
    """Write bench streams with ``sender`` from now on (None: :func:`send_plain`). The
    benchmarks install one that writes pre-framed chunks straight to the transport."""
    global _sender
    _sender = sender if sender is not None else send_plain


async def _stream(server: StreamingServer, cs: ClientSession, spec: BenchSpec) -> dict[str, Any]:
    if not cs.streams:
        return {"Sent": 0, "Bytes": 0, "Seconds": 0.0, "Text": "no open streams"}
    msgs = _pool(server, cs, spec)
    progress = Progress()
    start = time.monotonic()
    try:
        await _sender(cs, spec, msgs, progress)
    except (ConnectionError, RuntimeError):
        pass
    seconds = round(time.monotonic() - start, 6)
    return {"Sent": progress.sent, "Bytes": progress.bytes, "Seconds": seconds}


_running: dict[int, asyncio.Task[Any]] = {}


def handle(server: StreamingServer, cs: ClientSession, msg: Generic) -> None:
    """Answer a bench Generic: start the stream(s) it asks for."""
    try:
        spec = BenchSpec.from_elements(dict(msg.elements or {}))
    except ValueError as exc:
        cs.queue(Generic(id=msg.id, domain=BENCH_DOMAIN, elements={"Error": str(exc)}))
        return
    if spec.universe:
        ensure_universe(server.market, spec.universe)
        cs.queue(Generic(id=msg.id, domain=BENCH_DOMAIN, elements={"Universe": spec.universe}))
        if not {"Seconds", "Messages"} & set(msg.elements or {}):
            return
    targets = [cs] if spec.scope == "self" else [s for s in server.sessions if s is not cs]
    for target in targets:
        _start(server, target, spec, reply=cs, reply_id=msg.id)


def _start(
    server: StreamingServer, cs: ClientSession, spec: BenchSpec, reply: ClientSession, reply_id: int
) -> None:
    old = _running.pop(id(cs), None)
    if old is not None:
        old.cancel()

    async def run() -> None:
        result = await _stream(server, cs, spec)
        if not reply.closed:
            reply.queue(Generic(id=reply_id, domain=BENCH_DOMAIN, elements=result))
            await reply.flush()

    task = asyncio.ensure_future(run())
    _running[id(cs)] = task

    def done(t: asyncio.Task[Any]) -> None:
        if _running.get(id(cs)) is t:
            del _running[id(cs)]

    task.add_done_callback(done)
