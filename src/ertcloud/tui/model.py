"""What the quote board shows, without any UI: per item the prices, the direction of the
last tick, a sparkline of recent prices, the stream's status (and why it is not Ok), when
it last changed, and whether its image is stale (the connection was lost since)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BoardItem", "decimals_of", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
#: fields whose decimals tell how an instrument is quoted
_QUOTED = ("BID", "ASK", "TRDPRC_1", "HST_CLOSE", "OPEN_PRC", "HIGH_1", "LOW_1")


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


def decimals_of(v: Any) -> int:
    """Decimal places of a price as sent (``1.0834`` -> 4; ``173.4`` -> 1; ints -> 0)."""
    if isinstance(v, bool) or not isinstance(v, float):
        return 0
    text = repr(v)
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".", 1)[1].rstrip("0"))


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


@dataclass
class BoardItem:
    """One row of the board."""

    ric: str
    fields: dict[str, Any] = field(default_factory=dict)
    #: "Pending", "Ok", or why not: the status code ("NotFound", "NotEntitled"...), else
    #: the data state ("Suspect") or "Closed"
    status: str = "Pending"
    #: the full state as the server gave it ("Closed/Suspect NotFound: ...")
    state: str = "Pending"
    #: True from a lost connection until the item's next Refresh: the prices may be old
    stale: bool = False
    updates: int = 0
    #: wall-clock time (s since the epoch) of the last Refresh or Update
    last_update: float | None = None
    #: decimal places the instrument is quoted with (at least 2)
    decimals: int = 2
    #: field name -> +1 (last change up), -1 (down), 0 (unchanged or not a number)
    ticks: dict[str, int] = field(default_factory=dict)
    history: deque[float] = field(default_factory=lambda: deque(maxlen=40))

    def apply(
        self, changed: dict[str, Any], *, refresh: bool = False, now: float | None = None
    ) -> None:
        """Take a Refresh (``refresh``: the whole image) or an Update's changed fields."""
        if refresh:
            self.fields = {}
            self.ticks = {}
            self.stale = False
        else:
            self.updates += 1
        self.last_update = time.time() if now is None else now
        for k, v in changed.items():
            old, new = _num(self.fields.get(k)), _num(v)
            if not refresh and old is not None and new is not None and new != old:
                self.ticks[k] = 1 if new > old else -1
            self.fields[k] = v
            if k in _QUOTED:
                self.decimals = min(6, max(self.decimals, decimals_of(v)))
        price = self.price
        if price is not None and (refresh or any(k in changed for k in _PRICE_FIELDS)):
            self.history.append(price)

    def set_state(
        self, stream: str, data: str, code: str | None = None, text: str | None = None
    ) -> None:
        """Take the stream state of a Refresh or Status."""
        self.state = f"{stream}/{data}"
        if code and code != "None":
            self.state += f" {code}"
        if text and data != "Ok":
            self.state += f": {text}"
        if stream == "Open" and data == "Ok":
            self.status = "Ok"
        elif code and code != "None":
            self.status = code
        elif stream != "Open":
            self.status = stream  # Closed, ClosedRecover, NonStreaming
        else:
            self.status = data

    def mark_stale(self) -> None:
        """The connection was lost: the image holds until the item's next Refresh."""
        if self.status not in ("Pending",) and not self.closed:
            self.stale = True

    @property
    def closed(self) -> bool:
        return self.state.startswith("Closed")

    @property
    def shown_status(self) -> str:
        return "Stale" if self.stale and self.status == "Ok" else self.status

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

    @property
    def change(self) -> float | None:
        """Net change on the day (NETCHNG_1)."""
        return _num(self.fields.get("NETCHNG_1"))

    @property
    def pct_change(self) -> float | None:
        """% change on the day: PCTCHNG, else from the net change and the price."""
        pct = _num(self.fields.get("PCTCHNG"))
        if pct is not None:
            return pct
        chg, price = self.change, self.price
        if chg is None or price is None or price - chg == 0:
            return None
        return chg / (price - chg) * 100.0

    def spark(self, width: int = 20) -> str:
        return sparkline(list(self.history), width)


_PRICE_FIELDS = ("TRDPRC_1", "BID", "ASK")
