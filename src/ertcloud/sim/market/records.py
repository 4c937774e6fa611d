"""What the records of every asset class share: the instrument record itself, the market's
calendar (time stamps), the field blocks of a Refresh image and the field rules of an
update (trade-price ripple, day range, change from the close, counters, date roll).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

__all__ = [
    "DOWN",
    "UP",
    "Calendar",
    "Instrument",
    "Stamp",
    "change_from_close",
    "count",
    "extend_ranges",
    "last_tick",
    "new_last",
    "number",
    "positive",
    "ripple_trades",
    "roll_date",
    "trade_history",
]

UP = "⇧"
DOWN = "⇩"
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MS_PER_DAY = 86_400_000


@dataclass(slots=True)
class Instrument:
    """One instrument: its RIC, its kind (``equity``, ``fx``, ``index``, ``bond``) and the
    full field image (field name -> JSON value, ``None`` for a blank field), in the order
    a Refresh lists them."""

    ric: str
    kind: str
    image: dict[str, Any]


class Stamp(NamedTuple):
    """A point in time as records carry it."""

    date: str  # "YYYY-MM-DD"
    time: str  # "HH:MM:SS"
    ms: int  # since midnight (UTC)


def _prev_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


class Calendar:
    """The market's clock (``clock``: epoch seconds, UTC) and its trading dates, fixed at
    construction: today and the previous weekday (the last close)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._tsec = -1
        self._tday = -1
        self._hms = ""
        self._date = ""
        now = clock()
        self.today = date.fromordinal(_EPOCH_ORDINAL + int(now // 86400))
        self.prev = _prev_weekday(self.today).isoformat()
        #: the stamp of the market's construction (the Refresh images)
        self.opened = self.at(now)

    def now(self) -> Stamp:
        """The current stamp (reads the clock once)."""
        return self.at(self.clock())

    def at(self, t: float) -> Stamp:
        """The stamp of epoch seconds ``t``."""
        ms_total = math.floor(t * 1000)
        sec = ms_total // 1000
        if sec != self._tsec:
            self._tsec = sec
            day, sod = divmod(sec, 86400)
            h, rem = divmod(sod, 3600)
            m, s = divmod(rem, 60)
            self._hms = f"{h:02d}:{m:02d}:{s:02d}"
            if day != self._tday:
                self._tday = day
                self._date = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
        return Stamp(self._date, self._hms, ms_total % _MS_PER_DAY)

    def days_ago(self, rng: random.Random, lo: int, hi: int) -> str:
        """A date between ``lo`` and ``hi`` days before today, drawn from ``rng``."""
        return (self.today - timedelta(days=lo + int(rng.random() * (hi - lo)))).isoformat()

    # -- Refresh field blocks ------------------------------------------------------------

    def year_range(self, rng: random.Random, high: float, low: float) -> dict[str, Any]:
        """``YRHIGH``/``YRLOW`` and their dates."""
        return {
            "YRHIGH": high,
            "YRLOW": low,
            "YRHIGHDAT": self.days_ago(rng, 5, 180),
            "YRLOWDAT": self.days_ago(rng, 180, 360),
        }

    def close(self, price: float) -> dict[str, Any]:
        """The previous close: ``HST_CLOSE`` and ``HSTCLSDATE``."""
        return {"HST_CLOSE": price, "HSTCLSDATE": self.prev}

    def quote_time(self) -> dict[str, Any]:
        """``QUOTIM``, ``QUOTIM_MS`` and ``QUOTE_DATE`` of the opening stamp."""
        d, hms, ms = self.opened
        return {"QUOTIM": hms, "QUOTIM_MS": ms, "QUOTE_DATE": d}

    def sale_time(self) -> dict[str, Any]:
        """``TRDTIM_1``, ``TRADE_DATE``, ``SALTIM`` and ``SALTIM_MS`` of the opening stamp."""
        d, hms, ms = self.opened
        return {"TRDTIM_1": hms, "TRADE_DATE": d, "SALTIM": hms, "SALTIM_MS": ms}

    def activity(self) -> dict[str, Any]:
        """``TIMACT`` and ``ACTIV_DATE`` of the opening stamp."""
        return {"TIMACT": self.opened.time, "ACTIV_DATE": self.opened.date}


def trade_history(prices: list[float]) -> dict[str, Any]:
    """``TRDPRC_1`` ... ``TRDPRC_5`` (latest first) and the tick of the latest."""
    out: dict[str, Any] = {f"TRDPRC_{i}": p for i, p in enumerate(prices[:5], 1)}
    out["PRCTCK_1"] = UP if prices[0] >= prices[1] else DOWN
    return out


# -- update rules ------------------------------------------------------------------------


def positive(v: object) -> float | None:
    """``v`` as a float if it is a finite positive number, else None."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
        return float(v)
    return None


def number(v: object, default: float) -> float:
    """``v`` as a float if it is a finite number, else ``default``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return default


def count(img: dict[str, Any], key: str, by: int = 1) -> int:
    """The counter ``key`` of the image (0 if unset) plus ``by``."""
    return int(number(img.get(key), 0.0)) + by


def ripple_trades(img: dict[str, Any]) -> Any:
    """Shift ``TRDPRC_1`` .. ``TRDPRC_4`` one place down the chain; returns the old last."""
    prev = img.get("TRDPRC_1")
    img["TRDPRC_5"] = img.get("TRDPRC_4")
    img["TRDPRC_4"] = img.get("TRDPRC_3")
    img["TRDPRC_3"] = img.get("TRDPRC_2")
    img["TRDPRC_2"] = prev
    return prev


def last_tick(ch: dict[str, Any], prev: object, price: float) -> float | None:
    """Set ``PRCTCK_1`` if ``price`` moved from the previous last; returns that last."""
    last = positive(prev)
    if last is not None and price != last:
        ch["PRCTCK_1"] = UP if price > last else DOWN
    return last


def change_from_close(img: dict[str, Any], price: float, dec: int) -> tuple[float, float] | None:
    """Net and percent change of ``price`` from the image's ``HST_CLOSE`` (None without)."""
    hst = positive(img.get("HST_CLOSE"))
    if hst is None:
        return None
    return round(price - hst, dec), round((price / hst - 1.0) * 100.0, 2)


def extend_ranges(
    img: dict[str, Any], ch: dict[str, Any], ranges: Iterable[tuple[str, float, bool]]
) -> None:
    """For each ``(field, value, high)``: a new high (or low) of the day into ``ch``."""
    for key, value, high in ranges:
        cur = img.get(key)
        if not isinstance(cur, (int, float)) or (value > cur if high else value < cur):
            ch[key] = value


def new_last(
    img: dict[str, Any], ch: dict[str, Any], prev: object, price: float, dec: int
) -> float | None:
    """A new last price (trade or index level) into ``ch``: its tick against the previous
    last ``prev``, the change from the close and the day's range. Returns the previous last
    (None without one)."""
    last = last_tick(ch, prev, price)
    change = change_from_close(img, price, dec)
    if change is not None:
        ch["NETCHNG_1"], ch["PCTCHNG"] = change
    extend_ranges(img, ch, (("HIGH_1", price, True), ("LOW_1", price, False)))
    return last


def roll_date(img: dict[str, Any], ch: dict[str, Any], today: str, *keys: str) -> None:
    """On the first update of a new day (``keys[0]`` of the image is not ``today``), every
    date field of ``keys`` into ``ch``."""
    if img.get(keys[0]) != today:
        for key in keys:
            ch[key] = today
