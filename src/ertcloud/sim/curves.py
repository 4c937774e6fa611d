"""YieldCurve records of the simulator: a FieldList whose ``CASH_RATES`` and
``YLD_CURVE`` fields are Vectors, one entry per tenor (WebSocket API guide, YieldCurve
domain).

No I/O. The curves and their tenors are data (``market/instruments.toml``). Rates follow a
small seeded random walk; each :meth:`Curve.step` moves one tenor and returns the fields of
the Update (Vector entries with ``Action`` ``Update``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .market.process import stable_seed
from .market.table import TABLE

__all__ = ["Curve", "make_curves"]

_TENORS = TABLE.tenors


def _tenor_array() -> dict[str, Any]:
    return {"Type": "AsciiString", "Data": [t for t, _ in _TENORS]}


class Curve:
    """One yield curve: cash rates and zero rates per tenor."""

    def __init__(
        self,
        name: str,
        currency: str,
        short: float,
        long: float,
        crv_id: int,
        *,
        seed: int,
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self.currency = currency
        self.crv_id = crv_id
        self.clock = clock
        self.rng = random.Random(stable_seed(seed, f"curve/{name}"))
        self.val_date = datetime.fromtimestamp(clock(), tz=timezone.utc).date()
        n = len(_TENORS) - 1
        self.rates = [round(short + (long - short) * i / n, 5) for i in range(len(_TENORS))]

    def _mdate(self, days: int) -> str:
        return (self.val_date + timedelta(days=days)).isoformat()

    def _zero(self, i: int) -> tuple[float, float]:
        years = _TENORS[i][1] / 365.0
        z = round(self.rates[i] * 1.002, 6)
        return z, round(math.exp(-z / 100.0 * years), 10)

    def _timact(self) -> str:
        t = self.clock()
        return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"

    def image(self) -> dict[str, Any]:
        """The Refresh field list, Vectors included."""
        cash = [
            {
                "Index": i,
                "Action": "Set",
                "Fields": {
                    "CASH_SDATE": self.val_date.isoformat(),
                    "CASH_MDATE": self._mdate(days),
                    "CASH_RATE": self.rates[i],
                    "CASH_SRC": f"{self.currency}{tenor}D=",
                },
            }
            for i, (tenor, days) in enumerate(_TENORS)
        ]
        curve = []
        for i, (_, days) in enumerate(_TENORS):
            z, df = self._zero(i)
            curve.append(
                {
                    "Index": i,
                    "Action": "Set",
                    "Fields": {"YCT_DATE": self._mdate(days), "YCT_ZRATE": z, "YCT_DISFAC": df},
                }
            )
        return {
            "CRV_ID": self.crv_id,
            "CRV_NAME": self.name,
            "CRV_TYPE": "Swap",
            "CCY_CODE": self.currency,
            "TRADE_DATE": self.val_date.isoformat(),
            "VAL_DATE": self.val_date.isoformat(),
            "TIMACT": self._timact(),
            "SPOT_LAG": 2,
            "CASH_BASIS": "ACT/360",
            "CC_METHOD": "Bootstrap",
            "CASH_RATES": {
                "CountHint": len(cash),
                "Summary": {"Fields": {"TENORS": _tenor_array()}},
                "Entries": cash,
            },
            "YLD_CURVE": {
                "CountHint": len(curve),
                "Summary": {"Fields": {"TENORS": _tenor_array()}},
                "Entries": curve,
            },
        }

    def step(self) -> dict[str, Any]:
        """Move one tenor's rate; the fields of the resulting Update."""
        i = int(self.rng.random() * len(_TENORS))
        self.rates[i] = round(self.rates[i] + self.rng.choice((-1, 1)) * 0.0025, 5)
        z, df = self._zero(i)
        return {
            "TIMACT": self._timact(),
            "CASH_RATES": {
                "Entries": [
                    {"Index": i, "Action": "Update", "Fields": {"CASH_RATE": self.rates[i]}}
                ]
            },
            "YLD_CURVE": {
                "Entries": [
                    {"Index": i, "Action": "Update", "Fields": {"YCT_ZRATE": z, "YCT_DISFAC": df}}
                ]
            },
        }


def make_curves(seed: int, clock: Callable[[], float] = time.time) -> dict[str, Curve]:
    """The simulator's curves by name."""
    return {
        c.name: Curve(c.name, c.currency, c.short, c.long, c.id, seed=seed, clock=clock)
        for c in TABLE.curves
    }
