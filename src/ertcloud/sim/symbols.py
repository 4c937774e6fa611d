"""SymbolList records of the simulator: most-active lists (``.AV.N``, ``.AV.O`` ...) and
index constituent chains (``0#.SPX``, ``0#.FTSE`` ...), as Map entries keyed by the
base64 of each RIC.

No I/O. Most-active lists rank the venue's equities by accumulated volume (``ACVOL_1``
of the MarketPrice image), so they move when the market trades; chains are static.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .market import EQUITY, Market
from .market.table import TABLE

__all__ = ["SymbolList", "SymbolLists", "ric_key"]

_ACTIVE_SIZE = 5
# index RIC -> venue suffixes of its constituents
_CHAINS: dict[str, tuple[str, ...]] = {i.ric: i.chain for i in TABLE.indices if i.chain}


def ric_key(ric: str) -> str:
    """The SymbolList map key of a RIC (``F.N`` -> ``Ri5O``)."""
    return base64.b64encode(ric.encode()).decode()


def _acvol(market: Market, ric: str) -> float:
    inst = market.get(ric)
    v = inst.image.get("ACVOL_1") if inst is not None else None
    return float(v) if isinstance(v, (int, float)) else 0.0


@dataclass
class SymbolList:
    """One list: its name, display name, candidate RICs and, for a most-active list,
    how many of them it holds."""

    name: str
    display: str
    candidates: tuple[str, ...]
    size: int | None = None  # None: every candidate, in order (a chain)
    moves: int = 0

    @property
    def ranked(self) -> bool:
        return self.size is not None

    def members(self, market: Market) -> dict[str, int]:
        """RIC -> rank position (1 = first) of the current members."""
        if self.size is None:
            return {r: i for i, r in enumerate(self.candidates, 1)}
        order = sorted(self.candidates, key=lambda r: (-_acvol(market, r), r))
        return {r: i for i, r in enumerate(order[: self.size], 1)}

    def summary(self) -> dict[str, Any]:
        return {"DSPLY_NAME": self.display, "NUM_MOVES": self.moves}

    @staticmethod
    def entries(members: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {"Action": "Add", "Key": ric_key(r), "Fields": {"RANK_POS": pos}}
            for r, pos in members.items()
        ]

    @staticmethod
    def diff(old: dict[str, int], new: dict[str, int]) -> list[dict[str, Any]]:
        """Entries that turn the ``old`` member set into ``new``."""
        out: list[dict[str, Any]] = [
            {"Action": "Delete", "Key": ric_key(r)} for r in old if r not in new
        ]
        for r, pos in new.items():
            if r not in old:
                out.append({"Action": "Add", "Key": ric_key(r), "Fields": {"RANK_POS": pos}})
            elif old[r] != pos:
                out.append({"Action": "Update", "Key": ric_key(r), "Fields": {"RANK_POS": pos}})
        return out


class SymbolLists:
    """Every SymbolList record of a market, by name."""

    def __init__(self, market: Market) -> None:
        self.lists: dict[str, SymbolList] = {}
        by_venue: dict[str, list[str]] = {}
        for ric, inst in market.instruments.items():
            if inst.kind == EQUITY and "." in ric:
                by_venue.setdefault(ric.rsplit(".", 1)[1], []).append(ric)
        for venue, rics in sorted(by_venue.items()):
            name = f".AV.{venue}"
            size = min(_ACTIVE_SIZE, len(rics))
            self.lists[name] = SymbolList(name, f"TOP {size} BY VOLUME", tuple(rics), size)
        for index, venues in _CHAINS.items():
            members = tuple(r for v in venues for r in by_venue.get(v, ()))
            rec = market.get(index)
            if members and rec is not None:
                display = str(rec.image.get("DSPLY_NAME") or index)
                name = f"0#{index}"
                self.lists[name] = SymbolList(name, display, members)

    def get(self, name: str) -> SymbolList | None:
        return self.lists.get(name)

    def containing(self, ric: str) -> list[SymbolList]:
        """The most-active lists ``ric`` is a candidate of."""
        return [sl for sl in self.lists.values() if sl.ranked and ric in sl.candidates]
