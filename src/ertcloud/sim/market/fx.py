"""FX spot: a contributed rate (bid/ask/mid with their day ranges); it only quotes, and a
third of its quotes come from another contributor.
"""

from __future__ import annotations

import math
from typing import Any

from .process import PriceState
from .records import DOWN, UP, Calendar, Stamp, change_from_close, count, extend_ranges, roll_date
from .table import TABLE, Contributor, FxSpec

__all__ = ["FX", "FxState", "build"]

FX = "fx"


def _contributor(c: Contributor) -> dict[str, Any]:
    return {
        "CTBTR_1": c.name,
        "CTB_LOC1": c.location,
        "CTB_PAGE1": c.page,
        "DLG_CODE1": c.code,
        "DSPLY_NAME": f"{c.name} {c.location}"[:16],
    }


def _changes(net: float, pct: float) -> dict[str, Any]:
    return {"NETCHNG_1": net, "PCTCHNG": pct, "BID_NET_CH": net, "BIDPCTCHNG": pct}


class FxState(PriceState):
    """An FX rate's price process."""

    kind = FX
    __slots__ = ()

    def update(self, img: dict[str, Any], now: Stamp) -> tuple[str, dict[str, Any]]:
        dstr, hms, ms = now
        ch: dict[str, Any] = {}
        bid, ask = self.requote(img, ch)
        mid = round((bid + ask) / 2, self.dec + 1)
        ch["PRIMACT_1"] = bid
        ch["MID_PRICE"] = mid
        change = change_from_close(img, bid, self.dec)
        if change is not None:
            ch.update(_changes(*change))
        rng = self.rng
        if rng.random() < 0.3:
            ch.update(_contributor(TABLE.contributors[int(rng.random() * len(TABLE.contributors))]))
        ch["VALUE_TS1"] = hms
        ch["TIMACT"] = hms
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        ch["ACVOL_1"] = ch["NUM_MOVES"] = count(img, "ACVOL_1")
        extend_ranges(
            img,
            ch,
            (
                ("HIGH_1", bid, True),
                ("LOW_1", bid, False),
                ("BID_HIGH_1", bid, True),
                ("BID_LOW_1", bid, False),
                ("ASK_HIGH_1", ask, True),
                ("ASK_LOW_1", ask, False),
                ("MID_HIGH", mid, True),
                ("MID_LOW", mid, False),
            ),
        )
        roll_date(img, ch, dstr, "QUOTE_DATE", "VALUE_DT1", "ACTIV_DATE")
        return "Quote", ch


def build(spec: FxSpec, seed: int, cal: Calendar) -> FxState:
    """The price process and Refresh image of an FX rate."""
    tick = spec.tick
    st = FxState(spec.ric, seed, tick, spec.price)
    rng = st.rng
    st.sigma = 0.00012
    hst = st.open_day(spec.price, 0.004, 0.002)
    st.quote_ticks(math.exp(st.log_mid))
    bid, ask = st.px(st.bid_t), st.px(st.ask_t)
    open_bid = st.round_px(hst * math.exp(rng.gauss(0.0, 0.001)))
    hi = st.round_px(max(bid, open_bid) + tick * int(rng.random() * 40))
    lo = st.round_px(min(bid, open_bid) - tick * int(rng.random() * 40))
    dec = st.dec
    ctb = TABLE.contributors[int(rng.random() * len(TABLE.contributors))]
    quotes = 20_000 + int(rng.random() * spec.weight * 20_000)
    yrhigh = st.round_px(max(hi, hst * (1.03 + rng.random() * 0.08)))
    yrlow = st.round_px(min(lo, hst * (0.89 + rng.random() * 0.08)))
    d, hms, _ = cal.opened
    # Draws from ``rng`` below happen in this order: keep it (same seed, same records).
    values: dict[str, Any] = {
        "CURRENCY": spec.currency,
        "BASE_CCY": spec.base,
        "TRD_UNITS": TABLE.units(dec),
        **cal.activity(),
        **st.quote_image(),
        "PRIMACT_1": bid,
        "MID_PRICE": round((bid + ask) / 2, dec + 1),
        **_changes(round(bid - hst, dec), round((bid / hst - 1.0) * 100.0, 2)),
        "BID_TICK_1": UP if rng.random() < 0.5 else DOWN,
        "OPEN_PRC": open_bid,
        "OPEN_BID": open_bid,
        "OPEN_ASK": st.round_px(open_bid + 2 * tick),
        "HIGH_1": hi,
        "LOW_1": lo,
        "BID_HIGH_1": hi,
        "BID_LOW_1": lo,
        "ASK_HIGH_1": st.round_px(hi + tick),
        "ASK_LOW_1": st.round_px(lo + tick),
        "MID_HIGH": round(hi + tick / 2, dec + 1),
        "MID_LOW": round(lo + tick / 2, dec + 1),
        **cal.close(hst),
        "CLOSE_BID": hst,
        "CLOSE_ASK": st.round_px(hst + 2 * tick),
        "HST_CLSBID": hst,
        "BID_ASK_DT": cal.prev,
        **_contributor(ctb),
        "VALUE_TS1": hms,
        "VALUE_DT1": d,
        **cal.quote_time(),
        "ACVOL_1": quotes,
        "NUM_MOVES": quotes,
        **cal.year_range(rng, yrhigh, yrlow),
    }
    st.inst.image = TABLE.field_sets[FX].image(values)
    return st
