"""What the quote board shows, without any UI: per item the prices, the direction of the
last tick, a sparkline of recent prices and the stream state."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BoardItem", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int | None = None) -> str:
    """Values as a strip of block characters (lowest ▁, highest █; flat is ▄)."""
    if width is not None:
        values = values[-width:]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return _BARS[3] * len(values)
    scale = (len(_BARS) - 1) / (hi - lo)
    return "".join(_BARS[round((v - lo) * scale)] for v in values)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass
class BoardItem:
    """One row of the board."""

    ric: str
    fields: dict[str, Any] = field(default_factory=dict)
    state: str = "Pending"
    updates: int = 0
    #: field name -> +1 (last change up), -1 (down), 0 (unchanged or not a number)
    ticks: dict[str, int] = field(default_factory=dict)
    history: deque[float] = field(default_factory=lambda: deque(maxlen=40))

    def apply(self, changed: dict[str, Any], *, refresh: bool = False) -> None:
        """Take a Refresh (``refresh``: the whole image) or an Update's changed fields."""
        if refresh:
            self.fields = {}
            self.ticks = {}
        else:
            self.updates += 1
        for k, v in changed.items():
            old, new = _num(self.fields.get(k)), _num(v)
            if not refresh and old is not None and new is not None and new != old:
                self.ticks[k] = 1 if new > old else -1
            self.fields[k] = v
        price = self.price
        if price is not None and (refresh or any(k in changed for k in _PRICE_FIELDS)):
            self.history.append(price)

    @property
    def price(self) -> float | None:
        """The traded price, else the mid of BID/ASK."""
        last = _num(self.fields.get("TRDPRC_1"))
        if last is not None:
            return last
        bid, ask = _num(self.fields.get("BID")), _num(self.fields.get("ASK"))
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask

    def spark(self, width: int = 20) -> str:
        return sparkline(list(self.history), width)


_PRICE_FIELDS = ("TRDPRC_1", "BID", "ASK")
