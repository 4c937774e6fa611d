"""Order books from the Map images of MarketByPrice and MarketByOrder items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .streams import MapImage

__all__ = ["Level", "OrderBook", "symbols"]


@dataclass(frozen=True, slots=True)
class Level:
    price: float
    size: float
    orders: int


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids (best first, highest price) and asks (best first, lowest price)."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @classmethod
    def from_map(cls, image: MapImage) -> OrderBook:
        """Aggregate price levels (MBP entries) or orders (MBO entries) by side and price."""
        sides: dict[str, dict[float, list[float]]] = {"BID": {}, "ASK": {}}
        for entry in image.entries.values():
            price = _num(entry.get("ORDER_PRC"))
            side = _side(entry.get("ORDER_SIDE"))
            if price is None or side is None:
                continue
            size = _num(entry.get("ACC_SIZE"))
            if size is None:
                size = _num(entry.get("ORDER_SIZE")) or 0.0
            count = entry.get("NO_ORD")
            lvl = sides[side].setdefault(price, [0.0, 0])
            lvl[0] += size
            lvl[1] += count if isinstance(count, int) else 1
        bids = tuple(
            Level(p, s, int(n)) for p, (s, n) in sorted(sides["BID"].items(), reverse=True)
        )
        asks = tuple(Level(p, s, int(n)) for p, (s, n) in sorted(sides["ASK"].items()))
        return cls(bids, asks)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _side(v: Any) -> str | None:
    if v in ("BID", "B", 1):
        return "BID"
    if v in ("ASK", "A", 2):
        return "ASK"
    return None


def symbols(image: MapImage) -> list[str]:
    """The names in a SymbolList map image (its Buffer keys, base64-decoded), sorted."""
    import base64
    import binascii

    out = []
    for key in image.entries:
        try:
            out.append(base64.b64decode(str(key), validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            out.append(str(key))
    return sorted(out)
