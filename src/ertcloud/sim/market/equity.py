"""Equities: the record of a listed share on its venue, its quotes and its trades.

An equity quotes (65% of its updates: BID/ASK, sizes, quote time) or trades (a print at the
bid, the ask or inside the spread, with volume, turnover, VWAP and the day's statistics).
"""

from __future__ import annotations

import math
import random
from typing import Any

from .codes import cusip, isin_of
from .process import PriceState, stable_seed
from .records import (
    DOWN,
    UP,
    Calendar,
    Stamp,
    count,
    new_last,
    number,
    positive,
    ripple_trades,
    roll_date,
    trade_history,
)
from .table import TABLE, EquitySpec, Venue

__all__ = ["EQUITY", "EquityState", "build", "synthetic"]

EQUITY = "equity"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class EquityState(PriceState):
    """An equity's price process."""

    kind = EQUITY
    __slots__ = ()

    def update(self, img: dict[str, Any], now: Stamp) -> tuple[str, dict[str, Any]]:
        if self.rng.random() < 0.65:
            return "Quote", self._quote(img, now)
        return "Trade", self._trade(img, now)

    def _quote(self, img: dict[str, Any], now: Stamp) -> dict[str, Any]:
        dstr, hms, ms = now
        ch: dict[str, Any] = {}
        bid, _ = self.requote(img, ch)
        rng = self.rng
        lot = self.size_lot
        ch["BIDSIZE"] = lot * (1 + int(rng.random() * 20))
        ch["ASKSIZE"] = lot * (1 + int(rng.random() * 20))
        cb = positive(img.get("CLOSE_BID"))
        if cb is not None:
            ch["BID_NET_CH"] = round(bid - cb, self.dec)
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        ch["SEQNUM_QT"] = number(img.get("SEQNUM_QT"), 0.0) + 1.0
        roll_date(img, ch, dstr, "QUOTE_DATE")
        return ch

    def _trade(self, img: dict[str, Any], now: Stamp) -> dict[str, Any]:
        dstr, hms, ms = now
        rng = self.rng
        self.walk()
        u = rng.random()
        if u < 0.45:
            px_t = self.bid_t
        elif u < 0.9:
            px_t = self.ask_t
        else:
            px_t = (self.bid_t + self.ask_t) // 2
        price = self.px(px_t)
        lot = self.size_lot
        if lot > 1 and rng.random() < 0.08:
            vol = 1 + int(rng.random() * (lot - 1))  # an odd lot
        else:
            vol = lot * min(int(rng.paretovariate(1.4)), 2000)
        prev = ripple_trades(img)
        acvol = number(img.get("ACVOL_1"), 0.0) + vol
        self.turnover += price * vol
        self.trade_seq += 1
        ch: dict[str, Any] = {
            "TRDPRC_1": price,
            "TRDVOL_1": vol,
            "SALTIM": hms,
            "SALTIM_MS": ms,
            "TRDTIM_1": hms,
            "ACVOL_1": int(acvol) if acvol.is_integer() else acvol,
            "NUM_MOVES": count(img, "NUM_MOVES"),
        }
        new_last(img, ch, prev, price, self.dec)
        if img.get("OPEN_PRC") is None:
            ch["OPEN_PRC"] = price
        ch["VWAP"] = round(self.turnover / acvol, self.dec + 2) if acvol > 0 else price
        ch["TURNOVER"] = round(self.turnover, 2)
        ch["VOL_X_PRC1"] = round(price * vol, 2)
        ch["TRADE_ID"] = str(self.trade_seq)
        ch["SEQNUM"] = float(self.trade_seq)
        if vol >= 10_000:
            ch["BLKCOUNT"] = count(img, "BLKCOUNT")
            ch["BLKVOLUM"] = count(img, "BLKVOLUM", vol)
        roll_date(img, ch, dstr, "TRADE_DATE")
        return ch


def synthetic(ric: str) -> tuple[EquitySpec, Venue]:
    """The reference data of an equity known only by its RIC (its venue from the suffix,
    New York by default), deterministic from the RIC alone."""
    rng = random.Random(stable_seed(0, "synthetic/" + ric))
    suffix = ric.rsplit(".", 1)[1] if "." in ric else ""
    venue = TABLE.venues.get(suffix, TABLE.venues["N"])
    scale = TABLE.synthetic_price_scale.get(venue.currency, 1.0)
    ref = math.exp(math.log(5.0) + rng.random() * math.log(100.0)) * scale
    base = (ric.split(".", 1)[0] or ric).upper()
    if venue.country in ("US", "CA"):
        nsin = cusip("".join(_ALNUM[int(rng.random() * 36)] for _ in range(8)))
    else:
        nsin = "".join(str(int(rng.random() * 10)) for _ in range(9))
    return EquitySpec(ric, base[:16], ref, isin_of(venue.country, nsin), 2.0), venue


def build(spec: EquitySpec, venue: Venue, seed: int, cal: Calendar) -> EquityState:
    """The price process and Refresh image of an equity."""
    ric, ref = spec.ric, spec.price
    tick = TABLE.tick(venue.tick_rule, ref)
    st = EquityState(ric, seed, tick, ref)
    rng = st.rng
    st.size_lot = lot = venue.size_lot
    st.sigma *= spec.sigma_scale
    hst = st.open_day(ref, 0.015, 0.006)
    open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.004)))
    st.quote_ticks(math.exp(st.log_mid))
    bid = st.px(st.bid_t)
    last_t = st.bid_t if rng.random() < 0.5 else st.ask_t
    trades = [st.px(last_t)]
    t = last_t
    for _ in range(4):
        t = max(1, t + int(rng.random() * 5) - 2)
        trades.append(st.px(t))
    last = trades[0]
    high = st.round_px(max(*trades, open_) + tick * int(rng.random() * 20))
    low = st.round_px(max(tick, min(*trades, open_) - tick * int(rng.random() * 20)))
    acvol = int(spec.weight * 250_000 * (0.3 + rng.random())) // lot * lot
    vwap = round((high + low + last) / 3, st.dec + 2)
    st.turnover = vwap * acvol
    st.trade_seq = 100_000 + int(rng.random() * 900_000)
    us = venue.country == "US" or venue.exchd2 in ("NYS", "NSQ")
    isin = spec.isin
    cusip_cd = isin[2:11] if isin[:2] in ("US", "CA") else None
    pe = 12.0 + rng.random() * 28.0
    div_yield = round(rng.random() * 4.0, 2)
    yrhigh = st.round_px(max(high, hst * (1.1 + rng.random() * 0.3)))
    yrlow = st.round_px(min(low, hst * (0.6 + rng.random() * 0.3)))
    jp = venue.tick_rule == "jp"
    close_bid = st.round_px(hst - tick)
    symbol = ric.rsplit(".", 1)[0]
    blocks = int(acvol / 400_000)
    # Draws from ``rng`` below happen in this order: keep it (same seed, same records).
    values: dict[str, Any] = {
        "PROD_PERM": venue.perm,
        "DSPLY_NAME": spec.name,
        "DSPLY_NMLL": spec.local_name,
        "RDN_EXCHID": venue.exchid,
        "RDN_EXCHD2": venue.exchd2,
        "CURRENCY": venue.currency,
        "TRD_UNITS": TABLE.units(st.dec),
        "LOT_SIZE_A": venue.lot,
        "PROV_SYMB": symbol,
        "MNEMONIC": symbol,
        "OFFCL_CODE": cusip_cd if cusip_cd is not None else isin,
        "OFF_CD_IND": "CUS" if cusip_cd is not None else "ISN",
        "CUSIP_CD": cusip_cd,
        "ISIN_CODE": isin,
        "XMIC_CODE": venue.mic,
        "PRC_TICK": tick,
        **st.quote_image(),
        "BIDSIZE": lot * (1 + int(rng.random() * 20)),
        "ASKSIZE": lot * (1 + int(rng.random() * 20)),
        "BID_NET_CH": round(bid - close_bid, st.dec),
        "BID_TICK_1": UP if rng.random() < 0.5 else DOWN,
        **cal.quote_time(),
        "BID_COND_N": "R" if us else None,
        "ASK_COND_N": "R" if us else None,
        "NBBO_IND": "   " if us else None,
        "SEQNUM_QT": float(1_000_000 + int(rng.random() * 9_000_000)),
        **trade_history(trades),
        "TRDVOL_1": lot * (1 + int(rng.random() * 5)),
        **cal.sale_time(),
        "NETCHNG_1": round(last - hst, st.dec),
        "PCTCHNG": round((last / hst - 1.0) * 100.0, 2),
        "ACVOL_1": acvol,
        "NUM_MOVES": max(1, acvol // (lot * 3)),
        "TURNOVER": round(st.turnover, 2),
        "VWAP": vwap,
        "SEQNUM": float(st.trade_seq),
        "TRADE_ID": str(st.trade_seq),
        "LSTSALCOND": "@" if us else None,
        "BLKCOUNT": blocks,
        "BLKVOLUM": blocks * 12_000,
        "OPEN_PRC": open_,
        "HIGH_1": high,
        "LOW_1": low,
        **cal.close(hst),
        "CLOSE_BID": close_bid,
        "CLOSE_ASK": st.round_px(hst + tick),
        "UPLIMIT": st.round_px(hst * 1.2) if jp else None,
        "LOLIMIT": st.round_px(hst * 0.8) if jp else None,
        **cal.year_range(rng, yrhigh, yrlow),
        "EARNINGS": round(last / pe, 2),
        "PERATIO": round(pe, 1),
        "YIELD": div_yield,
        "DIVIDEND": round(last * div_yield / 100.0, 2),
        "EXDIVDATE": cal.days_ago(rng, 10, 80),
        "DIVPAYDATE": cal.days_ago(rng, -40, 5),
    }
    st.inst.image = TABLE.field_sets[EQUITY].image(values)
    return st
