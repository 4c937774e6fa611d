"""A seeded, deterministic market: instruments, their field images and their updates.

No I/O and no asyncio. :class:`Market` holds a universe of instruments (equities on a
dozen venues, FX spot, indices, government bonds), each with the full field image a
``tr_json2`` Refresh would carry, and advances their prices with :meth:`Market.step`.

* Prices follow a mean-reverting random walk in log space (small per-step volatility),
  rounded to the instrument's tick. Quotes are on the tick grid with a positive spread;
  trades print at the standing bid or ask (or inside the spread).
* Every instrument draws from its own random stream, derived from the seed and its RIC
  with a stable hash, so adding instruments never changes the others. The same seed, the
  same calls and the same clock give identical output.
* Time comes from ``clock`` (epoch seconds, UTC), injected for tests.
* The image is updated in place, rippling ``TRDPRC_1`` -> ``TRDPRC_2`` ... ``TRDPRC_5``,
  ``BID`` -> ``BID_1`` -> ``BID_2`` and ``ASK`` -> ``ASK_1`` -> ``ASK_2`` like a server's
  cache. The changed fields returned by :meth:`Market.step` are those an update message
  carries: the ripple targets are not in them (a consumer cache ripples itself).
* Reference data (names, prices, permissions, display templates) is illustrative, not a
  copy of any vendor's record; identifier codes have valid check digits.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ..protocol.streams import ripple as shift_ripples

__all__ = ["BOND", "EQUITY", "FX", "INDEX", "Instrument", "Market"]

EQUITY = "equity"
FX = "fx"
INDEX = "index"
BOND = "bond"

_UP = "⇧"
_DOWN = "⇩"
_TRD_UNITS = {
    0: "INT ",
    1: "1DP ",
    2: "2DP ",
    3: "3DP ",
    4: "4DP ",
    5: "5DP ",
    6: "6DP ",
    7: "7DP ",
}
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


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True, slots=True)
class _Venue:
    exchd2: str  # RDN_EXCHD2 display
    exchid: str  # RDN_EXCHID display
    mic: str
    currency: str
    perm: int  # PROD_PERM
    lot: int  # LOT_SIZE_A
    size_lot: int  # the usual quote/trade size unit
    country: str  # ISIN country code
    tick_rule: str


_VENUES: dict[str, _Venue] = {
    "N": _Venue("NYS", "NYS", "XNYS", "USD", 6562, 1, 100, "US", "us"),
    "O": _Venue("NSQ", "NAS", "XNAS", "USD", 3308, 1, 100, "US", "us"),
    "L": _Venue("LSE", "LSE", "XLON", "GBp", 5625, 1, 500, "GB", "eu"),
    "TO": _Venue("TOR", "TOR", "XTSE", "CAD", 4380, 1, 100, "CA", "us"),
    "T": _Venue("TYO", "TYO", "XTKS", "JPY", 3340, 100, 100, "JP", "jp"),
    "DE": _Venue("GER", "GER", "XETR", "EUR", 9051, 1, 50, "DE", "eu"),
    "PA": _Venue("PAR", "PAR", "XPAR", "EUR", 9060, 1, 50, "FR", "eu"),
    "S": _Venue("SWX", "SWX", "XSWX", "CHF", 9070, 1, 50, "CH", "eu"),
    "AS": _Venue("AEX", "AEX", "XAMS", "EUR", 9080, 1, 20, "NL", "eu"),
    "HK": _Venue("HKG", "HKG", "XHKG", "HKD", 3500, 100, 100, "HK", "hk"),
    "AX": _Venue("ASX", "ASX", "XASX", "AUD", 3600, 1, 100, "AU", "us"),
}

# ric, display name, reference price, ISIN, liquidity weight, local-language name
_EQUITIES: tuple[tuple[str, str, float, str, float, str | None], ...] = (
    ("TRI.N", "THOMSON REUTERS", 172.0, "CA8849037095", 6.0, None),
    ("IBM.N", "INTL BUS MACHINE", 245.0, "US4592001014", 6.0, None),
    ("T.N", "AT&T INC", 27.5, "US00206R1023", 5.0, None),
    ("JPM.N", "JPMORGAN CHASE", 240.0, "US46625H1005", 7.0, None),
    ("KO.N", "COCA-COLA CO", 68.0, "US1912161007", 4.0, None),
    ("XOM.N", "EXXON MOBIL", 110.0, "US30231G1022", 5.0, None),
    ("GS.N", "GOLDMAN SACHS GP", 560.0, "US38141G1040", 4.0, None),
    ("BAC.N", "BANK OF AMERICA", 43.0, "US0605051046", 6.0, None),
    ("MSFT.O", "MICROSOFT CP", 420.0, "US5949181045", 10.0, None),
    ("AAPL.O", "APPLE INC", 228.0, "US0378331005", 10.0, None),
    ("AMZN.O", "AMAZON.COM INC", 200.0, "US0231351067", 9.0, None),
    ("GOOGL.O", "ALPHABET INC A", 172.0, "US02079K3059", 8.0, None),
    ("NVDA.O", "NVIDIA CORP", 135.0, "US67066G1040", 10.0, None),
    ("META.O", "META PLATFORMS A", 580.0, "US30303M1027", 8.0, None),
    ("TSLA.O", "TESLA INC", 250.0, "US88160R1014", 9.0, None),
    ("VOD.L", "VODAFONE GROUP", 72.0, "GB00BH4HKS39", 5.0, None),
    ("BARC.L", "BARCLAYS", 260.0, "GB0031348658", 5.0, None),
    ("HSBA.L", "HSBC HOLDINGS", 800.0, "GB0005405286", 5.0, None),
    ("SHEL.L", "SHELL PLC", 2600.0, "GB00BP6MXD84", 4.0, None),
    ("AZN.L", "ASTRAZENECA", 11000.0, "GB0009895292", 4.0, None),
    ("BP.L", "BP", 400.0, "GB0007980591", 4.0, None),
    ("TRI.TO", "THOMSON REUTERS", 235.0, "CA8849037095", 3.0, None),
    ("RY.TO", "ROYAL BANK OF CA", 170.0, "CA7800871021", 4.0, None),
    ("TD.TO", "TORONTO-DOMINION", 80.0, "CA8911605092", 3.0, None),
    ("SHOP.TO", "SHOPIFY INC A", 150.0, "CA82509L1076", 3.0, None),
    ("ENB.TO", "ENBRIDGE INC", 60.0, "CA29250N1050", 3.0, None),
    ("7203.T", "TOYOTA MOTOR", 2700.0, "JP3633400001", 5.0, "トヨタ自動車"),
    ("6758.T", "SONY GROUP", 3300.0, "JP3435000009", 4.0, "ソニーグループ"),
    ("9984.T", "SOFTBANK GROUP", 9000.0, "JP3436100006", 4.0, "ソフトバンクグループ"),
    ("SAPG.DE", "SAP SE", 240.0, "DE0007164600", 4.0, None),
    ("SIEGn.DE", "SIEMENS AG", 190.0, "DE0007236101", 3.0, None),
    ("ALVG.DE", "ALLIANZ SE", 300.0, "DE0008404005", 3.0, None),
    ("BNPP.PA", "BNP PARIBAS", 65.0, "FR0000131104", 3.0, None),
    ("LVMH.PA", "LVMH", 600.0, "FR0000121014", 3.0, None),
    ("NESN.S", "NESTLE SA", 85.0, "CH0038863350", 3.0, None),
    ("ASML.AS", "ASML HOLDING", 650.0, "NL0010273215", 3.0, None),
    ("0700.HK", "TENCENT HOLDINGS", 400.0, "KYG875721634", 4.0, "騰訊控股"),
    ("BHP.AX", "BHP GROUP", 40.0, "AU000000BHP4", 3.0, None),
)

# ric, reference bid, tick, quote currency (CURRENCY), base currency, weight
_FX: tuple[tuple[str, float, float, str, str, float], ...] = (
    ("EUR=", 1.0850, 0.0001, "USD", "EUR", 10.0),
    ("JPY=", 150.20, 0.01, "JPY", "USD", 9.0),
    ("GBP=", 1.2700, 0.0001, "USD", "GBP", 8.0),
    ("CHF=", 0.8800, 0.0001, "CHF", "USD", 6.0),
    ("AUD=", 0.6600, 0.0001, "USD", "AUD", 6.0),
    ("CAD=", 1.3600, 0.0001, "CAD", "USD", 6.0),
    ("NZD=", 0.6000, 0.0001, "USD", "NZD", 4.0),
    ("SEK=", 10.500, 0.0001, "SEK", "USD", 3.0),
    ("NOK=", 10.800, 0.0001, "NOK", "USD", 3.0),
    ("CNY=", 7.2000, 0.0001, "CNY", "USD", 4.0),
    ("HKD=", 7.8000, 0.0001, "HKD", "USD", 3.0),
    ("MXN=", 17.500, 0.0001, "MXN", "USD", 3.0),
)

# FX contributors: short name (CTBTR_1), location, page, dealing code
_CONTRIBUTORS: tuple[tuple[str, str, str, str], ...] = (
    ("BARCLAYS", "LON", "BCFX", "BARL"),
    ("CITIBANK", "NYC", "CITX", "CITN"),
    ("HSBC", "HKG", "HSBX", "HSBH"),
    ("UBS", "ZUR", "UBSX", "UBZH"),
    ("DEUTSCHE BK", "FFT", "DBFX", "DEUF"),
    ("JPMORGAN", "NYC", "JPMX", "CHAS"),
    ("COMMERZBANK", "FFT", "CBKF", "COBA"),
    ("BNP PARIBAS", "PAR", "BNPX", "BNPP"),
    ("NATWEST MKTS", "LON", "NWMX", "NWML"),
    ("SOCGEN", "PAR", "SGFX", "SOGE"),
    ("RBC", "TOR", "RBCX", "RBCT"),
    ("MIZUHO", "TOK", "MHFX", "MHCB"),
)

# ric, display name, reference level, currency, exchange display, constituents, weight
_INDICES: tuple[tuple[str, str, float, str, str, int, float], ...] = (
    (".SPX", "S&P 500 INDEX", 5800.0, "USD", "NYS", 503, 6.0),
    (".DJI", "DOW JONES INDUS.", 42000.0, "USD", "NYS", 30, 5.0),
    (".IXIC", "NASDAQ COMPOSITE", 18500.0, "USD", "NSQ", 3300, 5.0),
    (".FTSE", "FTSE 100 INDEX", 8300.0, "GBP", "LSE", 100, 4.0),
    (".GDAXI", "DAX INDEX", 19500.0, "EUR", "GER", 40, 4.0),
    (".N225", "NIKKEI 225", 39000.0, "JPY", "TYO", 225, 4.0),
    (".GSPTSE", "S&P/TSX COMPOSIT", 24500.0, "CAD", "TOR", 220, 3.0),
    (".FCHI", "CAC 40 INDEX", 7500.0, "EUR", "PAR", 40, 3.0),
    (".STOXX50E", "EURO STOXX 50", 4900.0, "EUR", "GER", 50, 3.0),
    (".HSI", "HANG SENG INDEX", 20000.0, "HKD", "HKG", 82, 3.0),
)

# ric, issuer prefix, coupon, tenor (years), reference yield, currency, tick, month, day,
# ISIN country, weight
_BONDS: tuple[tuple[str, str, float, int, float, str, float, int, int, str, float], ...] = (
    ("US10YT=RR", "UST", 4.25, 10, 4.30, "USD", 1 / 128, 11, 15, "US", 3.0),
    ("US2YT=RR", "UST", 4.125, 2, 4.20, "USD", 1 / 128, 10, 31, "US", 2.0),
    ("US30YT=RR", "UST", 4.5, 30, 4.55, "USD", 1 / 128, 11, 15, "US", 2.0),
    ("DE10YT=RR", "DBR", 2.6, 10, 2.35, "EUR", 0.001, 8, 15, "DE", 2.0),
    ("GB10YT=RR", "UKT", 4.25, 10, 4.45, "GBP", 0.001, 7, 31, "GB", 2.0),
)


# --------------------------------------------------------------------------- utilities


def _stable_seed(seed: int, ric: str) -> int:
    digest = hashlib.blake2b(f"{seed}/{ric}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _decimals(tick: float) -> int:
    if tick == int(tick):
        return 0
    for d in range(1, 10):
        if abs(round(tick, d) - tick) < 1e-12:
            return d
    return 9


# Tick size by price band (upper bound exclusive, tick); the last tick applies above.
_TICK_BANDS: dict[str, tuple[tuple[float, float], ...]] = {
    "us": ((1.0, 0.0001), (math.inf, 0.01)),
    "jp": ((1000.0, 0.1), (3000.0, 0.5), (10000.0, 1.0), (30000.0, 5.0), (math.inf, 10.0)),
    "hk": (
        (10.0, 0.01),
        (20.0, 0.02),
        (100.0, 0.05),
        (200.0, 0.1),
        (500.0, 0.2),
        (math.inf, 0.5),
    ),
    "eu": (
        (1.0, 0.0002),
        (10.0, 0.002),
        (50.0, 0.005),
        (100.0, 0.01),
        (200.0, 0.02),
        (500.0, 0.05),
        (1000.0, 0.1),
        (5000.0, 0.5),
        (10000.0, 1.0),
        (math.inf, 2.0),
    ),
}


def _tick_for(rule: str, price: float) -> float:
    bands = _TICK_BANDS[rule]
    return next((t for lim, t in bands if price < lim), bands[-1][1])


def _luhn_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def _isin(country: str, nsin: str) -> str:
    """An ISIN from a country code and a nine-character national code, with check digit."""
    body = country + nsin
    return body + str(_luhn_digit("".join(str(int(c, 36)) for c in body)))


def _cusip(base: str) -> str:
    """A CUSIP from eight characters, with check digit."""
    total = 0
    for i, ch in enumerate(base):
        v = int(ch, 36)
        if i % 2 == 1:
            v *= 2
        total += v // 10 + v % 10
    return base + str((10 - total % 10) % 10)


def _prev_weekday(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _bond_price(coupon: float, yld: float, periods: float) -> float:
    """Clean price per 100 of a semi-annual bond on a coupon date."""
    c = coupon / 2.0
    r = yld / 200.0
    n = max(1, round(periods))
    disc = (1.0 + r) ** -n
    return c * (1.0 - disc) / r + 100.0 * disc if r else c * n + 100.0


def _positive(v: object) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0:
        return float(v)
    return None


def _number(v: object, default: float) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return default


class _State:
    """Per-instrument generator state (the image holds everything published)."""

    __slots__ = (
        "accr",
        "ask_t",
        "bid_t",
        "bond",
        "breadth",
        "conv",
        "dec",
        "dur",
        "hi_log",
        "inst",
        "kappa",
        "kind",
        "lo_log",
        "log_mid",
        "p0",
        "ref_log",
        "rng",
        "sigma",
        "size_lot",
        "tick",
        "trade_seq",
        "turnover",
        "y0",
    )

    def __init__(self, inst: Instrument, rng: random.Random, tick: float, ref: float) -> None:
        self.inst = inst
        self.kind = inst.kind
        self.rng = rng
        self.tick = tick
        self.dec = _decimals(tick)
        self.sigma = 0.0004
        self.kappa = 0.002
        self.size_lot = 100
        self.trade_seq = 0
        self.turnover = 0.0
        self.bid_t = 0
        self.ask_t = 0
        self.bond = False
        self.breadth = False
        self.p0 = ref
        self.y0 = 0.0
        self.dur = 0.0
        self.conv = 0.0
        self.accr = 0.0
        self.ref_log = 0.0
        self.log_mid = 0.0
        self.lo_log = 0.0
        self.hi_log = 0.0
        self.anchor(ref)

    def anchor(self, price: float) -> None:
        """Re-centre the walk on ``price`` (bounded to +-15% around it)."""
        self.ref_log = self.log_mid = math.log(price)
        self.lo_log = self.ref_log + math.log(0.85)
        self.hi_log = self.ref_log + math.log(1.15)

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


# --------------------------------------------------------------------------- the market


class Market:
    """A universe of simulated instruments with seeded, deterministic price processes.

    ``seed`` selects the random streams, ``clock`` returns the time in epoch seconds (UTC)
    and ``extra_rics`` adds synthetic equities, deterministic from their names.
    """

    def __init__(
        self,
        seed: int = 42,
        *,
        clock: Callable[[], float] = time.time,
        extra_rics: Iterable[str] = (),
    ) -> None:
        self.seed = seed
        self._clock = clock
        self._pick = random.Random(_stable_seed(seed, "/market"))
        self._tsec = -1
        self._tday = -1
        self._hms = ""
        self._date = ""
        self.instruments: dict[str, Instrument] = {}
        self._states: dict[str, _State] = {}
        self._order: list[_State] = []
        self._cum: list[float] = []
        self._total = 0.0

        now = clock()
        today = date.fromordinal(_EPOCH_ORDINAL + int(now // 86400))
        self._today = today
        self._prev = _prev_weekday(today)
        dstr, hms, ms = self._now(now)
        stamp = (dstr, hms, ms)

        for ric, name, ref, isin, weight, local in _EQUITIES:
            suffix = ric.rsplit(".", 1)[1]
            self._add_equity(ric, name, ref, isin, weight, local, _VENUES[suffix], stamp)
        for spec in _FX:
            self._add_fx(*spec, stamp=stamp)
        for ispec in _INDICES:
            self._add_index(*ispec, stamp=stamp)
        for bspec in _BONDS:
            self._add_bond(*bspec, stamp=stamp)
        for ric in extra_rics:
            ric = ric[1:] if ric.startswith("/") else ric
            if not ric:
                raise ValueError("empty RIC in extra_rics")
            if ric not in self.instruments:
                self._add_synthetic(ric, stamp)

    # ------------------------------------------------------------------ public API

    def get(self, ric: str) -> Instrument | None:
        """The instrument of ``ric``; ``"/RIC"`` (delayed) resolves to ``RIC``; else None."""
        if ric.startswith("/"):
            ric = ric[1:]
        return self.instruments.get(ric)

    def step(self, ric: str | None = None) -> tuple[Instrument, str, dict[str, Any]]:
        """Advance one instrument (``ric``, or one picked at random weighted by liquidity).

        Returns ``(instrument, update_type, changed_fields)``: the update type is
        ``"Quote"`` or ``"Trade"`` (FX and bonds only quote, indices only publish
        trade-like value updates) and the changed fields are those the update message
        carries. The image is updated in place, ripple fields included. Raises
        ``KeyError`` for an unknown RIC.
        """
        if ric is None:
            i = bisect_right(self._cum, self._pick.random() * self._total)
            st = self._order[i if i < len(self._order) else -1]
        else:
            found = self._states.get(ric[1:] if ric.startswith("/") else ric)
            if found is None:
                raise KeyError(ric)
            st = found
        kind = st.kind
        if kind == EQUITY:
            if st.rng.random() < 0.65:
                return st.inst, "Quote", self._equity_quote(st)
            return st.inst, "Trade", self._equity_trade(st)
        if kind == FX:
            return st.inst, "Quote", self._fx_quote(st)
        if kind == INDEX:
            return st.inst, "Trade", self._index_tick(st)
        return st.inst, "Quote", self._bond_quote(st)

    def apply(self, ric: str, fields: dict[str, Any], *, ripple: bool = False) -> None:
        """Merge externally posted fields into the image of ``ric``.

        With ``ripple`` the ripple chains (``TRDPRC_1`` -> ``TRDPRC_2`` ...) move first, as
        a cache applies an update: into the fields the image holds, never adding one (the
        consumer's rule too). Posted prices re-anchor the instrument's price process.
        Raises ``KeyError`` for an unknown RIC.
        """
        key = ric[1:] if ric.startswith("/") else ric
        st = self._states.get(key)
        inst = self.instruments.get(key)
        if inst is None:
            raise KeyError(ric)
        img = inst.image
        if ripple:
            shift_ripples(img, fields)
        img.update(fields)
        if st is None:
            return  # a posted record: no price process to re-anchor
        bid = _positive(img.get("BID"))
        ask = _positive(img.get("ASK"))
        if "BID" in fields or "ASK" in fields:
            if bid is not None and ask is not None:
                st.bid_t = max(1, round(bid / st.tick))
                st.ask_t = max(st.bid_t + 1, round(ask / st.tick))
                st.anchor((bid + ask) / 2)
        elif "TRDPRC_1" in fields:
            last = _positive(fields["TRDPRC_1"])
            if last is not None:
                st.anchor(last)
        if "TURNOVER" in fields:
            st.turnover = _number(fields["TURNOVER"], st.turnover)

    def create(self, ric: str, fields: dict[str, Any]) -> Instrument:
        """Add a record made of ``fields`` only (a posted Refresh); it has no price
        process, so :meth:`step` does not move it. Raises ``ValueError`` if it exists."""
        key = ric[1:] if ric.startswith("/") else ric
        if not key or key in self.instruments:
            raise ValueError(f"cannot create record {ric!r}")
        inst = Instrument(key, "posted", dict(fields))
        self.instruments[key] = inst
        return inst

    def steppable(self, ric: str) -> bool:
        """True if ``ric`` has a price process (:meth:`step` accepts it)."""
        return (ric[1:] if ric.startswith("/") else ric) in self._states

    def book_params(self, ric: str) -> tuple[float, int, int] | None:
        """``(tick, decimals, lot)`` of an equity, for its order book; None otherwise."""
        st = self._states.get(ric[1:] if ric.startswith("/") else ric)
        if st is None or st.kind != EQUITY:
            return None
        return st.tick, st.dec, st.size_lot

    def now(self) -> float:
        """The market's clock: epoch seconds (UTC)."""
        return self._clock()

    def stamp(self) -> tuple[str, int]:
        """The current date ``"YYYY-MM-DD"`` and ms since midnight (UTC)."""
        d, _, ms = self._now(self._clock())
        return d, ms

    # ------------------------------------------------------------------ time

    def _now(self, t: float) -> tuple[str, str, int]:
        """(date "YYYY-MM-DD", time "HH:MM:SS", ms since midnight) of epoch seconds ``t``."""
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
        return self._date, self._hms, ms_total % _MS_PER_DAY

    # ------------------------------------------------------------------ construction

    def _register(self, st: _State, weight: float) -> None:
        self.instruments[st.inst.ric] = st.inst
        self._states[st.inst.ric] = st
        self._order.append(st)
        self._total += weight
        self._cum.append(self._total)

    def _new_state(self, ric: str, kind: str, tick: float, ref: float) -> _State:
        rng = random.Random(_stable_seed(self.seed, ric))
        return _State(Instrument(ric, kind, {}), rng, tick, ref)

    def _days_ago(self, rng: random.Random, lo: int, hi: int) -> str:
        return (self._today - timedelta(days=lo + int(rng.random() * (hi - lo)))).isoformat()

    def _add_synthetic(self, ric: str, stamp: tuple[str, str, int]) -> None:
        rng = random.Random(_stable_seed(0, "synthetic/" + ric))
        suffix = ric.rsplit(".", 1)[1] if "." in ric else ""
        venue = _VENUES.get(suffix, _VENUES["N"])
        scale = {"JPY": 100.0, "GBp": 50.0, "HKD": 5.0}.get(venue.currency, 1.0)
        ref = math.exp(math.log(5.0) + rng.random() * math.log(100.0)) * scale
        base = (ric.split(".", 1)[0] or ric).upper()
        alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if venue.country in ("US", "CA"):
            code = "".join(alnum[int(rng.random() * 36)] for _ in range(8))
            nsin = _cusip(code)
        else:
            nsin = "".join(str(int(rng.random() * 10)) for _ in range(9))
        isin = _isin(venue.country, nsin)
        self._add_equity(ric, base[:16], ref, isin, 2.0, None, venue, stamp)

    def _add_equity(
        self,
        ric: str,
        name: str,
        ref: float,
        isin: str,
        weight: float,
        local: str | None,
        venue: _Venue,
        stamp: tuple[str, str, int],
    ) -> None:
        dstr, hms, ms = stamp
        tick = _tick_for(venue.tick_rule, ref)
        st = self._new_state(ric, EQUITY, tick, ref)
        rng = st.rng
        st.size_lot = venue.size_lot
        st.sigma = 0.0004 * (1.8 if ric.startswith("TSLA") else 1.0)
        hst = st.round_px(ref * math.exp(rng.gauss(0.0, 0.015)))
        st.anchor(hst)
        st.log_mid += rng.gauss(0.0, 0.006)
        open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.004)))
        st.quote_ticks(math.exp(st.log_mid))
        bid, ask = st.px(st.bid_t), st.px(st.ask_t)
        last_t = st.bid_t if rng.random() < 0.5 else st.ask_t
        trades = [st.px(last_t)]
        t = last_t
        for _ in range(4):
            t = max(1, t + int(rng.random() * 5) - 2)
            trades.append(st.px(t))
        last = trades[0]
        high = st.round_px(max(*trades, open_) + tick * int(rng.random() * 20))
        low = st.round_px(max(tick, min(*trades, open_) - tick * int(rng.random() * 20)))
        lot = venue.size_lot
        acvol = int(weight * 250_000 * (0.3 + rng.random())) // lot * lot
        num_moves = max(1, acvol // (lot * 3))
        vwap = round((high + low + last) / 3, st.dec + 2)
        st.turnover = vwap * acvol
        st.trade_seq = 100_000 + int(rng.random() * 900_000)
        us = venue.country == "US" or venue.exchd2 in ("NYS", "NSQ")
        cusip = isin[2:11] if isin[:2] in ("US", "CA") else None
        pe = 12.0 + rng.random() * 28.0
        div_yield = round(rng.random() * 4.0, 2)
        yrhigh = st.round_px(max(high, hst * (1.1 + rng.random() * 0.3)))
        yrlow = st.round_px(min(low, hst * (0.6 + rng.random() * 0.3)))
        jp = venue.tick_rule == "jp"
        close_bid = st.round_px(hst - tick)
        st.inst.image = {
            "PROD_PERM": venue.perm,
            "RDNDISPLAY": 64,
            "DSPLY_NAME": name,
            "DSPLY_NMLL": local,
            "RDN_EXCHID": venue.exchid,
            "RDN_EXCHD2": venue.exchd2,
            "CURRENCY": venue.currency,
            "TRD_UNITS": _TRD_UNITS.get(st.dec, "INT "),
            "LOT_SIZE_A": venue.lot,
            "RECORDTYPE": 113,
            "PROV_SYMB": ric.rsplit(".", 1)[0],
            "MNEMONIC": ric.rsplit(".", 1)[0],
            "OFFCL_CODE": cusip if cusip is not None else isin,
            "OFF_CD_IND": "CUS" if cusip is not None else "ISN",
            "CUSIP_CD": cusip,
            "ISIN_CODE": isin,
            "XMIC_CODE": venue.mic,
            "PRC_TICK": tick,
            "BID": bid,
            "BID_1": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "BID_2": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "ASK": ask,
            "ASK_1": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "ASK_2": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "BIDSIZE": lot * (1 + int(rng.random() * 20)),
            "ASKSIZE": lot * (1 + int(rng.random() * 20)),
            "BID_NET_CH": round(bid - close_bid, st.dec),
            "BID_TICK_1": _UP if rng.random() < 0.5 else _DOWN,
            "QUOTIM": hms,
            "QUOTIM_MS": ms,
            "QUOTE_DATE": dstr,
            "BID_COND_N": "R" if us else None,
            "ASK_COND_N": "R" if us else None,
            "NBBO_IND": "   " if us else None,
            "SEQNUM_QT": float(1_000_000 + int(rng.random() * 9_000_000)),
            "TRDPRC_1": last,
            "TRDPRC_2": trades[1],
            "TRDPRC_3": trades[2],
            "TRDPRC_4": trades[3],
            "TRDPRC_5": trades[4],
            "TRDVOL_1": lot * (1 + int(rng.random() * 5)),
            "TRDTIM_1": hms,
            "TRADE_DATE": dstr,
            "SALTIM": hms,
            "SALTIM_MS": ms,
            "PRCTCK_1": _UP if trades[0] >= trades[1] else _DOWN,
            "NETCHNG_1": round(last - hst, st.dec),
            "PCTCHNG": round((last / hst - 1.0) * 100.0, 2),
            "ACVOL_1": acvol,
            "NUM_MOVES": num_moves,
            "TURNOVER": round(st.turnover, 2),
            "VWAP": vwap,
            "VOL_X_PRC1": None,
            "SEQNUM": float(st.trade_seq),
            "TRADE_ID": str(st.trade_seq),
            "LSTSALCOND": "@" if us else None,
            "PRC_QL_CD": "   ",
            "BLKCOUNT": int(acvol / 400_000),
            "BLKVOLUM": int(acvol / 400_000) * 12_000,
            "OPEN_PRC": open_,
            "HIGH_1": high,
            "LOW_1": low,
            "HST_CLOSE": hst,
            "HSTCLSDATE": self._prev.isoformat(),
            "CLOSE_BID": close_bid,
            "CLOSE_ASK": st.round_px(hst + tick),
            "UPLIMIT": st.round_px(hst * 1.2) if jp else None,
            "LOLIMIT": st.round_px(hst * 0.8) if jp else None,
            "YRHIGH": yrhigh,
            "YRLOW": yrlow,
            "YRHIGHDAT": self._days_ago(rng, 5, 180),
            "YRLOWDAT": self._days_ago(rng, 180, 360),
            "TRD_STATUS": "N ",
            "BOOK_STATE": "N",
            "EARNINGS": round(last / pe, 2),
            "PERATIO": round(pe, 1),
            "YIELD": div_yield,
            "DIVIDEND": round(last * div_yield / 100.0, 2),
            "EXDIVDATE": self._days_ago(rng, 10, 80),
            "DIVPAYDATE": self._days_ago(rng, -40, 5),
        }
        self._register(st, weight)

    def _add_fx(
        self,
        ric: str,
        ref: float,
        tick: float,
        ccy: str,
        base: str,
        weight: float,
        *,
        stamp: tuple[str, str, int],
    ) -> None:
        dstr, hms, ms = stamp
        st = self._new_state(ric, FX, tick, ref)
        rng = st.rng
        st.sigma = 0.00012
        hst = st.round_px(ref * math.exp(rng.gauss(0.0, 0.004)))
        st.anchor(hst)
        st.log_mid += rng.gauss(0.0, 0.002)
        st.quote_ticks(math.exp(st.log_mid))
        bid, ask = st.px(st.bid_t), st.px(st.ask_t)
        open_bid = st.round_px(hst * math.exp(rng.gauss(0.0, 0.001)))
        open_ask = st.round_px(open_bid + 2 * tick)
        hi = st.round_px(max(bid, open_bid) + tick * int(rng.random() * 40))
        lo = st.round_px(min(bid, open_bid) - tick * int(rng.random() * 40))
        dec = st.dec
        mid = round((bid + ask) / 2, dec + 1)
        ctb = _CONTRIBUTORS[int(rng.random() * len(_CONTRIBUTORS))]
        quotes = 20_000 + int(rng.random() * weight * 20_000)
        yrhigh = st.round_px(max(hi, hst * (1.03 + rng.random() * 0.08)))
        yrlow = st.round_px(min(lo, hst * (0.89 + rng.random() * 0.08)))
        pct = round((bid / hst - 1.0) * 100.0, 2)
        st.inst.image = {
            "PROD_PERM": 213,
            "RDNDISPLAY": 153,
            "DSPLY_NAME": f"{ctb[0]} {ctb[1]}"[:16],
            "CURRENCY": ccy,
            "BASE_CCY": base,
            "TRD_UNITS": _TRD_UNITS.get(dec, "INT "),
            "PREF_DISP": 2110,
            "TIMACT": hms,
            "ACTIV_DATE": dstr,
            "BID": bid,
            "BID_1": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "BID_2": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "ASK": ask,
            "ASK_1": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "ASK_2": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "PRIMACT_1": bid,
            "MID_PRICE": mid,
            "NETCHNG_1": round(bid - hst, dec),
            "PCTCHNG": pct,
            "BID_NET_CH": round(bid - hst, dec),
            "BIDPCTCHNG": pct,
            "BID_TICK_1": _UP if rng.random() < 0.5 else _DOWN,
            "OPEN_PRC": open_bid,
            "OPEN_BID": open_bid,
            "OPEN_ASK": open_ask,
            "HIGH_1": hi,
            "LOW_1": lo,
            "BID_HIGH_1": hi,
            "BID_LOW_1": lo,
            "ASK_HIGH_1": st.round_px(hi + tick),
            "ASK_LOW_1": st.round_px(lo + tick),
            "MID_HIGH": round(hi + tick / 2, dec + 1),
            "MID_LOW": round(lo + tick / 2, dec + 1),
            "HST_CLOSE": hst,
            "HSTCLSDATE": self._prev.isoformat(),
            "CLOSE_BID": hst,
            "CLOSE_ASK": st.round_px(hst + 2 * tick),
            "HST_CLSBID": hst,
            "BID_ASK_DT": self._prev.isoformat(),
            "CTBTR_1": ctb[0],
            "CTB_LOC1": ctb[1],
            "CTB_PAGE1": ctb[2],
            "DLG_CODE1": ctb[3],
            "SRC_REF1": None,
            "VALUE_TS1": hms,
            "VALUE_DT1": dstr,
            "QUOTIM": hms,
            "QUOTIM_MS": ms,
            "QUOTE_DATE": dstr,
            "ACVOL_1": quotes,
            "NUM_MOVES": quotes,
            "YRHIGH": yrhigh,
            "YRLOW": yrlow,
            "YRHIGHDAT": self._days_ago(rng, 5, 180),
            "YRLOWDAT": self._days_ago(rng, 180, 360),
        }
        self._register(st, weight)

    def _add_index(
        self,
        ric: str,
        name: str,
        ref: float,
        ccy: str,
        exch: str,
        members: int,
        weight: float,
        *,
        stamp: tuple[str, str, int],
    ) -> None:
        dstr, hms, ms = stamp
        st = self._new_state(ric, INDEX, 0.01, ref)
        rng = st.rng
        st.sigma = 0.00015
        st.breadth = True
        hst = st.round_px(ref * math.exp(rng.gauss(0.0, 0.01)))
        st.anchor(hst)
        st.log_mid += rng.gauss(0.0, 0.004)
        level = st.round_px(math.exp(st.log_mid))
        prev = [st.round_px(level * math.exp(rng.gauss(0.0, 0.0002))) for _ in range(4)]
        open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.002)))
        hi = st.round_px(max(level, open_, *prev) * (1 + rng.random() * 0.002))
        lo = st.round_px(min(level, open_, *prev) * (1 - rng.random() * 0.002))
        adv = int(members * (0.3 + rng.random() * 0.4))
        unc = int((members - adv) * rng.random() * 0.1)
        dec_n = members - adv - unc
        vol = int(weight * 1e8 * (0.3 + rng.random()))
        yrhigh = st.round_px(max(hi, hst * (1.02 + rng.random() * 0.1)))
        yrlow = st.round_px(min(lo, hst * (0.75 + rng.random() * 0.15)))
        st.inst.image = {
            "PROD_PERM": 1710,
            "RDNDISPLAY": 141,
            "DSPLY_NAME": name,
            "RDN_EXCHID": exch,
            "RDN_EXCHD2": exch,
            "CURRENCY": ccy,
            "TRD_UNITS": "2DP ",
            "PREF_DISP": 6001,
            "TRDPRC_1": level,
            "TRDPRC_2": prev[0],
            "TRDPRC_3": prev[1],
            "TRDPRC_4": prev[2],
            "TRDPRC_5": prev[3],
            "PRCTCK_1": _UP if level >= prev[0] else _DOWN,
            "NETCHNG_1": round(level - hst, 2),
            "PCTCHNG": round((level / hst - 1.0) * 100.0, 2),
            "OPEN_PRC": open_,
            "HIGH_1": hi,
            "LOW_1": lo,
            "HST_CLOSE": hst,
            "HSTCLSDATE": self._prev.isoformat(),
            "TRDTIM_1": hms,
            "TRADE_DATE": dstr,
            "SALTIM": hms,
            "SALTIM_MS": ms,
            "TIMACT": hms,
            "ACTIV_DATE": dstr,
            "BID": None,
            "ASK": None,
            "ACVOL_1": vol,
            "NUM_MOVES": 1000 + int(rng.random() * 5000),
            "YRHIGH": yrhigh,
            "YRLOW": yrlow,
            "YRHIGHDAT": self._days_ago(rng, 5, 180),
            "YRLOWDAT": self._days_ago(rng, 180, 360),
            "ISSUES_ADV": adv,
            "ISSUES_DEC": dec_n,
            "ISSUES_UNC": unc,
            "VOLUME_ADV": int(vol * adv / members),
            "VOLUME_DEC": int(vol * dec_n / members),
            "VOLUME_UNC": int(vol * unc / members),
            "NEW_HIGHS": int(rng.random() * members * 0.03),
            "NEW_LOWS": int(rng.random() * members * 0.03),
        }
        self._register(st, weight)

    def _add_bond(
        self,
        ric: str,
        issuer: str,
        coupon: float,
        tenor: int,
        y0: float,
        ccy: str,
        tick: float,
        month: int,
        day: int,
        country: str,
        weight: float,
        *,
        stamp: tuple[str, str, int],
    ) -> None:
        dstr, hms, ms = stamp
        today = self._today
        issue = date(today.year, month, day)
        if issue > today:
            issue = date(today.year - 1, month, day)
        matur = date(issue.year + tenor, month, day)
        periods = tenor * 2.0
        p0 = _bond_price(coupon, y0, periods)
        st = self._new_state(ric, BOND, tick, p0)
        rng = st.rng
        st.bond = True
        st.sigma = 0.00008 * math.sqrt(tenor)
        st.kappa = 0.002
        up = _bond_price(coupon, y0 - 0.01, periods)
        down = _bond_price(coupon, y0 + 0.01, periods)
        st.p0 = p0
        st.y0 = y0
        st.dur = (up - down) / (2 * p0 * 0.0001)  # modified duration, years
        st.conv = (up + down - 2 * p0) / (p0 * 0.0001**2)
        st.accr = round(coupon / 2 * ((today - issue).days % 182) / 182, 6)
        hst = st.round_px(p0 * math.exp(rng.gauss(0.0, 0.001)))
        st.log_mid = math.log(p0) + rng.gauss(0.0, 0.001)
        st.quote_ticks(math.exp(st.log_mid))
        bid, ask = st.px(st.bid_t), st.px(st.ask_t)
        mid = round((bid + ask) / 2, st.dec + 1)
        open_ = st.round_px(hst * math.exp(rng.gauss(0.0, 0.0005)))
        hi = st.round_px(max(bid, open_) + tick * int(rng.random() * 10))
        lo = st.round_px(min(bid, open_) - tick * int(rng.random() * 10))
        nsin = "".join(str(int(rng.random() * 10)) for _ in range(9))
        if country == "US":
            nsin = _cusip("91282C" + nsin[:2])
        elif country == "GB":
            nsin = "00B" + nsin[:6]
        by, ay, my = self._yield(st, bid), self._yield(st, ask), self._yield(st, mid)
        st.inst.image = {
            "PROD_PERM": 3720,
            "RDNDISPLAY": 220,
            "DSPLY_NAME": f"{issuer} {coupon:g} {matur:%m/%y}",
            "CURRENCY": ccy,
            "ISIN_CODE": _isin(country, nsin),
            "COUPN_RATE": coupon,
            "ISSUE_DATE": issue.isoformat(),
            "MATUR_DATE": matur.isoformat(),
            "BOND_TYPE": None,
            "RATING": None,
            "AMT_OS": float(40_000 + int(rng.random() * 40) * 1000) * 1e6,
            "BID": bid,
            "BID_1": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "BID_2": st.px(st.bid_t + int(rng.random() * 3) - 1),
            "ASK": ask,
            "ASK_1": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "ASK_2": st.px(st.ask_t + int(rng.random() * 3) - 1),
            "MID_PRICE": mid,
            "PRIMACT_1": bid,
            "BID_TICK_1": _UP if rng.random() < 0.5 else _DOWN,
            "B_YLD_1": by,
            "A_YLD_1": ay,
            "MID_YLD_1": my,
            "YLDTOMAT": my,
            "CLEAN_PRC": mid,
            "DIRTY_PRC": round(mid + st.accr, 6),
            "ACCR_INT": st.accr,
            "MOD_DURTN": round(st.dur, 4),
            "CONVEXITY": round(st.conv, 4),
            "BPV": round(st.dur * (mid + st.accr) * 1e-4, 6),
            "BMK_SPD": 0.0,
            "SWAP_SPRD": round(rng.gauss(-30.0, 10.0), 1) if ccy == "USD" else None,
            "ZSPREAD": None,
            "NETCHNG_1": round(bid - hst, st.dec),
            "PCTCHNG": round((bid / hst - 1.0) * 100.0, 2),
            "BID_NET_CH": round(bid - hst, st.dec),
            "OPEN_PRC": open_,
            "HIGH_1": hi,
            "LOW_1": lo,
            "HST_CLOSE": hst,
            "HSTCLSDATE": self._prev.isoformat(),
            "CLOSE_BID": hst,
            "CLOSE_ASK": st.round_px(hst + tick),
            "QUOTIM": hms,
            "QUOTIM_MS": ms,
            "QUOTE_DATE": dstr,
            "TIMACT": hms,
            "ACTIV_DATE": dstr,
        }
        self._register(st, weight)

    # ------------------------------------------------------------------ the processes

    @staticmethod
    def _yield(st: _State, price: float) -> float:
        """Yield (percent) of a bond price, from the duration/convexity expansion."""
        x = price / st.p0 - 1.0
        d, c = st.dur, st.conv
        disc = d * d + 2.0 * c * x
        dy = (d - math.sqrt(disc)) / c if disc > 0 and c > 0 else -x / d
        return round(st.y0 + dy * 100.0, 4)

    def _requote(self, st: _State, img: dict[str, Any], ch: dict[str, Any]) -> tuple[float, float]:
        """Move the quote: new BID/ASK into ``ch``, ripples into ``img``."""
        old_bid_t = st.bid_t
        st.quote_ticks(st.walk())
        bid = st.px(st.bid_t)
        ask = st.px(st.ask_t)
        img["BID_2"] = img.get("BID_1")
        img["BID_1"] = img.get("BID")
        img["ASK_2"] = img.get("ASK_1")
        img["ASK_1"] = img.get("ASK")
        ch["BID"] = bid
        ch["ASK"] = ask
        if st.bid_t != old_bid_t:
            ch["BID_TICK_1"] = _UP if st.bid_t > old_bid_t else _DOWN
        return bid, ask

    def _equity_quote(self, st: _State) -> dict[str, Any]:
        img = st.inst.image
        dstr, hms, ms = self._now(self._clock())
        ch: dict[str, Any] = {}
        bid, _ = self._requote(st, img, ch)
        rng = st.rng
        lot = st.size_lot
        ch["BIDSIZE"] = lot * (1 + int(rng.random() * 20))
        ch["ASKSIZE"] = lot * (1 + int(rng.random() * 20))
        cb = _positive(img.get("CLOSE_BID"))
        if cb is not None:
            ch["BID_NET_CH"] = round(bid - cb, st.dec)
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        ch["SEQNUM_QT"] = _number(img.get("SEQNUM_QT"), 0.0) + 1.0
        if img.get("QUOTE_DATE") != dstr:
            ch["QUOTE_DATE"] = dstr
        img.update(ch)
        return ch

    def _equity_trade(self, st: _State) -> dict[str, Any]:
        img = st.inst.image
        dstr, hms, ms = self._now(self._clock())
        rng = st.rng
        st.walk()
        u = rng.random()
        if u < 0.45:
            px_t = st.bid_t
        elif u < 0.9:
            px_t = st.ask_t
        else:
            px_t = (st.bid_t + st.ask_t) // 2
        price = st.px(px_t)
        lot = st.size_lot
        if lot > 1 and rng.random() < 0.08:
            vol = 1 + int(rng.random() * (lot - 1))
        else:
            vol = lot * min(int(rng.paretovariate(1.4)), 2000)
        prev = img.get("TRDPRC_1")
        img["TRDPRC_5"] = img.get("TRDPRC_4")
        img["TRDPRC_4"] = img.get("TRDPRC_3")
        img["TRDPRC_3"] = img.get("TRDPRC_2")
        img["TRDPRC_2"] = prev
        acvol = _number(img.get("ACVOL_1"), 0.0) + vol
        acvol_out: float | int = int(acvol) if acvol.is_integer() else acvol
        st.turnover += price * vol
        st.trade_seq += 1
        ch: dict[str, Any] = {
            "TRDPRC_1": price,
            "TRDVOL_1": vol,
            "SALTIM": hms,
            "SALTIM_MS": ms,
            "TRDTIM_1": hms,
            "ACVOL_1": acvol_out,
            "NUM_MOVES": int(_number(img.get("NUM_MOVES"), 0.0)) + 1,
        }
        last = _positive(prev)
        if last is not None and price != last:
            ch["PRCTCK_1"] = _UP if price > last else _DOWN
        hst = _positive(img.get("HST_CLOSE"))
        if hst is not None:
            ch["NETCHNG_1"] = round(price - hst, st.dec)
            ch["PCTCHNG"] = round((price / hst - 1.0) * 100.0, 2)
        high = img.get("HIGH_1")
        if not isinstance(high, (int, float)) or price > high:
            ch["HIGH_1"] = price
        low = img.get("LOW_1")
        if not isinstance(low, (int, float)) or price < low:
            ch["LOW_1"] = price
        if img.get("OPEN_PRC") is None:
            ch["OPEN_PRC"] = price
        ch["VWAP"] = round(st.turnover / acvol, st.dec + 2) if acvol > 0 else price
        ch["TURNOVER"] = round(st.turnover, 2)
        ch["VOL_X_PRC1"] = round(price * vol, 2)
        ch["TRADE_ID"] = str(st.trade_seq)
        ch["SEQNUM"] = float(st.trade_seq)
        if vol >= 10_000:
            ch["BLKCOUNT"] = int(_number(img.get("BLKCOUNT"), 0.0)) + 1
            ch["BLKVOLUM"] = int(_number(img.get("BLKVOLUM"), 0.0)) + vol
        if img.get("TRADE_DATE") != dstr:
            ch["TRADE_DATE"] = dstr
        img.update(ch)
        return ch

    def _fx_quote(self, st: _State) -> dict[str, Any]:
        img = st.inst.image
        dstr, hms, ms = self._now(self._clock())
        ch: dict[str, Any] = {}
        bid, ask = self._requote(st, img, ch)
        dec = st.dec
        mid = round((bid + ask) / 2, dec + 1)
        ch["PRIMACT_1"] = bid
        ch["MID_PRICE"] = mid
        hst = _positive(img.get("HST_CLOSE"))
        if hst is not None:
            net = round(bid - hst, dec)
            pct = round((bid / hst - 1.0) * 100.0, 2)
            ch["NETCHNG_1"] = net
            ch["PCTCHNG"] = pct
            ch["BID_NET_CH"] = net
            ch["BIDPCTCHNG"] = pct
        rng = st.rng
        if rng.random() < 0.3:
            name, loc, page, dlg = _CONTRIBUTORS[int(rng.random() * len(_CONTRIBUTORS))]
            ch["CTBTR_1"] = name
            ch["CTB_LOC1"] = loc
            ch["CTB_PAGE1"] = page
            ch["DLG_CODE1"] = dlg
            ch["DSPLY_NAME"] = f"{name} {loc}"[:16]
        ch["VALUE_TS1"] = hms
        ch["TIMACT"] = hms
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        n = int(_number(img.get("ACVOL_1"), 0.0)) + 1
        ch["ACVOL_1"] = n
        ch["NUM_MOVES"] = n
        for key, value, up in (
            ("HIGH_1", bid, True),
            ("LOW_1", bid, False),
            ("BID_HIGH_1", bid, True),
            ("BID_LOW_1", bid, False),
            ("ASK_HIGH_1", ask, True),
            ("ASK_LOW_1", ask, False),
            ("MID_HIGH", mid, True),
            ("MID_LOW", mid, False),
        ):
            cur = img.get(key)
            if not isinstance(cur, (int, float)) or (value > cur if up else value < cur):
                ch[key] = value
        if img.get("QUOTE_DATE") != dstr:
            ch["QUOTE_DATE"] = dstr
            ch["VALUE_DT1"] = dstr
            ch["ACTIV_DATE"] = dstr
        img.update(ch)
        return ch

    def _index_tick(self, st: _State) -> dict[str, Any]:
        img = st.inst.image
        dstr, hms, ms = self._now(self._clock())
        rng = st.rng
        level = st.round_px(st.walk())
        prev = img.get("TRDPRC_1")
        img["TRDPRC_5"] = img.get("TRDPRC_4")
        img["TRDPRC_4"] = img.get("TRDPRC_3")
        img["TRDPRC_3"] = img.get("TRDPRC_2")
        img["TRDPRC_2"] = prev
        ch: dict[str, Any] = {"TRDPRC_1": level}
        last = _positive(prev)
        up = last is None or level >= last
        if last is not None and level != last:
            ch["PRCTCK_1"] = _UP if level > last else _DOWN
        hst = _positive(img.get("HST_CLOSE"))
        if hst is not None:
            ch["NETCHNG_1"] = round(level - hst, 2)
            ch["PCTCHNG"] = round((level / hst - 1.0) * 100.0, 2)
        high = img.get("HIGH_1")
        if not isinstance(high, (int, float)) or level > high:
            ch["HIGH_1"] = level
        low = img.get("LOW_1")
        if not isinstance(low, (int, float)) or level < low:
            ch["LOW_1"] = level
        ch["TRDTIM_1"] = hms
        ch["SALTIM"] = hms
        ch["SALTIM_MS"] = ms
        ch["TIMACT"] = hms
        ch["NUM_MOVES"] = int(_number(img.get("NUM_MOVES"), 0.0)) + 1
        dv = int(rng.random() * 200_000) + 1
        ch["ACVOL_1"] = int(_number(img.get("ACVOL_1"), 0.0)) + dv
        vkey = "VOLUME_ADV" if up else "VOLUME_DEC"
        ch[vkey] = int(_number(img.get(vkey), 0.0)) + dv
        if rng.random() < 0.25:
            src, dst = ("ISSUES_DEC", "ISSUES_ADV") if up else ("ISSUES_ADV", "ISSUES_DEC")
            if rng.random() < 0.2:
                src = "ISSUES_UNC"
            n_src = int(_number(img.get(src), 0.0))
            if n_src > 0:
                ch[src] = n_src - 1
                ch[dst] = int(_number(img.get(dst), 0.0)) + 1
        if rng.random() < 0.01:
            key = "NEW_HIGHS" if up else "NEW_LOWS"
            ch[key] = int(_number(img.get(key), 0.0)) + 1
        if img.get("TRADE_DATE") != dstr:
            ch["TRADE_DATE"] = dstr
            ch["ACTIV_DATE"] = dstr
        img.update(ch)
        return ch

    def _bond_quote(self, st: _State) -> dict[str, Any]:
        img = st.inst.image
        dstr, hms, ms = self._now(self._clock())
        ch: dict[str, Any] = {}
        bid, ask = self._requote(st, img, ch)
        mid = round((bid + ask) / 2, st.dec + 1)
        my = self._yield(st, mid)
        ch["MID_PRICE"] = mid
        ch["PRIMACT_1"] = bid
        ch["B_YLD_1"] = self._yield(st, bid)
        ch["A_YLD_1"] = self._yield(st, ask)
        ch["MID_YLD_1"] = my
        ch["YLDTOMAT"] = my
        ch["CLEAN_PRC"] = mid
        ch["DIRTY_PRC"] = round(mid + st.accr, 6)
        hst = _positive(img.get("HST_CLOSE"))
        if hst is not None:
            net = round(bid - hst, st.dec)
            ch["NETCHNG_1"] = net
            ch["PCTCHNG"] = round((bid / hst - 1.0) * 100.0, 2)
            ch["BID_NET_CH"] = net
        high = img.get("HIGH_1")
        if not isinstance(high, (int, float)) or bid > high:
            ch["HIGH_1"] = bid
        low = img.get("LOW_1")
        if not isinstance(low, (int, float)) or bid < low:
            ch["LOW_1"] = bid
        ch["QUOTIM"] = hms
        ch["QUOTIM_MS"] = ms
        ch["TIMACT"] = hms
        if img.get("QUOTE_DATE") != dstr:
            ch["QUOTE_DATE"] = dstr
            ch["ACTIV_DATE"] = dstr
        img.update(ch)
        return ch
