"""Rendezvous (highest-random-weight) hashing: which worker owns an item.

Every worker computes the same owner from the same member list, with no coordination.
When a worker joins, only the items it now wins move to it (about 1/N of them); when one
leaves, only its items move, each to the worker that ranked second for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["assign", "owner", "weight"]


def weight(item: str, worker: str) -> int:
    """The score of ``worker`` for ``item`` (64 bits of BLAKE2b of both names)."""
    h = hashlib.blake2b(f"{worker}\x00{item}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def owner(item: str, workers: Iterable[str]) -> str | None:
    """The worker with the highest score for ``item`` (None when there is no worker)."""
    best: str | None = None
    best_w = -1
    for w in workers:
        s = weight(item, w)
        if s > best_w or (s == best_w and best is not None and w < best):
            best, best_w = w, s
    return best


def assign(items: Iterable[str], workers: Iterable[str]) -> dict[str, str]:
    """``{item: owner}`` for every item (empty when there is no worker)."""
    ws = sorted(set(workers))
    if not ws:
        return {}
    return {i: owner(i, ws) or ws[0] for i in items}
