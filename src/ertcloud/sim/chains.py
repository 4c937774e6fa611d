"""Chain records of the simulator: index constituents in the MarketPrice domain, as a
real server has them (``0#.DJI``, ``1#.DJI`` ... linked by their next/prev fields).

No I/O. Each chain record carries ``REF_COUNT``, all 14 link fields of its template
(blank ones null), the previous and next record fields, ``DSPLY_NAME`` and
``RECORDTYPE``. ``0#.FTSE`` uses the long template (``LONGLINK1``..``LONGLINK14``,
``LONGPREVLR``/``LONGNEXTLR``), the others the short one (``LINK_1``..``LINK_14``,
``PREV_LR``/``NEXT_LR``). Constituents change during the day: :meth:`ChainRecords.step`
swaps a member, or adds or removes one at the end of the last record, and returns the
fields of the Update (changed links, and ``REF_COUNT`` when the count changes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .market import Market

__all__ = ["CHAINS", "ChainRecords"]

_LINKS = 14
#: index -> (template, constituents beyond the instrument table, reserve for changes)
CHAINS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    ".DJI": (
        "short",
        (
            "AXP.N",
            "BA.N",
            "CAT.N",
            "CVX.N",
            "DIS.N",
            "GS.N",
            "HD.N",
            "HON.N",
            "JNJ.N",
            "MCD.N",
            "MMM.N",
            "MRK.N",
            "NKE.N",
            "PG.N",
            "TRV.N",
            "UNH.N",
            "VZ.N",
            "WMT.N",
            "CRM.N",
            "SHW.N",
            "V.N",
            "AMGN.O",
        ),
        ("DOW.N", "INTC.O", "WBA.O", "XOM.N", "PFE.N"),
    ),
    ".FTSE": (
        "long",
        (
            "GSK.L",
            "ULVR.L",
            "RIO.L",
            "BP.L",
            "LLOY.L",
            "DGE.L",
            "BATS.L",
            "REL.L",
            "NG.L",
            "PRU.L",
            "TSCO.L",
            "LSEG.L",
            "GLEN.L",
            "AAL.L",
        ),
        ("RR.L", "BT.L", "IAG.L", "SBRY.L"),
    ),
    ".SPX": (
        "short",
        (
            "META.O",
            "TSLA.O",
            "BRKb.N",
            "LLY.N",
            "AVGO.O",
            "XOM.N",
            "UNH.N",
            "V.N",
            "MA.N",
            "PG.N",
            "JNJ.N",
            "HD.N",
            "COST.O",
            "ABBV.N",
            "MRK.N",
            "CVX.N",
            "PEP.O",
            "ADBE.O",
            "WMT.N",
            "BAC.N",
            "CRM.N",
            "NFLX.O",
            "TMO.N",
            "ORCL.N",
            "ACN.N",
        ),
        ("SMCI.O", "DECK.N", "GDDY.N", "ERIE.O"),
    ),
}
_TEMPLATES = {
    "short": (tuple(f"LINK_{i}" for i in range(1, 15)), "PREV_LR", "NEXT_LR"),
    "long": (tuple(f"LONGLINK{i}" for i in range(1, 15)), "LONGPREVLR", "LONGNEXTLR"),
}


def _record_name(n: int, index: str) -> str:
    return f"{n}#{index}" if n < 10 else f"{n:X}#{index}"


@dataclass
class _Chain:
    index: str
    template: str
    names: list[str]  # the records, in order
    reserve: list[str]


class ChainRecords:
    """Every chain record of the market; the records are added to the market as
    instruments without a price process, so MarketPrice requests find them."""

    def __init__(self, market: Market, members: dict[str, tuple[str, ...]]) -> None:
        self.market = market
        self.rng = random.Random(f"{market.seed}/chains")
        #: record name -> its chain
        self.records: dict[str, _Chain] = {}
        for index, (template, extra, reserve) in CHAINS.items():
            rec = market.get(index)
            if rec is None:
                continue
            rics = list(dict.fromkeys([*members.get(f"0#{index}", ()), *extra]))
            for r in [*rics, *reserve]:
                market.add_equity(r)
            display = str(rec.image.get("DSPLY_NAME") or index)
            n_rec = max(1, -(-len(rics) // _LINKS))
            spare = [r for r in reserve if r not in rics]
            ch = _Chain(index, template, [_record_name(i, index) for i in range(n_rec)], spare)
            links, prev_f, next_f = _TEMPLATES[template]
            for i, name in enumerate(ch.names):
                chunk = rics[i * _LINKS : (i + 1) * _LINKS]
                image: dict[str, Any] = {
                    "PROD_PERM": rec.image.get("PROD_PERM", 3),
                    "RDNDISPLAY": 173,
                    "DSPLY_NAME": display,
                    "RECORDTYPE": 104,
                    "REF_COUNT": len(chunk),
                }
                for k, f in enumerate(links):
                    image[f] = chunk[k] if k < len(chunk) else None
                image[prev_f] = ch.names[i - 1] if i > 0 else None
                image[next_f] = ch.names[i + 1] if i + 1 < len(ch.names) else None
                market.create(name, image)
                self.records[name] = ch

    def constituents(self, name: str) -> list[str]:
        """The current constituents of the chain of record ``name`` (for tests)."""
        ch = self.records[name]
        links = _TEMPLATES[ch.template][0]
        out: list[str] = []
        for rec in ch.names:
            img = self._image(rec)
            out.extend(str(img[f]) for f in links[: int(img["REF_COUNT"])])
        return out

    def _image(self, name: str) -> dict[str, Any]:
        inst = self.market.get(name)
        assert inst is not None
        return inst.image

    def step(self, name: str) -> dict[str, Any]:
        """Change the chain of record ``name`` once: swap a member of this record for a
        reserve one, or, on the last record, add or remove its last member. Returns the
        fields of the Update (empty if nothing could change)."""
        ch = self.records[name]
        links = _TEMPLATES[ch.template][0]
        img = self._image(name)
        count = int(img["REF_COUNT"])
        last = name == ch.names[-1]
        roll = self.rng.random()
        if last and roll < 0.3 and count > 1:
            f = links[count - 1]
            ch.reserve.append(str(img[f]))
            changed: dict[str, Any] = {f: None, "REF_COUNT": count - 1}
        elif last and roll < 0.6 and count < _LINKS and ch.reserve:
            changed = {links[count]: ch.reserve.pop(0), "REF_COUNT": count + 1}
        elif ch.reserve and count > 0:
            f = links[int(self.rng.random() * count)]
            new = ch.reserve.pop(0)
            ch.reserve.append(str(img[f]))
            changed = {f: new}
        else:
            return {}
        img.update(changed)
        return changed
