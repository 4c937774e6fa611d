"""Where a latency job's late messages come from: a trace of the client process.

``python -m benchmarks.latency --tails DIR`` runs every latency job with this module
installed in its client process (``ERTCLOUD_BENCH_TAILS=DIR``). It records, on the same clock
as the simulator's stamps (``time.time_ns``):

* every event-loop callback (``asyncio.Handle._run``): start, end, the thread's CPU time,
  what it ran, and how many messages reached the callback of the job within it;
* every wait of the loop in ``select`` (idle);
* every run of the cyclic garbage collector (``gc.callbacks``): generation and duration.

At the end of the stream :func:`analyse` takes each message over the stream's p99 and splits
the time from its stamp to its callback into: the client in ``select`` (idle, or woken but
not yet running), reading frames (its own and those queued before it), other loop callbacks
(timers, tasks: by name), the collector, the part of callbacks' wall time beyond their CPU
time (the process preempted), and time in none of them (the loop between callbacks). The
sums over the late messages go to the job's result (``tails``), the raw trace to ``DIR``.
The trace costs about a microsecond per callback: use it to see where tails come from, and
the untraced jobs for the figures.

``python -m benchmarks.tails`` is the in-process half: the CPU time of each frame of the bench
pool through the client's path (the compiled core's ``receive``, the subscription's delivery
with its sequence check, the latency job's callback), the minimum over passes, so that a cost
some frames always pay (a slow path) stands out of the machine's noise; the frames whose
sequence check took the slow path (``IntegrityMonitor.observe``) beside the others.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from array import array
from pathlib import Path
from typing import Any

ENV = "ERTCLOUD_BENCH_TAILS"
OFF_CPU = "within callbacks, not running (preempted)"

_now = time.time_ns
_cpu = time.thread_time_ns


class Trace:
    """The recorder (one per process)."""

    def __init__(self) -> None:
        self.h_start = array("q")
        self.h_end = array("q")
        self.h_kind = array("i")
        self.h_msgs = array("i")
        self.h_cpu = array("q")  # the thread's CPU time within each callback
        self.kinds: dict[str, int] = {}
        self.s_start = array("q")
        self.s_end = array("q")
        self.g_start = array("q")
        self.g_end = array("q")
        self.g_gen = array("i")
        self.g_n = array("i")
        self.sim_ts = array("q")
        self.count = 0
        self._gc_t0 = 0
        self.on = False
        self.installed = False
        self.lat_ns: array[int] = array("q")  # the job's latencies, at the stream's end

    def kind(self, handle: Any) -> int:
        cb = getattr(handle, "_callback", None)
        name = getattr(cb, "__qualname__", None) or type(cb).__name__
        owner = getattr(cb, "__self__", None)
        if owner is not None:
            coro = getattr(owner, "get_coro", None)
            if coro is not None:  # a task step: name it by its coroutine
                c = coro()
                name = f"task {getattr(c, '__qualname__', c)}"
            else:
                name = f"{type(owner).__name__}.{getattr(cb, '__name__', name)}"
        k = self.kinds.get(name)
        if k is None:
            k = self.kinds[name] = len(self.kinds)
        return k

    def message(self, sim_ts: int) -> None:
        self.count += 1
        if self.on:
            self.sim_ts.append(sim_ts)

    def gc_event(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_t0 = _now()
        elif self.on:
            self.g_start.append(self._gc_t0)
            self.g_end.append(_now())
            self.g_gen.append(info["generation"])
            self.g_n.append(info["collected"])


TRACE = Trace()


def install() -> None:
    """Wrap the event loop's callbacks and ``select``, hook the collector, and make the
    jobs' :class:`~benchmarks.common.Counter` record each stamp and start/stop the trace
    with the stream."""
    from benchmarks.common import Counter

    if TRACE.installed:  # a --serve worker runs job after job
        return
    TRACE.installed = True
    handle_run = asyncio.events.Handle._run
    t = TRACE
    on_update, start_stream, end_stream = (
        Counter.on_update,
        Counter.start_stream,
        Counter.end_stream,
    )

    def traced_update(self: Counter, name: str, fields: Any, sim_ts: int | None) -> None:
        on_update(self, name, fields, sim_ts)
        t.message(sim_ts or 0)

    def traced_start(self: Counter) -> None:
        start_stream(self)
        Trace.__init__(t)  # this job's trace only
        t.installed = t.on = True

    def traced_end(self: Counter) -> None:
        end_stream(self)
        t.on = False
        t.lat_ns = self.lat_ns

    Counter.on_update = traced_update  # type: ignore[method-assign]
    Counter.start_stream = traced_start  # type: ignore[method-assign]
    Counter.end_stream = traced_end  # type: ignore[method-assign]

    def _run(self: asyncio.Handle) -> None:
        if not t.on:
            handle_run(self)
            return
        n0 = t.count
        c0 = _cpu()
        t0 = _now()
        handle_run(self)
        t.h_end.append(_now())
        t.h_cpu.append(_cpu() - c0)
        t.h_start.append(t0)
        t.h_kind.append(t.kind(self))
        t.h_msgs.append(t.count - n0)

    asyncio.events.Handle._run = _run  # type: ignore[method-assign]
    gc.callbacks.append(t.gc_event)

    import selectors

    for cls in (selectors.EpollSelector, selectors.SelectSelector):
        orig = cls.select

        def select(self: Any, timeout: float | None = None, _orig: Any = orig) -> Any:
            if not t.on:
                return _orig(self, timeout)
            t0 = _now()
            out = _orig(self, timeout)
            t.s_end.append(_now())
            t.s_start.append(t0)
            return out

        cls.select = select  # type: ignore[method-assign]


def _spans_in(starts: array[int], ends: array[int], lo: int, hi: int, i0: int) -> list[int]:
    """Indexes of spans overlapping [lo, hi), scanning from ``i0``."""
    out = []
    i = i0
    n = len(starts)
    while i < n and starts[i] < hi:
        if ends[i] > lo:
            out.append(i)
        i += 1
    return out


def _first_ending_after(ends: array[int], t: int) -> int:
    lo, hi = 0, len(ends)
    while lo < hi:
        mid = (lo + hi) // 2
        if ends[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def analyse(lat_ns: array[int], reader_kind: str | None = None) -> dict[str, Any]:
    """The late messages' time, split by what the process did meanwhile (see the module)."""
    t = TRACE
    n = min(len(lat_ns), len(t.sim_ts))
    skip = n // 5  # as Counter.latencies
    lats = sorted(lat_ns[skip:n])
    if not lats:
        return {}
    p99 = lats[int(0.99 * len(lats))]
    names = {v: k for k, v in t.kinds.items()}
    reader = {k for k, v in names.items() if "_read_ready" in v}
    split: dict[str, float] = {}
    late = 0
    clusters = 0
    prev_late = -10
    first_cause: dict[str, int] = {}
    for i in range(skip, n):
        lat = lat_ns[i]
        if lat <= p99:
            continue
        late += 1
        if i - prev_late > 1:
            clusters += 1
        lo = t.sim_ts[i]
        hi = lo + lat
        parts: dict[str, int] = {}
        covered = 0
        for name, starts, ends, kinds in (
            ("select (idle, waking)", t.s_start, t.s_end, None),
            ("gc", t.g_start, t.g_end, t.g_gen),
            ("", t.h_start, t.h_end, t.h_kind),
        ):
            j0 = _first_ending_after(ends, lo)
            for j in _spans_in(starts, ends, lo, hi, j0):
                d = min(ends[j], hi) - max(starts[j], lo)
                if name == "gc":
                    key = f"gc gen{kinds[j]}" if kinds is not None else "gc"
                    parts[key] = parts.get(key, 0) + d
                    parts["_gc_in_handles"] = parts.get("_gc_in_handles", 0) + d
                    continue
                if kinds is not None:
                    k = kinds[j]
                    key = "reading frames" if k in reader else names[k]
                    # the callback's wall time beyond its CPU time: the process not running
                    wall = ends[j] - starts[j]
                    off = d * max(0, wall - t.h_cpu[j]) // max(1, wall)
                    parts[OFF_CPU] = parts.get(OFF_CPU, 0) + off
                    d -= off
                    covered += off
                else:
                    key = name
                parts[key] = parts.get(key, 0) + d
                covered += d
        # the collector runs inside a callback: take it out of that callback's share
        gcd = parts.pop("_gc_in_handles", 0)
        if gcd:
            inside = [k for k in parts if not k.startswith(("gc", "select")) and k != OFF_CPU]
            biggest = max(inside, key=parts.__getitem__, default=None)
            if biggest is not None:
                parts[biggest] -= gcd
        parts["between callbacks (loop, or not running)"] = max(0, lat - covered)
        for k, d in parts.items():
            split[k] = split.get(k, 0.0) + d / 1000.0
        if i - prev_late > 1:
            top = max(parts, key=lambda k: parts[k])
            first_cause[top] = first_cause.get(top, 0) + 1
        prev_late = i
    gcs = [
        {"gen": t.g_gen[j], "us": (t.g_end[j] - t.g_start[j]) / 1000, "collected": t.g_n[j]}
        for j in range(len(t.g_gen))
    ]
    # the simulator's pacing: how far each stamp is behind the schedule set by the first
    # (a sender that slipped its schedule, benchmarks.fast_sender, stays behind it after the
    # slip: its own figures in the job's "sender" say how often; "sim_bunched" is the share
    # of frames stamped within a tenth of a period of the one before, sent back to back)
    ts = t.sim_ts[:n]
    span = (ts[-1] - ts[0]) or 1
    period = span / max(1, n - 1)
    lag = [ts[i] - (ts[0] + i * period) for i in range(n)]
    base = min(lag)
    sim_lag = sorted(x - base for x in lag[skip:])
    long_handles: dict[str, list[float]] = {}
    for j in range(len(t.h_start)):
        d = (t.h_end[j] - t.h_start[j]) / 1000
        if d > 50:
            key = "reading frames" if t.h_kind[j] in reader else names[t.h_kind[j]]
            long_handles.setdefault(key, []).append(d)
    reads = [t.h_msgs[j] for j in range(len(t.h_start)) if t.h_kind[j] in reader]
    return {
        "p99_us": p99 / 1000,
        "late_messages": late,
        "late_clusters": clusters,
        "late_us_by_activity": {k: round(v / max(1, late), 1) for k, v in split.items()},
        "largest_share_at_cluster_start": first_cause,
        "gc_runs": gcs,
        "handles_over_50us": {k: [len(v), round(max(v))] for k, v in long_handles.items()},
        "callbacks": {names[k]: t.h_kind.count(k) for k in names},
        "msgs_per_read": {
            "reads": len(reads),
            "mean": round(sum(reads) / max(1, len(reads)), 2),
            "max": max(reads, default=0),
        },
        "sim_bunched": round(
            sum(1 for i in range(max(1, skip), n) if ts[i] - ts[i - 1] < period / 10)
            / max(1, n - max(1, skip)),
            3,
        ),
        "sim_lag_us": {
            "p50": sim_lag[len(sim_lag) // 2] / 1000,
            "p99": sim_lag[int(0.99 * len(sim_lag))] / 1000,
            "max": sim_lag[-1] / 1000,
        },
    }


def dump(job_name: str) -> dict[str, Any]:
    """The analysis (also written, with the raw trace, under ``$ERTCLOUD_BENCH_TAILS``)."""
    lat_ns = TRACE.lat_ns
    out = analyse(lat_ns)
    folder = os.environ.get(ENV)
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        t = TRACE
        raw = {
            "analysis": out,
            "kinds": t.kinds,
            "lat_ns": list(lat_ns),
            "sim_ts": list(t.sim_ts),
            "handles": [
                list(t.h_start),
                list(t.h_end),
                list(t.h_kind),
                list(t.h_msgs),
                list(t.h_cpu),
            ],
            "select": [list(t.s_start), list(t.s_end)],
            "gc": [list(t.g_start), list(t.g_end), list(t.g_gen)],
        }
        name = f"{job_name}-{os.getpid()}.json"
        (path / name).write_text(json.dumps(raw))
    return out


def frame_costs(items: int = 500, passes: int = 20) -> dict[str, Any]:
    """Per-frame CPU microseconds of the client's path, minimum over ``passes`` (see the
    module): percentiles, and the frames with the sequence check's slow path apart."""
    import statistics
    import types

    from benchmarks.common import Counter
    from benchmarks.hot_path import refreshed_protocol, update_frames
    from ertcloud.client.integrity import IntegrityMonitor
    from ertcloud.client.subscription import Subscription

    proto, market = refreshed_protocol(items)
    frames = [f[:-2] + b',"SimTs":1765000000123456789}]' for f in update_frames(proto, market, 1)]
    monitor = IntegrityMonitor()
    slow = [0]
    observe = monitor.observe

    def counted(ev: Any) -> None:
        slow[0] += 1
        observe(ev)

    monitor.observe = counted  # type: ignore[method-assign]
    counter = Counter(latency=True)

    def callback(ev: Any) -> None:  # the latency job's, with the stamp the frame gave
        counter.on_update(ev.stream.name, ev.stream.fields, 1765000000123456789)

    sub = types.SimpleNamespace(  # what Subscription.deliver_update reads of its subscription
        _session=types.SimpleNamespace(integrity=monitor, on_event=None),
        paused_locally=False,
        on_update=callback,
        _queue=None,
        _open=1,
        _wakeup=None,
    )
    deliver = Subscription.deliver_update
    for s in proto.streams:
        s.deliver = lambda ev, _sub=sub: deliver(_sub, ev)  # type: ignore[arg-type]
        monitor._track(s)
    clock = time.thread_time_ns
    best = [1 << 62] * len(frames)
    took_slow = [False] * len(frames)
    receive = proto.receive
    for _ in range(passes):
        for i, f in enumerate(frames):
            s0 = slow[0]
            t0 = clock()
            receive(f, 0.0)
            best[i] = min(best[i], clock() - t0)
            took_slow[i] = slow[0] > s0
    n = len(best)
    b = sorted(best)
    slow_us = [best[i] / 1000 for i in range(n) if took_slow[i]]
    fast_us = [best[i] / 1000 for i in range(n) if not took_slow[i]]
    return {
        "frames": n,
        "passes": passes,
        "us": {
            "p50": b[n // 2] / 1000,
            "p90": b[int(0.9 * n)] / 1000,
            "p99": b[int(0.99 * n)] / 1000,
        },
        "mean_us": sum(b) / n / 1000,
        "slow_path": {"frames": len(slow_us), "median_us": statistics.median(slow_us or [0])},
        "others": {"frames": len(fast_us), "median_us": statistics.median(fast_us or [0])},
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.tails", description=__doc__)
    p.add_argument("--items", type=int, default=500)
    p.add_argument("--passes", type=int, default=20)
    a = p.parse_args(argv)
    r = frame_costs(a.items, a.passes)
    u = r["us"]
    print(
        f"{r['frames']} frames, CPU us per frame (min of {r['passes']} passes):"
        f" p50 {u['p50']:.2f} p90 {u['p90']:.2f} p99 {u['p99']:.2f} mean {r['mean_us']:.2f};"
        f" sequence slow path {r['slow_path']['frames']} frames, median"
        f" {r['slow_path']['median_us']:.2f}; others {r['others']['median_us']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
