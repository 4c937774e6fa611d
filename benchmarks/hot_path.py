"""What one Update costs in the client's protocol core, step by step, in this process.

``python -m benchmarks.hot_path [--domain MarketByPrice]`` feeds Update frames from the simulator's
bench generator (MarketPrice, or order-book Map Updates on streams refreshed with a book; as in
:mod:`benchmarks.parse_only`) to a :class:`~ertcloud.protocol.client.ClientProtocol` holding the
refreshed images of the same items, with no network, and prints microseconds per message for:

* ``decode``: the frame decoder of ``ClientProtocol.receive`` alone;
* ``decode + image``: the same, then ``ItemStream.apply_update`` on the message's stream
  (ripple and merge into the cached image);
* ``receive``: the whole ``ClientProtocol.receive``, each ``ItemUpdated`` handed to a callback
  that counts it (what the session's transport calls per frame), with the active core
  (compiled where built, see :mod:`ertcloud.protocol.core`);
* ``receive, pure``: the same with the pure core, when the compiled one is active (the two run
  in turn within each round, so their ratio is taken round by round);
* ``of parse-only`` (and ``of parse-only, pure``): ``decode`` over ``receive``, the whole path
  as a fraction of the msgspec parse-only ceiling (``decode`` is that ceiling: the same typed
  decoder on the same frames), round by round.

``--clock cpu`` times with this thread's CPU time instead of the wall clock: on a machine shared
with other work the wall clock counts their time slices too.

The three run in turn within each round, so the differences between them (the cost of the
image update, and of the event, its delivery and the rest of the loop) are taken round by round;
the table gives medians and min-max over rounds. picows and the socket come on top of these.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

from benchmarks.parse_only import json_frames
from ertcloud.protocol import codec, core
from ertcloud.protocol.client import _FRAME_DECODER, ClientProtocol
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.protocol.streams import ItemStream
from ertcloud.sim.bench import Target, bench_ric, ensure_universe, update_pool
from ertcloud.sim.market import Market

__all__ = ["main", "measure", "refreshed_protocol", "update_frames"]

_LOGIN = (
    b'{"ID":1,"Type":"Refresh","Domain":"Login","Key":{"Name":"bench"},'
    b'"State":{"Stream":"Open","Data":"Ok"},"Elements":{"PingTimeout":30}}'
)


def refreshed_protocol(
    items: int, domain: str = "MarketPrice", core_name: str | None = None
) -> tuple[ClientProtocol, Market]:
    """A logged-in core with ``items`` bench streams refreshed with their images (a
    MarketByPrice one with a book of the price levels its bench updates address), on the
    receive core ``core_name``, default the active one: its images are its own kind."""
    proto = ClientProtocol()
    if core_name is not None:
        proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("bench-token")
    proto.receive(_LOGIN, 0.0)
    names = [bench_ric(i) for i in range(items)]
    proto.request(names, domain=domain)
    proto.data_to_send(0.0)
    market = Market(42)
    ensure_universe(market, items)
    ok = State("Open", "Ok")
    for s in proto.streams:
        if domain == "MarketByPrice":
            refresh = Refresh(
                id=s.id, domain=domain, key=Key(name=s.name), state=ok, map=_book(100.0)
            )
        else:
            image = dict(market.instruments[s.name].image)
            refresh = Refresh(id=s.id, key=Key(name=s.name), state=ok, fields=image)
        proto.receive(codec.encode([refresh]), 0.0)
    return proto, market


def _book(mid: float) -> dict[str, Any]:
    """A Map of the 20 levels around ``mid`` that the bench generator's Updates address."""
    entries = []
    for side, sign in (("B", -1), ("A", 1)):
        for i in range(1, 11):
            px = round(mid + sign * 0.01 * i, 2)
            fields = {"ORDER_PRC": px, "ORDER_SIDE": "BID" if side == "B" else "ASK"}
            key = base64.b64encode(f"{px:.6f}{side}".encode()).decode()
            entries.append({"Action": "Add", "Key": key, "Fields": fields | {"NO_ORD": 1}})
    return {"KeyType": "Buffer", "Entries": entries}


def update_frames(
    proto: ClientProtocol, market: Market, per_frame: int, domain: str = "MarketPrice"
) -> list[bytes]:
    """Frames of Updates for the core's streams, from the simulator's bench generator."""
    targets = [
        Target(s.id, s.name, holds=frozenset(s.fields), kind=market.instruments[s.name].kind)
        for s in proto.streams
    ]
    return json_frames(update_pool(market, targets, domain, max(4096, len(targets))), per_frame)


def _per_message(
    run: Callable[[], int], seconds: float, clock: Callable[[], float] = time.perf_counter
) -> float:
    n = 0
    start = clock()
    while True:
        n += run()
        elapsed = clock() - start
        if elapsed >= seconds:
            return elapsed / n * 1e6


def measure(
    items: int = 500,
    per_frame: int = 1,
    rounds: int = 7,
    seconds: float = 0.5,
    clock: str = "wall",
    domain: str = "MarketPrice",
) -> dict[str, Any]:
    """Microseconds per Update of ``domain`` (MarketPrice or MarketByPrice), per step:
    medians, minima and maxima over rounds."""
    proto, market = refreshed_protocol(items, domain)
    pool = update_frames(proto, market, per_frame, domain)
    msgs = len(pool) * per_frame  # json_frames leaves no short frame
    delivered = [0]

    def callback(event: Any) -> None:
        delivered[0] += 1

    for s in proto.streams:
        s.deliver = callback
    decode = _FRAME_DECODER.decode
    # every frame addresses one of the core's streams (update_frames), so no None check
    lookup = cast(Callable[[int], ItemStream], proto.streams.lookup)
    receive = proto.receive

    def decode_only() -> int:
        for f in pool:
            decode(f)
        return msgs

    def decode_and_image() -> int:
        for f in pool:
            for m in decode(f):
                lookup(m.id).apply_update(m)
        return msgs

    def whole() -> int:
        for f in pool:
            receive(f, 0.0)
        return msgs

    # the pure core on images of its own (the same items, so the same stream ids)
    pure_receive = None
    if core.CORE == "compiled":
        pure = refreshed_protocol(items, domain, "pure")[0]
        for s in pure.streams:
            s.deliver = callback
        pure_receive = pure.receive

    def whole_pure() -> int:
        assert pure_receive is not None
        for f in pool:
            pure_receive(f, 0.0)
        return msgs

    steps = {"decode": decode_only, "decode + image": decode_and_image, "receive": whole}
    if core.CORE == "compiled":
        steps["receive, pure"] = whole_pure
    derived = ["image update", "event and rest", "of parse-only"]
    if core.CORE == "compiled":
        derived += ["of parse-only, pure", "pure / compiled"]
    timer = time.thread_time if clock == "cpu" else time.perf_counter
    got: dict[str, list[float]] = {k: [] for k in (*steps, *derived)}
    for _ in range(rounds):
        r = {name: _per_message(fn, seconds, timer) for name, fn in steps.items()}
        for name, v in r.items():
            got[name].append(v)
        got["image update"].append(r["decode + image"] - r["decode"])
        got["event and rest"].append(r["receive"] - r["decode + image"])
        got["of parse-only"].append(r["decode"] / r["receive"])
        if "receive, pure" in r:
            got["of parse-only, pure"].append(r["decode"] / r["receive, pure"])
            got["pure / compiled"].append(r["receive, pure"] / r["receive"])
    if delivered[0] == 0:
        raise RuntimeError("no update reached the callback: the frames miss the streams")
    return {
        "items": items,
        "domain": domain,
        "per_frame": per_frame,
        "rounds": rounds,
        "core": core.CORE,
        "clock": clock,
        "us_per_msg": {
            k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
            for k, v in got.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.hot_path", description=__doc__)
    ap.add_argument("--items", type=int, default=500, help="streams the updates spread over")
    ap.add_argument("--per-frame", type=int, default=1, help="messages per frame")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.5, help="seconds per step and round")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="what times a step")
    ap.add_argument("--domain", choices=("MarketPrice", "MarketByPrice"), default="MarketPrice")
    a = ap.parse_args(argv)
    if a.items < 1 or a.per_frame < 1 or a.rounds < 1 or a.seconds <= 0:
        ap.error("--items, --per-frame and --rounds must be >= 1, --seconds > 0")
    res = measure(a.items, a.per_frame, a.rounds, a.seconds, a.clock, a.domain)
    print(
        f"{res['domain']} Updates, {res['items']} items, {res['per_frame']} msg/frame, "
        f"us per message ({res['clock']} clock; ratios below the steps): median (min-max) of "
        f"{res['rounds']} rounds; core: {res['core']}"
    )
    for name, v in res["us_per_msg"].items():
        print(f"  {name:<19} {v['median']:5.2f}  ({v['min']:.2f}-{v['max']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
