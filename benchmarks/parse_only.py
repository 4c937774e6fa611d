"""The parse-only ceiling: the same frames decoded by msgspec into the typed messages, with
no network, no cache and no callback, in this process."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ertcloud.protocol.messages import AnyMessage
from ertcloud.sim.bench import Target, bench_ric, ensure_universe, update_pool
from ertcloud.sim.market import Market

__all__ = ["frames", "json_frames", "parse_only"]


def frames(per_frame: int, domain: str, items: int = 500, count: int = 4096) -> list[bytes]:
    """Frames like the simulator's bench mode sends (same generator, same encoding)."""
    market = Market(42)
    ensure_universe(market, items)
    clones = [market.instruments[bench_ric(i)] for i in range(items)]
    targets = [
        Target(3 + i, c.ric, holds=frozenset(c.image), kind=c.kind) for i, c in enumerate(clones)
    ]
    return json_frames(update_pool(market, targets, domain, count), per_frame)


def json_frames(msgs: list[bytes], per_frame: int) -> list[bytes]:
    """Encoded messages batched into JSON arrays of ``per_frame`` (a short tail is left out)."""
    return [
        b"[" + b",".join(msgs[i : i + per_frame]) + b"]"
        for i in range(0, len(msgs) - per_frame + 1, per_frame)
    ]


def parse_only(per_frame: int, domain: str, seconds: float = 1.0) -> dict[str, Any]:
    """Messages per second msgspec decodes into typed structs from ready frames."""
    pool = frames(per_frame, domain)
    decode = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for f in pool:
            decode(f)
        n += len(pool)
        now = time.perf_counter()
        if now >= end:
            break
    return {
        "client": "parse-only",
        "domain": domain,
        "per_frame": per_frame,
        "msgs_per_s": n * per_frame / (now - start),
    }
