"""Indices: a level with no quote, published as trade-like value updates, and the market
breadth of its constituents (issues and volume advancing, declining, unchanged).
"""

from __future__ import annotations

import math
from typing import Any

from .process import PriceState
from .records import Calendar, Stamp, count, new_last, ripple_trades, roll_date, trade_history
from .table import TABLE, IndexSpec

__all__ = ["INDEX", "IndexState", "build"]

INDEX = "index"


class IndexState(PriceState):
    """An index level's process."""

    kind = INDEX
    __slots__ = ()

    def update(self, img: dict[str, Any], now: Stamp) -> tuple[str, dict[str, Any]]:
        dstr, hms, ms = now
        rng = self.rng
        level = self.round_px(self.walk())
        prev = ripple_trades(img)
        ch: dict[str, Any] = {"TRDPRC_1": level}
        last = new_last(img, ch, prev, level, self.dec)
        up = last is None or level >= last
        ch["TRDTIM_1"] = hms
        ch["SALTIM"] = hms
        ch["SALTIM_MS"] = ms
        ch["TIMACT"] = hms
        ch["NUM_MOVES"] = count(img, "NUM_MOVES")
        dv = int(rng.random() * 200_000) + 1
        ch["ACVOL_1"] = count(img, "ACVOL_1", dv)
        vkey = "VOLUME_ADV" if up else "VOLUME_DEC"
        ch[vkey] = count(img, vkey, dv)
        if rng.random() < 0.25:  # a constituent changes side
            src, dst = ("ISSUES_DEC", "ISSUES_ADV") if up else ("ISSUES_ADV", "ISSUES_DEC")
            if rng.random() < 0.2:
                src = "ISSUES_UNC"
            n_src = count(img, src, 0)
            if n_src > 0:
                ch[src] = n_src - 1
                ch[dst] = count(img, dst)
        if rng.random() < 0.01:
            key = "NEW_HIGHS" if up else "NEW_LOWS"
            ch[key] = count(img, key)
        roll_date(img, ch, dstr, "TRADE_DATE", "ACTIV_DATE")
        return "Trade", ch


def build(spec: IndexSpec, seed: int, cal: Calendar) -> IndexState:
    """The process and Refresh image of an index."""
    st = IndexState(spec.ric, seed, TABLE.index_tick, spec.price)
    rng = st.rng
    st.sigma = 0.00015
    hst = st.open_day(spec.price, 0.01, 0.004)
    level = st.round_px(math.exp(st.log_mid))
    prev = [st.round_px(level * math.exp(rng.gauss(0.0, 0.0002))) for _ in range(4)]
    open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.002)))
    hi = st.round_px(max(level, open_, *prev) * (1 + rng.random() * 0.002))
    lo = st.round_px(min(level, open_, *prev) * (1 - rng.random() * 0.002))
    members = spec.members
    adv = int(members * (0.3 + rng.random() * 0.4))
    unc = int((members - adv) * rng.random() * 0.1)
    dec_n = members - adv - unc
    vol = int(spec.weight * 1e8 * (0.3 + rng.random()))
    yrhigh = st.round_px(max(hi, hst * (1.02 + rng.random() * 0.1)))
    yrlow = st.round_px(min(lo, hst * (0.75 + rng.random() * 0.15)))
    # Draws from ``rng`` below happen in this order: keep it (same seed, same records).
    values: dict[str, Any] = {
        "DSPLY_NAME": spec.name,
        "RDN_EXCHID": spec.exchange,
        "RDN_EXCHD2": spec.exchange,
        "CURRENCY": spec.currency,
        **trade_history([level, *prev]),
        "NETCHNG_1": round(level - hst, 2),
        "PCTCHNG": round((level / hst - 1.0) * 100.0, 2),
        "OPEN_PRC": open_,
        "HIGH_1": hi,
        "LOW_1": lo,
        **cal.close(hst),
        **cal.sale_time(),
        **cal.activity(),
        "ACVOL_1": vol,
        "NUM_MOVES": 1000 + int(rng.random() * 5000),
        **cal.year_range(rng, yrhigh, yrlow),
        "ISSUES_ADV": adv,
        "ISSUES_DEC": dec_n,
        "ISSUES_UNC": unc,
        "VOLUME_ADV": int(vol * adv / members),
        "VOLUME_DEC": int(vol * dec_n / members),
        "VOLUME_UNC": int(vol * unc / members),
        "NEW_HIGHS": int(rng.random() * members * 0.03),
        "NEW_LOWS": int(rng.random() * members * 0.03),
    }
    st.inst.image = TABLE.field_sets[INDEX].image(values)
    return st
