"""What a subscribed full image costs, in this process: memory and the time to refresh them all.

``python -m benchmarks.images`` requests ``--items`` MarketPrice items (100k by default) from a
:class:`~ertcloud.protocol.client.ClientProtocol` and feeds it one Refresh frame per item with the
item's full image from the simulator's market (about 80 fields for an equity), with no network.
It prints, per receive core (the compiled one where built, and the pure one):

* ``refresh s``: the time to receive every Refresh (decode, image, events), wall clock and
  this thread's CPU time (less disturbed by other processes on a shared machine);
* ``bytes/image``: the memory the images take, per item (tracemalloc: what the core holds after
  the Refreshes less what it held with the streams open and empty);
* ``bytes/item``: the same with the streams themselves (requests, state), per item.

The memory is counted in one pass and the time taken in a second one, on a new protocol fed the
same frames, with tracemalloc off: tracing every allocation made the refresh several times
slower (more so on the core that allocates more), which no user pays. The Refresh frames are
built before the clock starts; the simulator's socket and the session's asyncio layer come on
top (the ``mem`` rows of ``python -m benchmarks``).
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import Any

from ertcloud.protocol import codec, core
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.sim.bench import bench_ric, ensure_universe
from ertcloud.sim.market import Market

__all__ = ["main", "measure"]

_LOGIN = (
    b'{"ID":1,"Type":"Refresh","Domain":"Login","Key":{"Name":"bench"},'
    b'"State":{"Stream":"Open","Data":"Ok"},"Elements":{"PingTimeout":30}}'
)


def _protocol(core_name: str) -> ClientProtocol:
    proto = ClientProtocol()
    proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("bench-token")
    proto.receive(_LOGIN, 0.0)
    return proto


def measure(items: int = 100_000, core_name: str = core.CORE) -> dict[str, Any]:
    """Seconds to refresh ``items`` full images and the bytes they hold, on one core."""
    market = Market(42)
    ensure_universe(market, items)
    names = [bench_ric(i) for i in range(items)]
    ok = State("Open", "Ok")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        proto = _protocol(core_name)
        proto.request(names)
        proto.data_to_send(0.0)
        gc.collect()
        opened = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()  # the frames and the clocked run are not traced
        frames = [
            codec.encode(
                [
                    Refresh(
                        id=s.id,
                        key=Key(name=s.name, service="ELEKTRON_DD"),
                        state=ok,
                        fields=market.instruments[s.name].image,
                    )
                ]
            )
            for s in proto.streams
        ]
        fields = sum(len(market.instruments[n].image) for n in names) / items
        tracemalloc.start()
        opened_again = tracemalloc.get_traced_memory()[0]
        receive = proto.receive
        for f in frames:
            receive(f, 0.0)
        gc.collect()
        images = tracemalloc.get_traced_memory()[0] - opened_again
    finally:
        tracemalloc.stop()
    if any(s.phase.value != "open" for s in proto.streams):
        raise RuntimeError("a stream was not refreshed")
    del proto
    timed = _protocol(core_name)  # the same stream ids: the same frames
    timed.request(names)
    timed.data_to_send(0.0)
    gc.collect()
    start, cpu = time.perf_counter(), time.thread_time()
    receive = timed.receive
    for f in frames:
        receive(f, 0.0)
    seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
    del frames
    if any(s.phase.value != "open" for s in timed.streams):
        raise RuntimeError("a stream was not refreshed")
    return {
        "core": core_name,
        "items": items,
        "fields_per_image": round(fields, 1),
        "refresh_s": seconds,
        "refresh_cpu_s": cpu,
        "bytes_per_image": images / items,
        "bytes_per_item": (opened - before + images) / items,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.images", description=__doc__)
    ap.add_argument("--items", type=int, default=100_000, help="items to request and refresh")
    a = ap.parse_args(argv)
    if a.items < 1:
        ap.error("--items must be >= 1")
    cores = ["compiled", "pure"] if core.compiled_dispatch is not None else ["pure"]
    print(f"{a.items:,} MarketPrice items, full images, one Refresh frame each")
    for name in cores:
        r = measure(a.items, name)
        print(
            f"  {name:<8} refresh {r['refresh_s']:.2f} s (CPU {r['refresh_cpu_s']:.2f} s)  "
            f"{r['bytes_per_image']:,.0f} B/image ({r['fields_per_image']:.0f} fields)  "
            f"{r['bytes_per_item']:,.0f} B/item with its stream"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
