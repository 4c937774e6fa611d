"""Government bonds: a price quote with its yields (from a duration/convexity expansion
around the reference yield), accrued interest and risk figures; bonds only quote.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from .codes import cusip, isin_of
from .process import PriceState
from .records import DOWN, UP, Calendar, Stamp, change_from_close, extend_ranges, roll_date
from .table import TABLE, BondSpec

__all__ = ["BOND", "BondState", "bond_price", "build"]

BOND = "bond"


def bond_price(coupon: float, yld: float, periods: float) -> float:
    """Clean price per 100 of a semi-annual bond on a coupon date."""
    c = coupon / 2.0
    r = yld / 200.0
    n = max(1, round(periods))
    disc = (1.0 + r) ** -n
    return c * (1.0 - disc) / r + 100.0 * disc if r else c * n + 100.0


class BondState(PriceState):
    """A bond's price process and the terms its yields are computed from."""

    kind = BOND
    __slots__ = ("accr", "conv", "dur", "p0", "y0")

    def __init__(self, spec: BondSpec, seed: int, periods: float, accrued: float) -> None:
        p0 = bond_price(spec.coupon, spec.yld, periods)
        super().__init__(spec.ric, seed, spec.tick, p0)
        up = bond_price(spec.coupon, spec.yld - 0.01, periods)
        down = bond_price(spec.coupon, spec.yld + 0.01, periods)
        self.sigma = 0.00008 * math.sqrt(spec.tenor)
        self.p0 = p0
        self.y0 = spec.yld
        self.dur = (up - down) / (2 * p0 * 0.0001)  # modified duration, years
        self.conv = (up + down - 2 * p0) / (p0 * 0.0001**2)
        self.accr = accrued

    def yield_of(self, price: float) -> float:
        """Yield (percent) of a price, from the duration/convexity expansion."""
        x = price / self.p0 - 1.0
        d, c = self.dur, self.conv
        disc = d * d + 2.0 * c * x
        dy = (d - math.sqrt(disc)) / c if disc > 0 and c > 0 else -x / d
        return round(self.y0 + dy * 100.0, 4)

    def analytics(self, bid: float, ask: float) -> dict[str, Any]:
        """The mid price and the yields and prices that follow from a quote."""
        mid = round((bid + ask) / 2, self.dec + 1)
        my = self.yield_of(mid)
        return {
            "MID_PRICE": mid,
            "PRIMACT_1": bid,
            "B_YLD_1": self.yield_of(bid),
            "A_YLD_1": self.yield_of(ask),
            "MID_YLD_1": my,
            "YLDTOMAT": my,
            "CLEAN_PRC": mid,
            "DIRTY_PRC": round(mid + self.accr, 6),
        }

    def update(self, img: dict[str, Any], now: Stamp) -> tuple[str, dict[str, Any]]:
        dstr, hms, ms = now
        ch: dict[str, Any] = {}
        bid, ask = self.requote(img, ch)
        ch.update(self.analytics(bid, ask))
        change = change_from_close(img, bid, self.dec)
        if change is not None:
            ch["NETCHNG_1"], ch["PCTCHNG"] = change
            ch["BID_NET_CH"] = change[0]
        extend_ranges(img, ch, (("HIGH_1", bid, True), ("LOW_1", bid, False)))
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        ch["TIMACT"] = hms
        roll_date(img, ch, dstr, "QUOTE_DATE", "ACTIV_DATE")
        return "Quote", ch


def build(spec: BondSpec, seed: int, cal: Calendar) -> BondState:
    """The price process and Refresh image of a bond issued on its coupon date of the last
    twelve months."""
    today = cal.today
    issue = date(today.year, spec.month, spec.day)
    if issue > today:
        issue = date(today.year - 1, spec.month, spec.day)
    matur = date(issue.year + spec.tenor, spec.month, spec.day)
    accrued = round(spec.coupon / 2 * ((today - issue).days % 182) / 182, 6)
    st = BondState(spec, seed, spec.tenor * 2.0, accrued)
    rng = st.rng
    tick = st.tick
    hst = st.round_px(st.p0 * math.exp(rng.gauss(0.0, 0.001)))
    st.log_mid = math.log(st.p0) + rng.gauss(0.0, 0.001)
    st.quote_ticks(math.exp(st.log_mid))
    bid, ask = st.px(st.bid_t), st.px(st.ask_t)
    analytics = st.analytics(bid, ask)
    mid = analytics["MID_PRICE"]
    open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.0005)))
    hi = st.round_px(max(bid, open_) + tick * int(rng.random() * 10))
    lo = st.round_px(min(bid, open_) - tick * int(rng.random() * 10))
    nsin = "".join(str(int(rng.random() * 10)) for _ in range(9))
    if spec.country == "US":
        nsin = cusip("91282C" + nsin[:2])
    elif spec.country == "GB":
        nsin = "00B" + nsin[:6]
    net = round(bid - hst, st.dec)
    # Draws from ``rng`` below happen in this order: keep it (same seed, same records).
    values: dict[str, Any] = {
        "DSPLY_NAME": f"{spec.issuer} {spec.coupon:g} {matur:%m/%y}",
        "CURRENCY": spec.currency,
        "ISIN_CODE": isin_of(spec.country, nsin),
        "COUPN_RATE": spec.coupon,
        "ISSUE_DATE": issue.isoformat(),
        "MATUR_DATE": matur.isoformat(),
        "AMT_OS": float(40_000 + int(rng.random() * 40) * 1000) * 1e6,
        **st.quote_image(),
        **analytics,
        "BID_TICK_1": UP if rng.random() < 0.5 else DOWN,
        "ACCR_INT": st.accr,
        "MOD_DURTN": round(st.dur, 4),
        "CONVEXITY": round(st.conv, 4),
        "BPV": round(st.dur * (mid + st.accr) * 1e-4, 6),
        "SWAP_SPRD": round(rng.gauss(-30.0, 10.0), 1) if spec.currency == "USD" else None,
        "NETCHNG_1": net,
        "PCTCHNG": round((bid / hst - 1.0) * 100.0, 2),
        "BID_NET_CH": net,
        "OPEN_PRC": open_,
        "HIGH_1": hi,
        "LOW_1": lo,
        **cal.close(hst),
        "CLOSE_BID": hst,
        "CLOSE_ASK": st.round_px(hst + tick),
        **cal.quote_time(),
        **cal.activity(),
    }
    st.inst.image = TABLE.field_sets[BOND].image(values)
    return st
