"""The price process every simulated instrument shares: a seeded, mean-reverting random
walk of the mid price in log space, and a quote on the tick grid around it.

Each asset class subclasses :class:`PriceState` with the update its records publish
(:meth:`PriceState.step`).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any, ClassVar

from .records import DOWN, UP, Calendar, Instrument, Stamp

__all__ = ["PriceState", "decimals", "stable_seed"]


def stable_seed(seed: int, name: str) -> int:
    """A random-stream seed from the market seed and a name (a RIC), stable across runs."""
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def decimals(tick: float) -> int:
    """How many decimals prices on a grid of ``tick`` have."""
    if tick == int(tick):
        return 0
    for d in range(1, 10):
        if abs(round(tick, d) - tick) < 1e-12:
            return d
    return 9


class PriceState:
    """Generator state of one instrument (its image holds everything published): its own
    random stream (from the market seed and its RIC), the latent mid price, the quote in
    ticks and the running trade statistics."""

    kind: ClassVar[str] = ""

    __slots__ = (
        "ask_t",
        "bid_t",
        "dec",
        "hi_log",
        "inst",
        "kappa",
        "lo_log",
        "log_mid",
        "ref_log",
        "rng",
        "sigma",
        "size_lot",
        "tick",
        "trade_seq",
        "turnover",
    )

    def __init__(self, ric: str, seed: int, tick: float, ref: float) -> None:
        self.inst = Instrument(ric, self.kind, {})
        self.rng = random.Random(stable_seed(seed, ric))
        self.tick = tick
        self.dec = decimals(tick)
        self.sigma = 0.0004  # per-step volatility of the log mid price
        self.kappa = 0.002
        self.size_lot = 100
        self.trade_seq = 0
        self.turnover = 0.0
        self.bid_t = 0
        self.ask_t = 0
        self.ref_log = 0.0
        self.log_mid = 0.0
        self.lo_log = 0.0
        self.hi_log = 0.0
        self.anchor(ref)

    def step(self, cal: Calendar) -> tuple[str, dict[str, Any]]:
        """Advance one step: the update type and the fields the update carries (the image
        is updated in place, ripple fields included)."""
        img = self.inst.image
        utype, changed = self.update(img, cal.now())
        img.update(changed)
        return utype, changed

    def update(self, img: dict[str, Any], now: Stamp) -> tuple[str, dict[str, Any]]:
        """The next update of the asset class at ``now``: its type and changed fields.
        Ripple targets move in ``img``; the changed fields are merged by :meth:`step`."""
        raise NotImplementedError

    # -- the walk ------------------------------------------------------------------------

    def anchor(self, price: float) -> None:
        """Re-centre the walk on ``price`` (bounded to +-15% around it)."""
        self.ref_log = self.log_mid = math.log(price)
        self.lo_log = self.ref_log + math.log(0.85)
        self.hi_log = self.ref_log + math.log(1.15)

    def open_day(self, ref: float, close_dev: float, mid_dev: float) -> float:
        """Draw the previous close around ``ref``, anchor the walk on it and move the mid
        away from it; returns the close."""
        close = self.round_px(ref * math.exp(self.rng.gauss(0.0, close_dev)))
        self.anchor(close)
        self.log_mid += self.rng.gauss(0.0, mid_dev)
        return close

    def walk(self) -> float:
        """Advance the latent mid price one step and return it."""
        lm = self.log_mid
        lm += self.kappa * (self.ref_log - lm) + self.sigma * self.rng.gauss(0.0, 1.0)
        if lm < self.lo_log:
            lm = self.lo_log
        elif lm > self.hi_log:
            lm = self.hi_log
        self.log_mid = lm
        return math.exp(lm)

    # -- the quote -----------------------------------------------------------------------

    def spread(self) -> int:
        u = self.rng.random()
        if u < 0.6:
            return 1
        if u < 0.85:
            return 2
        if u < 0.95:
            return 3
        return 4 if u < 0.99 else 5

    def quote_ticks(self, mid: float) -> None:
        spread = self.spread()
        bid_t = round(mid / self.tick - spread / 2)
        if bid_t < 1:
            bid_t = 1
        self.bid_t = bid_t
        self.ask_t = bid_t + spread

    def px(self, ticks: int) -> float:
        return round(ticks * self.tick, self.dec)

    def round_px(self, price: float) -> float:
        return round(round(price / self.tick) * self.tick, self.dec)

    def quote_image(self) -> dict[str, Any]:
        """The quote fields of a Refresh: ``BID``/``ASK`` and their ripple levels (one tick
        around the current quote)."""
        rng = self.rng
        return {
            "BID": self.px(self.bid_t),
            "BID_1": self.px(self.bid_t + int(rng.random() * 3) - 1),
            "BID_2": self.px(self.bid_t + int(rng.random() * 3) - 1),
            "ASK": self.px(self.ask_t),
            "ASK_1": self.px(self.ask_t + int(rng.random() * 3) - 1),
            "ASK_2": self.px(self.ask_t + int(rng.random() * 3) - 1),
        }

    def requote(self, img: dict[str, Any], ch: dict[str, Any]) -> tuple[float, float]:
        """Move the quote: new BID/ASK into ``ch``, ripples into ``img``."""
        old_bid_t = self.bid_t
        self.quote_ticks(self.walk())
        bid = self.px(self.bid_t)
        ask = self.px(self.ask_t)
        img["BID_2"] = img.get("BID_1")
        img["BID_1"] = img.get("BID")
        img["ASK_2"] = img.get("ASK_1")
        img["ASK_1"] = img.get("ASK")
        ch["BID"] = bid
        ch["ASK"] = ask
        if self.bid_t != old_bid_t:
            ch["BID_TICK_1"] = UP if self.bid_t > old_bid_t else DOWN
        return bid, ask
