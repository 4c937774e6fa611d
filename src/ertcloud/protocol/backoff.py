"""Jittered exponential back-off delays (pure; the caller sleeps)."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["backoff"]


def backoff(
    initial: float = 0.5,
    maximum: float = 30.0,
    factor: float = 2.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield delays initial, initial*factor, ... capped at ``maximum``, each scaled by a
    random factor in [1 - jitter, 1] so that many clients do not retry in step."""
    r = rng or random.Random()
    delay = initial
    while True:
        yield delay * (1.0 - jitter * r.random())
        delay = min(maximum, delay * factor)
