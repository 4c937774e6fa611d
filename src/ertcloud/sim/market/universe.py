"""The market: every instrument of the table (and extra synthetic equities), their price
processes, and the liquidity-weighted choice of which one moves next."""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any

from ...exceptions import ConfigError
from ...protocol.streams import ripple as shift_ripples
from . import bond, equity, fx, index
from .process import PriceState, stable_seed
from .records import Calendar, Instrument, number, positive
from .table import TABLE

__all__ = ["Market"]


def _plain(ric: str) -> str:
    """``"/RIC"`` (delayed) -> ``RIC``."""
    return ric[1:] if ric.startswith("/") else ric


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
        self._cal = Calendar(clock)
        self._pick = random.Random(stable_seed(seed, "/market"))
        self.instruments: dict[str, Instrument] = {}
        self._states: dict[str, PriceState] = {}
        self._order: list[PriceState] = []
        self._cum: list[float] = []
        self._total = 0.0

        cal = self._cal
        for e in TABLE.equities:
            venue = TABLE.venues[e.ric.rsplit(".", 1)[1]]
            self._register(equity.build(e, venue, seed, cal), e.weight)
        for f in TABLE.fx:
            self._register(fx.build(f, seed, cal), f.weight)
        for i in TABLE.indices:
            self._register(index.build(i, seed, cal), i.weight)
        for b in TABLE.bonds:
            self._register(bond.build(b, seed, cal), b.weight)
        for ric in extra_rics:
            ric = _plain(ric)
            if not ric:
                raise ConfigError("empty RIC in extra_rics")
            if ric not in self.instruments:
                spec, venue = equity.synthetic(ric)
                self._register(equity.build(spec, venue, seed, cal), spec.weight)

    def add_equity(self, ric: str) -> Instrument:
        """The equity ``ric``, added as a synthetic one if the market lacks it. It gets
        no weight in the random pick, so the other instruments' sequences do not move."""
        found = self.instruments.get(ric)
        if found is None:
            spec, venue = equity.synthetic(ric)
            self._register(equity.build(spec, venue, self.seed, self._cal), 0.0)
            found = self.instruments[ric]
        return found

    def _register(self, st: PriceState, weight: float) -> None:
        self.instruments[st.inst.ric] = st.inst
        self._states[st.inst.ric] = st
        self._order.append(st)
        self._total += weight
        self._cum.append(self._total)

    def get(self, ric: str) -> Instrument | None:
        """The instrument of ``ric``; ``"/RIC"`` (delayed) resolves to ``RIC``; else None."""
        return self.instruments.get(_plain(ric))

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
            found = self._states.get(_plain(ric))
            if found is None:
                raise KeyError(ric)
            st = found
        utype, changed = st.step(self._cal)
        return st.inst, utype, changed

    def apply(self, ric: str, fields: dict[str, Any], *, ripple: bool = False) -> None:
        """Merge externally posted fields into the image of ``ric``.

        With ``ripple`` the ripple chains (``TRDPRC_1`` -> ``TRDPRC_2`` ...) move first, as
        a cache applies an update: into the fields the image holds, never adding one (the
        consumer's rule too). Posted prices re-anchor the instrument's price process.
        Raises ``KeyError`` for an unknown RIC.
        """
        key = _plain(ric)
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
        bid = positive(img.get("BID"))
        ask = positive(img.get("ASK"))
        if "BID" in fields or "ASK" in fields:
            if bid is not None and ask is not None:
                st.bid_t = max(1, round(bid / st.tick))
                st.ask_t = max(st.bid_t + 1, round(ask / st.tick))
                st.anchor((bid + ask) / 2)
        elif "TRDPRC_1" in fields:
            last = positive(fields["TRDPRC_1"])
            if last is not None:
                st.anchor(last)
        if "TURNOVER" in fields:
            st.turnover = number(fields["TURNOVER"], st.turnover)

    def create(self, ric: str, fields: dict[str, Any]) -> Instrument:
        """Add a record made of ``fields`` only (a posted Refresh); it has no price
        process, so :meth:`step` does not move it. Raises ``ValueError`` if it exists."""
        key = _plain(ric)
        if not key or key in self.instruments:
            raise ValueError(f"cannot create record {ric!r}")
        inst = Instrument(key, "posted", dict(fields))
        self.instruments[key] = inst
        return inst

    def steppable(self, ric: str) -> bool:
        """True if ``ric`` has a price process (:meth:`step` accepts it)."""
        return _plain(ric) in self._states

    def book_params(self, ric: str) -> tuple[float, int, int] | None:
        """``(tick, decimals, lot)`` of an equity, for its order book; None otherwise."""
        st = self._states.get(_plain(ric))
        if st is None or st.kind != equity.EQUITY:
            return None
        return st.tick, st.dec, st.size_lot

    def now(self) -> float:
        """The market's clock: epoch seconds (UTC)."""
        return self._cal.clock()

    def stamp(self) -> tuple[str, int]:
        """The current date ``"YYYY-MM-DD"`` and ms since midnight (UTC)."""
        d, _, ms = self._cal.now()
        return d, ms
