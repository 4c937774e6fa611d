"""Machine Readable News (MRN): stories split into fragments, and their reassembly.

No I/O. An MRN item (``MRN_STORY``, ``MRN_TRNA`` in the ``NewsTextAnalytics`` domain)
sends each story as UTF-8 JSON, gzip-compressed, cut into slices, each slice base64
encoded in the ``FRAGMENT`` field of one Update. Every piece carries ``GUID`` (the story
id) and ``MRN_SRC``; ``FRAG_NUM`` counts from 1 and the first piece carries ``TOT_SIZE``,
the length of the gzip bytes.

:class:`Reassembler` keys stories by ``(MRN_SRC, GUID)`` and accepts pieces in any order,
ignores duplicates, bounds how many stories may be open at once, and turns a story that
cannot complete (a piece lost past the timeout, sizes that disagree, bytes that do not
decode) into a :class:`BrokenStory` instead of raising.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BrokenStory",
    "NewsStory",
    "Reassembler",
    "encode_story",
    "fragment_fields",
    "matches",
]


def encode_story(story: dict[str, Any]) -> bytes:
    """The gzip bytes of a story's JSON (what ``TOT_SIZE`` measures)."""
    raw = json.dumps(story, ensure_ascii=False, separators=(",", ":")).encode()
    return gzip.compress(raw, mtime=0)


def fragment_fields(
    story: dict[str, Any], *, src: str, slice_size: int = 2000
) -> list[dict[str, Any]]:
    """The fields of each Update that carries ``story`` (its ``id`` is the GUID)."""
    data = encode_story(story)
    n = max(1, math.ceil(len(data) / slice_size))
    guid = str(story.get("id", ""))
    out: list[dict[str, Any]] = []
    for i in range(n):
        f: dict[str, Any] = {
            "FRAG_NUM": i + 1,
            "FRAGMENT": base64.b64encode(data[i * slice_size : (i + 1) * slice_size]).decode(),
            "GUID": guid,
            "MRN_SRC": src,
        }
        if i == 0:
            f["TOT_SIZE"] = len(data)
        out.append(f)
    return out


@dataclass(frozen=True)
class NewsStory:
    """A reassembled story: headline, body, subjects (``R:TRI.N``, ``N2:US`` ...), the
    RICs among the subjects, and the whole decoded JSON in ``data``."""

    guid: str
    src: str
    headline: str
    body: str
    subjects: tuple[str, ...]
    rics: tuple[str, ...]
    urgency: int | None
    language: str | None
    created: str | None
    data: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, guid: str, src: str, data: dict[str, Any]) -> NewsStory:
        news = data.get("newsItem") if isinstance(data.get("newsItem"), dict) else None
        top = news if news is not None else data  # TRNA nests the story in newsItem
        subjects = tuple(str(s) for s in top.get("subjects") or () if isinstance(s, str))
        urgency = top.get("urgency")
        return cls(
            guid=guid,
            src=src,
            headline=str(top.get("headline") or ""),
            body=str(top.get("body") or ""),
            subjects=subjects,
            rics=tuple(s[2:] for s in subjects if s.startswith("R:")),
            urgency=urgency if isinstance(urgency, int) else None,
            language=top.get("language") if isinstance(top.get("language"), str) else None,
            created=str(top.get("firstCreated") or "") or None,
            data=data,
        )

    def as_row(self) -> dict[str, Any]:
        """A flat row for a ``news`` table."""
        return {
            "guid": self.guid,
            "src": self.src,
            "created": self.created,
            "urgency": self.urgency,
            "headline": self.headline,
            "subjects": " ".join(self.subjects),
            "rics": " ".join(self.rics),
            "body": self.body,
        }


@dataclass(frozen=True)
class BrokenStory:
    """A story that could not be put together, and why."""

    guid: str
    src: str
    reason: str


@dataclass
class _Pending:
    total: int | None = None
    pieces: dict[int, bytes] = field(default_factory=dict)
    since: float = 0.0


def matches(story: NewsStory, rics: set[str], subjects: set[str]) -> bool:
    """True if ``story`` names one of ``rics`` and one of ``subjects`` (an empty set
    matches all); a subject matches with or without its scheme (``US`` = ``N2:US``)."""
    if rics and not rics & set(story.rics):
        return False
    if subjects:
        codes = set(story.subjects) | {s.split(":", 1)[-1] for s in story.subjects}
        return bool(subjects & codes)
    return True


class Reassembler:
    """Puts MRN fragments back together.

    ``feed(fields, now)`` takes one Update's fields and returns the stories it completed
    or broke. A story still incomplete ``timeout`` seconds after its first piece breaks
    at the next :meth:`feed` or :meth:`expire`; past ``max_open`` open stories the oldest
    breaks. Pieces of a story already done are ignored (``duplicates``)."""

    def __init__(self, *, timeout: float = 30.0, max_open: int = 1000) -> None:
        self.timeout = timeout
        self.max_open = max_open
        self._open: OrderedDict[tuple[str, str], _Pending] = OrderedDict()
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.duplicates = 0

    @property
    def pending(self) -> int:
        """Stories waiting for pieces."""
        return len(self._open)

    def feed(self, fields: dict[str, Any], now: float) -> list[NewsStory | BrokenStory]:
        out: list[NewsStory | BrokenStory] = self.expire(now)
        guid, src, num = fields.get("GUID"), fields.get("MRN_SRC"), fields.get("FRAG_NUM")
        frag = fields.get("FRAGMENT")
        if not isinstance(guid, str) or not guid or not isinstance(frag, str):
            return out  # the envelope of the refresh, or not a story piece
        src = src if isinstance(src, str) else ""
        key = (src, guid)
        if key in self._done:
            self.duplicates += 1
            return out
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            return [*out, self._break(key, f"bad FRAG_NUM {num!r}")]
        try:
            piece = base64.b64decode(frag, validate=True)
        except (binascii.Error, ValueError):
            return [*out, self._break(key, f"fragment {num} is not base64")]
        p = self._open.get(key)
        if p is None:
            p = self._open[key] = _Pending(since=now)
            while len(self._open) > self.max_open:
                old = next(iter(self._open))
                out.append(self._break(old, "too many stories open at once"))
        if num in p.pieces:
            self.duplicates += 1
            return out
        p.pieces[num] = piece
        if num == 1:
            tot = fields.get("TOT_SIZE")
            if not isinstance(tot, int) or isinstance(tot, bool) or tot <= 0:
                return [*out, self._break(key, f"bad TOT_SIZE {tot!r}")]
            p.total = tot
        done = self._try_finish(key, p)
        if done is not None:
            out.append(done)
        return out

    def _try_finish(self, key: tuple[str, str], p: _Pending) -> NewsStory | BrokenStory | None:
        if p.total is None:
            return None
        size = 0
        n = 1
        while n in p.pieces and size < p.total:
            size += len(p.pieces[n])
            n += 1
        if size < p.total:
            return None
        if size > p.total or any(k >= n for k in p.pieces):
            return self._break(key, f"{size} bytes or more for a story of {p.total}")
        data = b"".join(p.pieces[i] for i in range(1, n))
        del self._open[key]
        self._remember(key)
        try:
            obj = json.loads(gzip.decompress(data))
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            return BrokenStory(key[1], key[0], f"does not decode: {exc}")
        if not isinstance(obj, dict):
            return BrokenStory(key[1], key[0], "not a JSON object")
        return NewsStory.from_json(key[1], key[0], obj)

    def expire(self, now: float) -> list[NewsStory | BrokenStory]:
        """Break the stories open for longer than the timeout."""
        out: list[NewsStory | BrokenStory] = []
        while self._open:
            key, p = next(iter(self._open.items()))
            if now - p.since < self.timeout:
                break
            have = sorted(p.pieces)
            out.append(self._break(key, f"timed out with fragments {have}"))
        return out

    def _break(self, key: tuple[str, str], reason: str) -> BrokenStory:
        self._open.pop(key, None)
        self._remember(key)
        return BrokenStory(key[1], key[0], reason)

    def _remember(self, key: tuple[str, str]) -> None:
        self._done[key] = None
        while len(self._done) > 10 * self.max_open:
            self._done.popitem(last=False)
