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
from the market up front and encoded once into a pool of ready WebSocket frames, which is
written in large chunks straight to the transport, so the cost per message is the kernel's
copy; with ``Stamp`` each message gets its stamp as its frame is built. A paced stream
(``Rate``) sends each frame when it is due, not in bursts.
When done the server answers with a Generic in that domain whose Elements hold ``Sent``,
``Bytes`` and ``Seconds``.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import struct
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol import codec
from ..protocol.messages import Generic, Key, Update

if TYPE_CHECKING:
    from .ads import ClientSession, StreamingServer
    from .market import Market

__all__ = [
    "BENCH_DOMAIN",
    "BenchSpec",
    "Target",
    "bench_ric",
    "ensure_universe",
    "handle",
    "update_pool",
    "ws_frame",
]

BENCH_DOMAIN = 251
_POOL_MESSAGES = 4096
_HIGH_WATER = 4 * 1024 * 1024
_CHUNK = 256 * 1024
_PR_SET_TIMERSLACK = 29


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
                raise ValueError(f"bench {name} must be a number in [{lo:g}, {hi:g}]")
            return float(v)

        domain = el.get("Domain", "MarketPrice")
        if domain not in ("MarketPrice", "MarketByPrice"):
            raise ValueError("bench Domain must be MarketPrice or MarketByPrice")
        scope = el.get("Scope", "self")
        if scope not in ("self", "others"):
            raise ValueError("bench Scope must be self or others")
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


def ws_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked WebSocket TEXT frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


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


def _frames(msgs: list[bytes], per_frame: int) -> tuple[bytes, int]:
    """The pool as one buffer of whole frames (a multiple of ``per_frame`` messages)."""
    usable = len(msgs) - len(msgs) % per_frame or len(msgs)
    parts = [
        ws_frame(b"[" + b",".join(msgs[i : i + per_frame]) + b"]")
        for i in range(0, usable, per_frame)
    ]
    return b"".join(parts), len(parts) * per_frame


class _Writer:
    """Writes whole frames to the connection: raw transport when available, else ``send``."""

    def __init__(self, cs: ClientSession) -> None:
        self.cs = cs
        self.transport: asyncio.WriteTransport | None = _transport_of(cs)
        self.bytes = 0

    async def write(self, frames: bytes | memoryview, payloads: list[bytes] | None = None) -> None:
        t = self.transport
        if t is not None:
            if t.is_closing():
                raise ConnectionError("connection closed")
            while t.get_write_buffer_size() > _HIGH_WATER:
                await asyncio.sleep(0.0005)
                if t.is_closing():
                    raise ConnectionError("connection closed")
            t.write(frames)
        else:
            for p in payloads or ():
                await self.cs._send(p)
        self.bytes += len(frames)


def _transport_of(cs: ClientSession) -> asyncio.WriteTransport | None:
    t = cs.transport
    return t if isinstance(t, asyncio.WriteTransport) else None


async def _stream(server: StreamingServer, cs: ClientSession, spec: BenchSpec) -> dict[str, Any]:
    if not cs.streams:
        return {"Sent": 0, "Bytes": 0, "Seconds": 0.0, "Text": "no open streams"}
    msgs = _pool(server, cs, spec)
    w = _Writer(cs)
    sent = 0
    limit = spec.messages or 1 << 62
    start = time.monotonic()
    deadline = start + spec.seconds if spec.seconds > 0 else float("inf")
    try:
        if spec.rate <= 0 and not spec.stamp and w.transport is not None:
            buf, _ = _frames(msgs, spec.per_frame)
            view = memoryview(buf)
            chunks = [(view[a:b], n) for a, b, n in _frame_cuts(msgs, spec.per_frame, _CHUNK)]
            while sent < limit and time.monotonic() < deadline and not cs.closed:
                for chunk, n in chunks:
                    if limit - sent < n:
                        break
                    await w.write(chunk)
                    sent += n
                else:
                    await asyncio.sleep(0)
                    continue
                break
            if sent < limit and time.monotonic() < deadline:  # the rest, frame by frame
                sent += await _paced(cs, spec, msgs, w, limit - sent, deadline)
        else:
            sent = await _paced(cs, spec, msgs, w, limit, deadline)
    except (ConnectionError, RuntimeError):
        pass
    return {"Sent": sent, "Bytes": w.bytes, "Seconds": round(time.monotonic() - start, 6)}


def _frame_cuts(msgs: list[bytes], k: int, chunk: int) -> list[tuple[int, int, int]]:
    cuts: list[tuple[int, int, int]] = []
    pos = start = n = 0
    usable = len(msgs) - len(msgs) % k or len(msgs)
    for i in range(0, usable, k):
        part = msgs[i : i + k]
        payload = 2 + sum(map(len, part)) + len(part) - 1
        pos += payload + (2 if payload < 126 else 4 if payload < 65536 else 10)
        n += len(part)
        if pos - start >= chunk:
            cuts.append((start, pos, n))
            start, n = pos, 0
    if pos > start:
        cuts.append((start, pos, n))
    return cuts


def _fine_timers() -> None:
    """Let this thread's short sleeps end when asked (Linux pads each by 50 us by default,
    which would send a 20k/s stream in pairs of frames). Best effort, elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


async def _paced(
    cs: ClientSession,
    spec: BenchSpec,
    msgs: list[bytes],
    w: _Writer,
    limit: int,
    deadline: float,
) -> int:
    stamped = [m[:-1] + b',"SimTs":' for m in msgs] if spec.stamp else None
    if spec.rate > 0:
        _fine_timers()
    k = spec.per_frame
    rate = spec.rate if spec.rate > 0 else 1e12
    sent = 0
    i = 0
    n_msgs = len(msgs)
    now_ns = time.time_ns
    start = time.monotonic()
    while sent < limit and not cs.closed:
        now = time.monotonic()
        if now >= deadline:
            break
        due = min(int((now - start) * rate) - sent, 4096)
        due = limit - sent if due >= limit - sent else due - due % k  # whole frames
        if due <= 0:
            # The event loop cannot sleep less than a millisecond (epoll), which would send
            # a paced stream in bursts; a wait under 2 ms is a short blocking sleep, so that
            # frames leave one by one, on time. (Spinning instead would keep a core busy
            # and, on a VM with a CPU quota, get both processes throttled.)
            wait = start + (sent + k) / rate - now
            if wait > 0.002:
                await asyncio.sleep(wait - 0.0015)
            else:
                time.sleep(max(0.0, wait))  # noqa: ASYNC251  (under 2 ms, on purpose)
            continue
        frames: list[bytes] = []
        payloads: list[bytes] = []
        while due > 0:
            kk = min(k, due)  # only the last frame of a Messages limit can be short
            if stamped is not None:
                ts = b"%d}" % now_ns()
                part = [stamped[(i + j) % n_msgs] + ts for j in range(kk)]
            else:
                part = [msgs[(i + j) % n_msgs] for j in range(kk)]
            payload = b"[" + b",".join(part) + b"]"
            frame = ws_frame(payload)
            i += kk
            sent += kk
            due -= kk
            frames.append(frame)
            payloads.append(payload)
        if frames:
            await w.write(b"".join(frames), payloads)
        await asyncio.sleep(0)
    return sent


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
