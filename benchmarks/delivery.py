"""What a frame costs from picows' listener to the user's callback, in this process.

``python -m benchmarks.delivery [--rounds N] [--seconds S]`` hands MarketPrice Update frames
(1 message per frame, the simulator's bench generator) to the compiled picows listener's
``on_ws_frame``, as picows does after reading the socket, with no socket, and prints the CPU
time per frame (this thread's, median and min-max over rounds) of:

* ``bare``: the listener's handler decodes the frame with msgspec into the typed messages and
  calls the callback with each (the bench's ``bare`` client: no images, no events, no state);
* ``handler, Python delivery``: the session's path before the compiled delivery: a Python
  handler per frame (``time.monotonic()``, the protocol's ``receive``), then
  ``Subscription.deliver_update`` in Python per Update (sequence check, callback);
* ``handler, core delivery``: the same handler, the Update delivered by the compiled core;
* ``direct, core delivery``: the listener calling the core's ``receive`` itself
  (``receive_directly``), the Update delivered by the core: the session's path now.

Every variant applies the Update to the stream's image (except ``bare``) and calls the same
one-line callback. The variants run in turn within each round, so their ratios are taken
round by round. Needs the compiled core and the compiled picows listener.
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Any

import msgspec
import picows

from benchmarks.hot_path import refreshed_protocol, update_frames
from ertcloud.client import transport_picows as tp
from ertcloud.client.integrity import IntegrityMonitor, StreamHealth
from ertcloud.client.subscription import Subscription, _failed
from ertcloud.protocol import _speedups
from ertcloud.protocol.messages import AnyMessage, Update

__all__ = ["main", "measure"]

VARIANTS = (
    "bare",
    "handler, Python delivery",
    "handler, core delivery",
    "direct, core delivery",
)


def _python_delivery_only(event: Any) -> None:
    """Registered in place of ``deliver_update``: the core then delivers nothing itself."""


def measure(items: int = 500, rounds: int = 7, seconds: float = 0.5) -> dict[str, list[float]]:
    """Microseconds of thread CPU time per frame of each variant, one value per round."""
    if tp._COMPILED is None:
        raise SystemExit("the compiled picows listener is not built")
    proto, market = refreshed_protocol(items, core_name="compiled")
    payloads = update_frames(proto, market, 1)
    make = picows.picows._make_test_ws_frame
    frames = [make(picows.WSMsgType.TEXT, p, True, False) for p in payloads]
    count = [0]

    def callback(ev: Any) -> None:
        count[0] += 1

    session = SimpleNamespace(on_event=None, integrity=IntegrityMonitor(), _blocked=set())
    sub = Subscription(session, on_update=callback, queue=False)  # type: ignore[arg-type]
    streams = list(proto.streams)
    sub._attach(streams)
    # each stream expects the sequence numbers of its Updates in the pool, in order
    first: dict[int, int] = {}
    step: dict[int, int] = {}
    for p in payloads:
        msg = msgspec.json.decode(p, type=list[Update])[0]
        if msg.id in first and msg.id not in step and msg.seq_number is not None:
            step[msg.id] = msg.seq_number - first[msg.id]
        first.setdefault(msg.id, msg.seq_number or 0)
    health = {s: StreamHealth(step=step.get(s.id), learned=3) for s in streams}
    for s, h in health.items():
        s.health = h

    def rewind() -> None:
        for s, h in health.items():
            h.next_seq = first[s.id]
            h.last_seq = None

    decode = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
    receive = proto.receive
    monotonic = time.monotonic

    def bare(data: bytes) -> None:
        out = decode(data)
        for m in out if type(out) is list else (out,):
            if type(m) is Update:
                callback(m)

    def on_frame(data: bytes) -> None:  # the session's handler (session._read_frames)
        events = receive(data, monotonic())
        if events:
            raise AssertionError("every Update is delivered within receive")

    def after(events: list[Any]) -> None:
        raise AssertionError("every Update is delivered within receive")

    def listener(variant: str) -> Any:
        ws = SimpleNamespace()  # only an error would reach it
        li = tp._COMPILED(ws)  # type: ignore[misc]
        if variant == "bare":
            li.handler = bare
        else:
            li.handler = on_frame
            if variant.startswith("direct"):
                li.receive_directly(receive, set(), after)
        python = variant.endswith("Python delivery")
        _speedups.fast_delivery(
            _python_delivery_only if python else Subscription.deliver_update, StreamHealth, _failed
        )
        return li

    out: dict[str, list[float]] = {v: [] for v in VARIANTS}
    clock = time.thread_time
    try:
        for _ in range(rounds):
            for variant in VARIANTS:
                on_ws_frame = listener(variant).on_ws_frame
                n = 0
                spent = 0.0
                while spent < seconds:
                    rewind()
                    count[0] = 0
                    t0 = clock()
                    for f in frames:
                        on_ws_frame(None, f)
                    spent += clock() - t0
                    n += len(frames)
                    assert count[0] == len(frames), (variant, count[0])
                out[variant].append(spent / n * 1e6)
    finally:
        _speedups.fast_delivery(Subscription.deliver_update, StreamHealth, _failed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.delivery", description=__doc__)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seconds", type=float, default=0.5, help="per variant and round")
    p.add_argument("--items", type=int, default=500)
    a = p.parse_args(argv)
    res = measure(a.items, a.rounds, a.seconds)
    base = res["bare"]
    print(f"{'variant':28} {'us/frame':>9} {'min-max':>13} {'x bare':>7}")
    for v, xs in res.items():
        ratio = statistics.median(x / b for x, b in zip(xs, base, strict=True))
        span = f"{min(xs):.2f}-{max(xs):.2f}"
        print(f"{v:28} {statistics.median(xs):9.2f} {span:>13} {ratio:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
