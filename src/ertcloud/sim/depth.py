"""Order books of the simulator: one book of orders per instrument, from which the
MarketByOrder entries, the aggregated MarketByPrice levels and the MarketMaker quotes are
all derived.

No I/O. A :class:`Book` follows the instrument's level-1 quote (:meth:`Book.sync`), so
its best bid and ask are always the ``BID`` and ``ASK`` of the MarketPrice image and the
size at each touch is ``BIDSIZE`` / ``ASKSIZE``; :meth:`Book.churn` adds, cancels and
resizes orders away from the touch. Every operation returns a :class:`BookDelta` holding
the map entries of the MarketByOrder and MarketByPrice updates that describe it, so a
consumer that applies them to the refresh image always holds the current book.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .market.table import TABLE

__all__ = ["ASK", "BID", "Book", "BookDelta", "Order", "level_key"]

BID = "B"
ASK = "A"
_SIDE_NAMES = {BID: "BID", ASK: "ASK"}
_MM_NAMES = TABLE.market_makers  # MMID -> MKT_MKR_NM
_MMIDS = tuple(_MM_NAMES)

Level = tuple[str, float]
Clock = Callable[[], tuple[str, int]]  # (date "YYYY-MM-DD", ms since midnight)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def level_key(price: float, side: str) -> str:
    """The MarketByPrice map key: base64 of the price with six decimals and the side
    letter (``50.510000A``)."""
    return _b64(f"{price:.6f}{side}")


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


@dataclass(slots=True)
class Order:
    """One resting order."""

    key: str
    order_id: str
    side: str
    price: float
    size: float
    mmid: str
    pr_ms: int
    pr_date: str

    def fields(self, dec: int) -> dict[str, Any]:
        return {
            "ORDER_ID": self.order_id,
            "ORDER_PRC": round(self.price, dec),
            "ORDER_SIDE": _SIDE_NAMES[self.side],
            "ORDER_SIZE": _num(self.size),
            "MMID": self.mmid,
            "PR_TIM_MS": self.pr_ms,
            "PR_DATE": self.pr_date,
        }


@dataclass
class BookDelta:
    """Map entries describing one change of a book, in the order to apply them."""

    mbo: list[dict[str, Any]] = field(default_factory=list)
    mbp: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.mbo or self.mbp)


class Book:
    """The order book of one instrument.

    ``tick`` and ``dec`` give the price grid, ``lot`` the size unit, ``depth`` the number
    of price levels kept on each side and ``orders_per_level`` the range of orders a new
    level gets.
    """

    def __init__(
        self,
        ric: str,
        *,
        tick: float,
        dec: int,
        lot: int,
        rng: random.Random,
        clock: Clock,
        depth: int = 20,
        orders_per_level: tuple[int, int] = (1, 15),
    ) -> None:
        self.ric = ric
        self.tick = tick
        self.dec = max(dec, 0)
        self.lot = max(lot, 1)
        self.rng = rng
        self.clock = clock
        self.depth = depth
        self.orders_per_level = orders_per_level
        self.orders: dict[str, Order] = {}
        self.levels: dict[Level, list[Order]] = {}
        self.level_time: dict[Level, tuple[str, int]] = {}
        self._seq = 0
        self._snap: dict[Level, dict[str, Any] | None] = {}
        self._mbo: list[dict[str, Any]] = []

    # -- queries -------------------------------------------------------------------------

    def prices(self, side: str) -> list[float]:
        """Price levels of one side, best first."""
        ps = [p for s, p in self.levels if s == side]
        ps.sort(reverse=side == BID)
        return ps

    def best(self, side: str) -> float | None:
        ps = self.prices(side)
        return ps[0] if ps else None

    def level_size(self, side: str, price: float) -> float:
        return sum(o.size for o in self.levels.get((side, price), ()))

    def level_fields(self, side: str, price: float) -> dict[str, Any]:
        orders = self.levels[(side, price)]
        day, ms = self.level_time.get((side, price), self.clock())
        return {
            "ORDER_PRC": round(price, self.dec),
            "ORDER_SIDE": _SIDE_NAMES[side],
            "NO_ORD": len(orders),
            "ACC_SIZE": _num(sum(o.size for o in orders)),
            "LV_TIM_MS": ms,
            "LV_DATE": day,
        }

    def mbp_entries(self) -> list[dict[str, Any]]:
        """The whole book as MarketByPrice ``Add`` entries: bids best first, then asks."""
        return [
            {"Action": "Add", "Key": level_key(p, side), "Fields": self.level_fields(side, p)}
            for side in (BID, ASK)
            for p in self.prices(side)
        ]

    def mbo_entries(self) -> list[dict[str, Any]]:
        """The whole book as MarketByOrder ``Add`` entries, in price-time priority."""
        return [
            {"Action": "Add", "Key": o.key, "Fields": o.fields(self.dec)}
            for side in (BID, ASK)
            for p in self.prices(side)
            for o in self.levels[(side, p)]
        ]

    def market_makers(self) -> dict[str, dict[str, Any]]:
        """Each participant's best bid and ask (with the size resting at that price)."""
        out: dict[str, dict[str, Any]] = {}
        for o in self.orders.values():
            q = out.setdefault(
                o.mmid,
                {
                    "MMID": o.mmid,
                    "MKT_MKR_NM": _MM_NAMES.get(o.mmid, o.mmid),
                    "BID": None,
                    "BIDSIZE": None,
                    "ASK": None,
                    "ASKSIZE": None,
                },
            )
            px, sz = ("BID", "BIDSIZE") if o.side == BID else ("ASK", "ASKSIZE")
            price = round(o.price, self.dec)
            cur = q[px]
            better = cur is None or (price > cur if o.side == BID else price < cur)
            if better:
                q[px] = price
                q[sz] = _num(o.size)
            elif price == cur:
                q[sz] = _num(q[sz] + o.size)
        return out

    # -- operations ----------------------------------------------------------------------

    def sync(self, bid: float, ask: float, bid_size: float, ask_size: float) -> BookDelta:
        """Make the touch equal the level-1 quote: best bid ``bid`` holding ``bid_size``,
        best ask ``ask`` holding ``ask_size``; levels that would cross are removed and the
        depth is refilled. A crossed or locked quote (``bid >= ask``) is ignored."""
        bid, ask = round(bid, 6), round(ask, 6)
        if not bid < ask or bid <= 0:
            return BookDelta()
        for side, p in list(self.levels):
            if (side == BID and p > bid) or (side == ASK and p < ask):
                self._remove_level(side, p)
        self._set_level_size(BID, bid, bid_size)
        self._set_level_size(ASK, ask, ask_size)
        self._refill()
        return self._finish()

    def churn(self, n: int = 1) -> BookDelta:
        """``n`` random order events away from the touch (add, cancel or resize)."""
        rng = self.rng
        for _ in range(n):
            side = BID if rng.random() < 0.5 else ASK
            ps = self.prices(side)
            if len(ps) < 2:
                continue
            p = ps[1 + int(rng.random() * (len(ps) - 1))]
            orders = self.levels[(side, p)]
            u = rng.random()
            if u < 0.4:
                self._add_order(side, p, self._lot_size())
            elif u < 0.8:
                self._remove_order(orders[int(rng.random() * len(orders))])
            else:
                o = orders[int(rng.random() * len(orders))]
                self._resize(o, self._lot_size())
        self._refill()
        return self._finish()

    def add_away(self) -> BookDelta:
        """One new order away from the touch. It only adds, so it can be sent between the
        parts of a refresh without contradicting the parts still to come."""
        side = BID if self.rng.random() < 0.5 else ASK
        ps = self.prices(side)
        if len(ps) >= 2:
            self._add_order(side, ps[1 + int(self.rng.random() * (len(ps) - 1))], self._lot_size())
        return self._finish()

    # -- internals -----------------------------------------------------------------------

    def _lot_size(self) -> int:
        return self.lot * (1 + int(self.rng.random() * 10))

    def _touch(self, lv: Level) -> None:
        if lv not in self._snap:
            self._snap[lv] = self.level_fields(*lv) if lv in self.levels else None
        self.level_time[lv] = self.clock()

    def _add_order(self, side: str, price: float, size: float) -> Order:
        self._seq += 1
        day, ms = self.clock()
        oid = f"{self._seq:09d}"
        key = _b64(f"{day[2:4]}{day[5:7]}{day[8:10]}{self._seq:012d}{side}")
        mmid = _MMIDS[int(self.rng.random() * len(_MMIDS))]
        o = Order(key, oid, side, price, size, mmid, ms, day)
        lv = (side, price)
        self._touch(lv)
        self.levels.setdefault(lv, []).append(o)
        self.orders[key] = o
        self._mbo.append({"Action": "Add", "Key": key, "Fields": o.fields(self.dec)})
        return o

    def _remove_order(self, o: Order) -> None:
        lv = (o.side, o.price)
        self._touch(lv)
        orders = self.levels[lv]
        orders.remove(o)
        if not orders:
            del self.levels[lv]
            self.level_time.pop(lv, None)
        del self.orders[o.key]
        self._mbo.append({"Action": "Delete", "Key": o.key})

    def _resize(self, o: Order, size: float) -> None:
        if size == o.size:
            return
        self._touch((o.side, o.price))
        o.size = size
        self._mbo.append({"Action": "Update", "Key": o.key, "Fields": {"ORDER_SIZE": _num(size)}})

    def _remove_level(self, side: str, price: float) -> None:
        for o in list(self.levels.get((side, price), ())):
            self._remove_order(o)

    def _set_level_size(self, side: str, price: float, size: float) -> None:
        size = max(float(size), 1.0)
        orders = self.levels.get((side, price))
        if not orders:
            for part in self._split(size):
                self._add_order(side, price, part)
            return
        total = sum(o.size for o in orders)
        while total > size:
            last = orders[-1]
            if total - last.size >= size and len(orders) > 1:
                self._remove_order(last)
                total -= last.size
            else:
                self._resize(last, last.size - (total - size))
                total = size
        if total < size:
            self._add_order(side, price, size - total)

    def _split(self, size: float) -> list[float]:
        """Split a level size into a few orders (whole lots where possible)."""
        lots = int(size // self.lot)
        k = min(1 + int(self.rng.random() * 4), max(lots, 1))
        if k <= 1:
            return [size]
        parts = [float(self.lot * (lots // k))] * (k - 1)
        return [*parts, size - sum(parts)]

    def _refill(self) -> None:
        rng = self.rng
        lo, hi = self.orders_per_level
        for side in (BID, ASK):
            ps = self.prices(side)
            while len(ps) > self.depth + 5:
                self._remove_level(side, ps.pop())
            while ps and len(ps) < self.depth:
                gap = self.tick * (1 + int(rng.random() * 2))
                p = round(ps[-1] - gap if side == BID else ps[-1] + gap, 6)
                if p <= 0:
                    break
                for _ in range(lo + int(rng.random() * (hi - lo + 1))):
                    self._add_order(side, p, self._lot_size())
                ps.append(p)

    def _finish(self) -> BookDelta:
        mbp: list[dict[str, Any]] = []
        for lv, before in self._snap.items():
            key = level_key(lv[1], lv[0])
            if lv not in self.levels:
                if before is not None:
                    mbp.append({"Action": "Delete", "Key": key})
                continue
            after = self.level_fields(*lv)
            if before is None:
                mbp.append({"Action": "Add", "Key": key, "Fields": after})
            else:
                changed = {k: v for k, v in after.items() if before.get(k) != v}
                if changed:
                    mbp.append({"Action": "Update", "Key": key, "Fields": changed})
        delta = BookDelta(self._mbo, mbp)
        self._snap = {}
        self._mbo = []
        return delta
