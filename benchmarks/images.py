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
from collections.abc import Iterable
from typing import Any

from ertcloud.protocol import codec, core
from ertcloud.protocol.client import _FRAME_DECODER, ClientProtocol
from ertcloud.protocol.events import ItemRefreshed
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.protocol.streams import ItemStream
from ertcloud.sim.bench import bench_ric, ensure_universe
from ertcloud.sim.market import Market

__all__ = ["breakdown", "main", "measure"]

_LOGIN = (
    b'{"ID":1,"Type":"Refresh","Domain":"Login","Key":{"Name":"bench"},'
    b'"State":{"Stream":"Open","Data":"Ok"},"Elements":{"PingTimeout":30}}'
)


def _protocol(core_name: str) -> ClientProtocol:
    proto = ClientProtocol()
    if core_name != core.CORE:  # the class's own otherwise: the compiled core's receive
        proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("bench-token")
    proto.receive(_LOGIN, 0.0)
    return proto


def _refresh_frames(market: Market, streams: Iterable[ItemStream]) -> list[bytes]:
    """One Refresh frame per stream with its item's full image from ``market``."""
    ok = State("Open", "Ok")
    return [
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
        for s in streams
    ]


def measure(items: int = 100_000, core_name: str = core.CORE) -> dict[str, Any]:
    """Seconds to refresh ``items`` full images and the bytes they hold, on one core."""
    market = Market(42)
    ensure_universe(market, items)
    names = [bench_ric(i) for i in range(items)]
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
        frames = _refresh_frames(market, proto.streams)
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


def _frames(items: int) -> tuple[list[str], list[bytes]]:
    """The bench names and one Refresh frame each, for the stream ids of a new protocol."""
    market = Market(42)
    ensure_universe(market, items)
    names = [bench_ric(i) for i in range(items)]
    return names, _refresh_frames(market, _protocol("pure").request(names))


def _each(fn: Any, *args: list[Any]) -> list[Any]:
    return [fn(*a) for a in zip(*args, strict=True)]


def breakdown(items: int = 20_000, rounds: int = 5) -> dict[str, list[float]]:
    """CPU microseconds per item of the pieces of a full refresh, per round: the decoders,
    the image (``apply_refresh``), the event, and the whole ``receive`` of each core."""
    names, frames = _frames(items)
    out: dict[str, list[float]] = {}

    def opened(name: str) -> ClientProtocol:
        proto = _protocol(name)
        proto.request(names)
        proto.data_to_send(0.0)
        gc.collect()
        return proto

    def clock(label: str, run: Any, *args: Any) -> Any:
        t = time.thread_time()
        got = run(*args)
        out.setdefault(label, []).append((time.thread_time() - t) / items * 1e6)
        return got

    decode = _FRAME_DECODER.decode
    fast, apply = core.compiled_fast_decode, core.compiled_refresh
    for _ in range(rounds):
        msgs = clock("msgspec decode", _each, lambda f: decode(f)[0], frames)
        streams = list(opened("pure").streams)
        clock("pure apply_refresh", _each, ItemStream.apply_refresh, streams, msgs)
        if fast is not None and apply is not None:
            msgs = clock("compiled reader", _each, lambda f: fast(f)[0], frames)  # type: ignore[index]
            streams = list(opened("compiled").streams)
            for s in streams:
                s.interner.compact = True
            clock("compiled apply_refresh", _each, apply, streams, msgs)
        clock("ItemRefreshed", _each, ItemRefreshed, streams, msgs)
        for name in ["compiled", "pure"] if fast is not None else ["pure"]:
            clock(f"receive, {name}", _each, opened(name).receive, frames, [0.0] * items)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.images", description=__doc__)
    ap.add_argument("--items", type=int, default=100_000, help="items to request and refresh")
    ap.add_argument(
        "--breakdown",
        type=int,
        metavar="ROUNDS",
        help="print the CPU cost per item of each piece of a refresh instead (min and median)",
    )
    a = ap.parse_args(argv)
    if a.items < 1:
        ap.error("--items must be >= 1")
    if a.breakdown is not None:
        if a.breakdown < 1:
            ap.error("--breakdown must be >= 1")
        print(f"{a.items:,} MarketPrice items, CPU us per item over {a.breakdown} rounds")
        for label, us in breakdown(a.items, a.breakdown).items():
            us.sort()
            print(f"  {label:<24} min {us[0]:6.2f}  median {us[len(us) // 2]:6.2f}")
        return 0
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
