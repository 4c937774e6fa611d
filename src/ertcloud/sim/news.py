"""Machine Readable News of the simulator: ``MRN_STORY`` and ``MRN_TRNA`` in the
``NewsTextAnalytics`` domain.

No I/O. :class:`NewsWire` writes stories about the market's equities (headline, body,
subjects with the ``R:`` RIC codes, urgency) and cuts each into the fields of the Updates
that carry it (:func:`ertcloud.news.fragment_fields`): gzip, split into slices, base64.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

from ..news import fragment_fields
from .market import EQUITY, Market

__all__ = ["MRN_ITEMS", "NewsWire"]

MRN_ITEMS = ("MRN_STORY", "MRN_TRNA")
_SRC = "SIM_PRD_A"
_HEADLINES = (
    "{name} shares {move} after quarterly results",
    "{name} to buy back up to {n} million shares",
    "{name} names new chief financial officer",
    "Analysts {verb} {name} price target to {px}",
    "{name} wins contract worth {n} million",
    "BRIEF-{name} says outlook for the year unchanged",
)
_SENTENCES = (
    "The company said demand held up across its main markets.",
    "Trading volume was above its 30-day average.",
    "Executives said costs would ease in the second half.",
    "The board approved the plan at a meeting on Monday.",
    "Analysts had expected a smaller figure, according to a poll.",
    "The shares have moved within a narrow range this month.",
    "A spokesperson declined to comment further.",
    "The statement did not give a timetable.",
)
_COUNTRY = {"USD": "US", "GBP": "GB", "EUR": "EU", "JPY": "JP", "CAD": "CA", "HKD": "HK"}


class NewsWire:
    """Stories about the market's equities, deterministic from the market's seed.

    ``slice_size`` is the gzip bytes per fragment (small, so stories span several
    updates); ``shuffle`` sends the fragments of a story in random order and ``lose``
    drops each with that probability (to exercise a consumer's reassembly)."""

    def __init__(
        self, market: Market, *, slice_size: int = 400, shuffle: bool = False, lose: float = 0.0
    ) -> None:
        self.market = market
        self.rng = random.Random(f"{market.seed}/news")
        self.slice_size = slice_size
        self.shuffle = shuffle
        self.lose = lose
        self.count = 0
        # the equities of the instrument table (taken before chains add their extra names)
        self.equities = [i for i in market.instruments.values() if i.kind == EQUITY]

    def envelope(self, item: str) -> dict[str, Any]:
        """The fields of an MRN item's Refresh: the envelope only, no story."""
        return {
            "PROD_PERM": 10001,
            "ACTIV_DATE": self.market.stamp()[0],
            "RECORDTYPE": 30,
            "RDN_EXCHD2": "MRN",
            "TIMACT_MS": self.market.stamp()[1],
            "GUID": None,
            "CONTEXT_ID": 3752,
            "DDS_DSO_ID": 4232,
            "SPS_SP_RIC": ".[SPSML2L1",
            "MRN_V_MAJ": "2",
            "MRN_TYPE": "STORY" if item == "MRN_STORY" else "TRNA",
            "MRN_V_MIN": "10",
            "MRN_SRC": _SRC,
            "FRAG_NUM": 1,
            "TOT_SIZE": 0,
            "FRAGMENT": None,
        }

    def story(self) -> dict[str, Any]:
        """One story's JSON (the MRN_STORY schema)."""
        rng = self.rng
        inst = self.equities[int(rng.random() * len(self.equities))]
        name = str(inst.image.get("DSPLY_NAME") or inst.ric).title()
        self.count += 1
        now = datetime.fromtimestamp(self.market.now(), timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        headline = rng.choice(_HEADLINES).format(
            name=name,
            move=rng.choice(("rise", "fall", "edge higher", "slip")),
            verb=rng.choice(("raise", "cut")),
            n=int(50 + rng.random() * 950),
            px=round(10 + rng.random() * 400, 2),
        )
        body = "\n\n".join(
            " ".join(rng.choice(_SENTENCES) for _ in range(3))
            for _ in range(2 + int(rng.random() * 4))
        )
        country = _COUNTRY.get(str(inst.image.get("CURRENCY")), "US")
        guid = f"SIM{self.count:07d}_{now:%Y%m%d}1{_SRC[:3]}"
        urgency = 1 if rng.random() < 0.1 else 3
        return {
            "altId": f"nSIM{self.count:07d}",
            "audiences": ["NP:E", "NP:U"],
            "body": "" if urgency == 1 else f"{headline}\n\n{body}",
            "firstCreated": stamp,
            "headline": headline,
            "id": guid,
            "instancesOf": [],
            "language": "en",
            "messageType": 2,
            "mimeType": "text/plain",
            "provider": "NS:SIM",
            "pubStatus": "stat:usable",
            "subjects": [
                f"R:{inst.ric}",
                f"N2:{country}",
                "N2:EQTY",
                "N2:CMPNY",
                f"P:{4295900000 + self.count}",
            ],
            "takeSequence": 1,
            "urgency": urgency,
            "versionCreated": stamp,
        }

    def analytics(self, story: dict[str, Any]) -> dict[str, Any]:
        """The TRNA analytics of a story (MRN_TRNA schema)."""
        ric = next((s[2:] for s in story["subjects"] if s.startswith("R:")), "")
        pos = self.rng.random()
        neg = (1 - pos) * self.rng.random()
        return {
            "analytics": {
                "analyticsScores": [
                    {
                        "assetCodes": [f"R:{ric}"],
                        "assetName": ric,
                        "sentimentClass": 1 if pos > 0.5 else -1 if neg > 0.4 else 0,
                        "sentimentPositive": round(pos, 6),
                        "sentimentNegative": round(neg, 6),
                        "sentimentNeutral": round(1 - pos - neg, 6),
                        "relevance": 1.0,
                    }
                ],
                "newsItem": {
                    "bodySize": len(story["body"]),
                    "wordCount": len(story["body"].split()),
                },
                "systemVersion": "SIM-1.0",
            },
            "id": "tr:" + story["id"],
            "newsItem": {
                "dataType": "News",
                "feedFamilyCode": "SIM",
                "headline": story["headline"],
                "language": "en",
                "metadata": {
                    "altId": story["altId"],
                    "audiences": story["audiences"],
                    "feedTimestamp": story["firstCreated"],
                    "firstCreated": story["firstCreated"],
                    "isArchive": False,
                    "takeSequence": 1,
                },
                "provider": story["provider"],
                "sourceId": story["id"],
                "sourceTimestamp": story["firstCreated"],
                "subjects": story["subjects"],
                "urgency": story["urgency"],
            },
        }

    def step(self, item: str) -> list[dict[str, Any]]:
        """The fields of the Updates of one new story (or its analytics) on ``item``."""
        story = self.story()
        doc = story if item == "MRN_STORY" else self.analytics(story)
        frags = fragment_fields(doc, src=_SRC, slice_size=self.slice_size)
        d, ms = self.market.stamp()
        for f in frags:
            f.update(
                {
                    "ACTIV_DATE": d,
                    "TIMACT_MS": ms,
                    "MRN_TYPE": "STORY" if item == "MRN_STORY" else "TRNA",
                    "MRN_V_MAJ": "2",
                    "MRN_V_MIN": "10",
                }
            )
        if self.shuffle:
            self.rng.shuffle(frags)
        if self.lose > 0:
            frags = [f for f in frags if self.rng.random() >= self.lose]
        return frags
