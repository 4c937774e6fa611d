"""The instrument table: ``instruments.toml`` (the market's reference data: instruments of
every asset class, their field sets, yield curves, order-book participants) read into typed
records, once, at import.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "TABLE",
    "BondSpec",
    "Contributor",
    "CurveSpec",
    "EquitySpec",
    "FieldSet",
    "FxSpec",
    "IndexSpec",
    "Table",
    "Venue",
]


@dataclass(frozen=True, slots=True)
class Venue:
    """An equity venue (by RIC suffix)."""

    exchd2: str  # RDN_EXCHD2 display
    exchid: str  # RDN_EXCHID display
    mic: str
    currency: str
    perm: int  # PROD_PERM
    lot: int  # LOT_SIZE_A
    size_lot: int  # the usual quote/trade size unit
    country: str  # ISIN country code
    tick_rule: str


@dataclass(frozen=True, slots=True)
class EquitySpec:
    ric: str
    name: str
    price: float  # reference price
    isin: str
    weight: float
    local_name: str | None = None  # DSPLY_NMLL
    sigma_scale: float = 1.0  # volatility relative to the class's


@dataclass(frozen=True, slots=True)
class FxSpec:
    ric: str
    price: float  # reference bid
    tick: float
    currency: str  # CURRENCY, the quote currency
    base: str  # BASE_CCY
    weight: float


@dataclass(frozen=True, slots=True)
class Contributor:
    """An FX quote contributor (``CTBTR_1`` ...)."""

    name: str
    location: str
    page: str
    code: str


@dataclass(frozen=True, slots=True)
class IndexSpec:
    ric: str
    name: str
    price: float  # reference level
    currency: str
    exchange: str
    members: int
    weight: float
    chain: tuple[str, ...] = ()  # venues (RIC suffixes) of its constituent chain


@dataclass(frozen=True, slots=True)
class CurveSpec:
    """A yield curve: its rates start on a line from ``short`` to ``long`` (percent)."""

    name: str
    currency: str
    short: float
    long: float
    id: int  # CRV_ID


@dataclass(frozen=True, slots=True)
class BondSpec:
    ric: str
    issuer: str
    coupon: float
    tenor: int  # years
    yld: float  # reference yield, percent
    currency: str
    tick: float
    month: int  # coupon (and issue) date
    day: int
    country: str  # of the ISIN
    weight: float


@dataclass(frozen=True, slots=True)
class FieldSet:
    """The record layout of an asset class: its fields in Refresh order, those holding the
    same value in every record, and those always blank."""

    kind: str
    fields: tuple[str, ...]
    constants: dict[str, Any]
    blank: tuple[str, ...]

    def image(self, values: dict[str, Any]) -> dict[str, Any]:
        """The record image made of the computed ``values`` (every other field of the set),
        the constants and the blanks, in Refresh order."""
        merged = {**self.constants, **dict.fromkeys(self.blank), **values}
        if merged.keys() != set(self.fields):
            odd = sorted(merged.keys() ^ set(self.fields))
            raise ValueError(f"{self.kind} record fields differ from its field set: {odd}")
        return {f: merged[f] for f in self.fields}


@dataclass(frozen=True, slots=True)
class Table:
    """Everything ``instruments.toml`` holds."""

    trd_units: tuple[str, ...]
    tick_bands: dict[str, tuple[tuple[float, float], ...]]
    venues: dict[str, Venue]
    equities: tuple[EquitySpec, ...]
    synthetic_price_scale: dict[str, float]
    fx: tuple[FxSpec, ...]
    contributors: tuple[Contributor, ...]
    indices: tuple[IndexSpec, ...]
    index_tick: float
    bonds: tuple[BondSpec, ...]
    field_sets: dict[str, FieldSet]
    tenors: tuple[tuple[str, int], ...]  # of the yield curves: label, days
    curves: tuple[CurveSpec, ...]
    market_makers: dict[str, str]  # MMID -> MKT_MKR_NM

    def tick(self, rule: str, price: float) -> float:
        """Tick size of ``price`` under the venue tick rule ``rule``."""
        bands = self.tick_bands[rule]
        return next((t for lim, t in bands if price < lim), bands[-1][1])

    def units(self, decimals: int) -> str:
        """The ``TRD_UNITS`` display of a price with ``decimals`` decimals."""
        return self.trd_units[decimals] if 0 <= decimals < len(self.trd_units) else "INT "


def _field_set(kind: str, section: dict[str, Any]) -> FieldSet:
    return FieldSet(
        kind, tuple(section["fields"]), dict(section["constants"]), tuple(section["blank"])
    )


def _load(text: str) -> Table:
    d = tomllib.loads(text)
    eq, fx, ix, bd = d["equity"], d["fx"], d["index"], d["bond"]
    bonds = []
    for row in bd["instruments"]:
        row = dict(row)
        row["yld"] = row.pop("yield")
        bonds.append(BondSpec(**row))
    return Table(
        trd_units=tuple(d["trd_units"]),
        tick_bands={
            rule: tuple((float(lim), float(t)) for lim, t in bands)
            for rule, bands in d["tick_bands"].items()
        },
        venues={suffix: Venue(**v) for suffix, v in d["venues"].items()},
        equities=tuple(EquitySpec(**row) for row in eq["instruments"]),
        synthetic_price_scale=dict(eq["synthetic_price_scale"]),
        fx=tuple(FxSpec(**row) for row in fx["instruments"]),
        contributors=tuple(Contributor(**row) for row in fx["contributors"]),
        indices=tuple(
            IndexSpec(**{**row, "chain": tuple(row.get("chain", ()))}) for row in ix["instruments"]
        ),
        index_tick=float(ix["tick"]),
        bonds=tuple(bonds),
        field_sets={kind: _field_set(kind, d[kind]) for kind in ("equity", "fx", "index", "bond")},
        tenors=tuple((str(label), int(days)) for label, days in d["curves"]["tenors"]),
        curves=tuple(CurveSpec(**row) for row in d["curves"]["instruments"]),
        market_makers=dict(d["market_makers"]),
    )


#: The market's instrument table.
TABLE = _load(resources.files(__package__).joinpath("instruments.toml").read_text("utf-8"))
