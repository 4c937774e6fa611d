"""What every benchmark client shares: options, the callback's work, and how results leave.

Each measurement runs in a fresh process (``python -m benchmarks.clients ...``) that prints
one JSON object on its last stdout line.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import resource
import sys
import threading
import time
import urllib.parse
import urllib.request
from array import array
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PERF_ENV",
    "Counter",
    "Job",
    "Probe",
    "emit",
    "fetch_token",
    "percentiles",
    "pooled",
    "rss_bytes",
]

#: Bench items the clients subscribe for throughput and latency runs.
STREAM_ITEMS = 500
#: Seconds of a throughput stream left out of its rate (the client warming up).
WARMUP = 0.3
#: Sub-windows of a stream (after its warm-up), with a rate or a p99 each.
WINDOWS = 5
#: ``ctl,ack`` FIFOs of a ``perf stat --control`` the runner wraps the client process in:
#: the :class:`Probe` enables its counters for the measured stream only.
PERF_ENV = "ERTCLOUD_BENCH_PERF_CTL"


def _cpu_ticks() -> list[list[int]]:
    """Per-CPU /proc/stat counters (user nice system idle iowait irq softirq steal)."""
    try:
        with open("/proc/stat") as f:
            return [
                [int(x) for x in line.split()[1:9]]
                for line in f
                if line.startswith("cpu") and line[3].isdigit()
            ]
    except OSError:  # not Linux
        return []


class Probe:
    """What the process and the machine did during the measured stream: the process's
    voluntary context switches (it waited, with nothing to read) and involuntary ones (it
    was preempted), and for each CPU its busy and stolen share (the hypervisor running
    another guest); the cyclic collector's runs (how many, and the longest and total
    pause: a client's own stall, where the others are the machine's); with
    ``$ERTCLOUD_BENCH_PERF_CTL``, the ``perf stat`` counters too (the runner reads them:
    the reads and waits per message)."""

    def __init__(self) -> None:
        self._ru = resource.getrusage(resource.RUSAGE_SELF)
        self._ticks = _cpu_ticks()
        self._gc_runs = [0, 0, 0]
        self._gc_ns = [0, 0]  # total, longest
        self._gc_start = 0
        gc.callbacks.append(self._on_gc)
        self._perf = _perf_fifos()
        self._perf_cmd("enable")

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
            return
        ns = time.perf_counter_ns() - self._gc_start
        self._gc_runs[info["generation"]] += 1
        self._gc_ns[0] += ns
        self._gc_ns[1] = max(self._gc_ns[1], ns)

    def stop(self) -> dict[str, Any]:
        """The figures since the probe was made."""
        self._perf_cmd("disable")
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpus = {}
        for n, (a, b) in enumerate(zip(self._ticks, _cpu_ticks(), strict=False)):
            d = [y - x for x, y in zip(a, b, strict=True)]
            total = sum(d) or 1
            cpus[str(n)] = {
                "busy": round((total - d[3] - d[4] - d[7]) / total, 3),
                "steal": round(d[7] / total, 3),
            }
        try:
            mine = sorted(os.sched_getaffinity(0))
        except AttributeError:
            mine = []
        return {
            "voluntary_cs": ru.ru_nvcsw - self._ru.ru_nvcsw,
            "involuntary_cs": ru.ru_nivcsw - self._ru.ru_nivcsw,
            "cpus": cpus,
            "own_cpus": mine,
            "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "gc": {
                "runs": list(self._gc_runs),  # by generation
                "total_ms": self._gc_ns[0] / 1e6,
                "max_ms": self._gc_ns[1] / 1e6,
            },
        }

    def _perf_cmd(self, cmd: str) -> None:
        if self._perf is None:
            return
        ctl, ack = self._perf
        try:
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)  # no reader: no perf, no wait
        except OSError:
            self._perf = None
            return
        try:
            os.write(fd, f"{cmd}\n".encode())
        finally:
            os.close(fd)
        with open(ack, "rb") as f:  # the counters are on (off) when perf says so
            f.readline()


def _perf_fifos() -> tuple[str, str] | None:
    v = os.environ.get(PERF_ENV, "")
    ctl, _, ack = v.partition(",")
    return (ctl, ack) if ctl and ack else None


@dataclass
class Job:
    """One measurement, as the runner hands it to a client process."""

    client: str
    mode: str  # tput | lat | mem
    ws_url: str
    token_url: str
    per_frame: int = 1
    domain: str = "MarketPrice"
    rate: float = 0.0
    seconds: float = 2.0
    items: int = STREAM_ITEMS
    view: list[str] | None = None
    #: > 0: stop this many seconds after the first update instead of waiting for the
    #: simulator's reply, dropping what is still queued (``--quick``'s baseline, which would
    #: otherwise drain megabytes at its own pace)
    stop_after: float = 0.0
    #: > 0: the simulator stops the stream after this many messages (or ``seconds``)
    messages: int = 0

    @classmethod
    def parse(cls, argv: list[str] | None = None) -> Job:
        p = argparse.ArgumentParser(prog="python -m benchmarks.clients")
        p.add_argument("--client", required=True)
        p.add_argument("--mode", required=True, choices=("tput", "lat", "mem"))
        p.add_argument("--ws-url", required=True)
        p.add_argument("--token-url", required=True)
        p.add_argument("--per-frame", type=int, default=1)
        p.add_argument("--domain", default="MarketPrice")
        p.add_argument("--rate", type=float, default=0.0)
        p.add_argument("--seconds", type=float, default=2.0)
        p.add_argument("--items", type=int, default=STREAM_ITEMS)
        p.add_argument("--view", default="")
        p.add_argument("--stop-after", type=float, default=0.0)
        p.add_argument("--messages", type=int, default=0)
        a = p.parse_args(argv)
        return cls(
            a.client,
            a.mode,
            a.ws_url,
            a.token_url,
            a.per_frame,
            a.domain,
            a.rate,
            a.seconds,
            a.items,
            [v for v in a.view.split(",") if v] or None,
            a.stop_after,
            a.messages,
        )

    def args(self) -> list[str]:
        out = [
            "--client",
            self.client,
            "--mode",
            self.mode,
            "--ws-url",
            self.ws_url,
            "--token-url",
            self.token_url,
            "--per-frame",
            str(self.per_frame),
            "--domain",
            self.domain,
            "--rate",
            str(self.rate),
            "--seconds",
            str(self.seconds),
            "--items",
            str(self.items),
        ]
        if self.view:
            out += ["--view", ",".join(self.view)]
        if self.stop_after > 0:
            out += ["--stop-after", str(self.stop_after)]
        if self.messages > 0:
            out += ["--messages", str(self.messages)]
        return out

    def bench_elements(self) -> dict[str, Any]:
        """Elements of the bench Generic that starts this job's stream."""
        out: dict[str, Any] = {
            "Rate": self.rate,
            "PerFrame": self.per_frame,
            "Seconds": self.seconds,
            "Domain": self.domain,
            "Stamp": self.mode == "lat",
        }
        if self.messages > 0:
            out["Messages"] = self.messages
        return out


@dataclass
class Counter:
    """The callback's work, identical in every client: count, read two values, and in
    latency runs take the time since the simulator stamped the message."""

    latency: bool = False
    count: int = 0
    last: Any = None
    marks: list[tuple[float, int]] = field(default_factory=list)
    lat_ns: array[int] = field(default_factory=lambda: array("q"))
    cpu_s: float = 0.0  # the process's CPU time from start_stream() to end_stream()
    requested: float = 0.0  # when start_stream() was called (perf_counter)
    #: > 0: the rate's window ends here (perf_counter): when the sender stopped sending
    until: float = 0.0
    probe: Probe | None = None
    diag: dict[str, Any] = field(default_factory=dict)  # the probe's figures

    def start_stream(self) -> None:
        """The measured stream is requested: its CPU time starts."""
        self.probe = Probe()
        self.cpu_s = -time.process_time()
        self.requested = time.perf_counter()

    def end_stream(self) -> None:
        """The stream's end (its reply) came."""
        if self.cpu_s < 0:
            self.cpu_s += time.process_time()
        if self.probe is not None:
            self.diag = self.probe.stop()
            self.probe = None

    def on_update(self, name: str, fields: Any, sim_ts: int | None) -> None:
        self.count += 1
        self.last = (name, fields.get("BID") if fields is not None else None)
        if self.latency and sim_ts is not None:
            self.lat_ns.append(time.time_ns() - sim_ts)
        elif not self.count & 1023:
            self.marks.append((time.perf_counter(), self.count))

    def rate(self, warmup: float = WARMUP) -> float:
        """Messages per second over the saturated window (after ``warmup`` s)."""
        m = self._window(warmup)
        if len(m) < 2 or m[-1][0] <= m[0][0]:
            return 0.0
        return (m[-1][1] - m[0][1]) / (m[-1][0] - m[0][0])

    def rate_windows(self, warmup: float = WARMUP) -> list[float]:
        """The rate of each fifth of :meth:`rate`'s window: even, the client ran at one speed
        throughout; one low, a stall; all low, a slower machine (or client) all along."""
        m = self._window(warmup)
        if len(m) < 2 * WINDOWS or m[-1][0] <= m[0][0]:
            return []
        t0, t1 = m[0][0], m[-1][0]
        cuts = [t0 + (t1 - t0) * i / WINDOWS for i in range(WINDOWS + 1)]
        out = []
        for a, b in itertools.pairwise(cuts):
            first = next((x for x in m if x[0] >= a), m[-1])
            last = max((x for x in m if x[0] <= b), default=first)
            out.append((last[1] - first[1]) / (last[0] - first[0]) if last[0] > first[0] else 0.0)
        return out

    def _window(self, warmup: float) -> list[tuple[float, int]]:
        m = self.marks
        if len(m) < 3:
            return []
        t0 = m[0][0] + warmup
        start = next((x for x in m[:-1] if x[0] >= t0), m[len(m) // 4])
        out = [x for x in m if x[0] >= start[0]]
        # Not the drain after the sender stopped: a client reads faster once the sender is
        # idle, and the drain is a larger share of a slower client's window.
        sending = [x for x in out if x[0] <= self.until] if self.until > 0 else out
        return sending if len(sending) >= 3 else out

    def sample_until(self, done: threading.Event, seconds: float) -> None:
        """Wait until ``done``, or ``seconds`` after the first update once :meth:`rate` has
        a figure, marking the count every 20 ms (from this thread, while another one
        counts): a rate even from fewer messages than the callback's own marks need."""
        give_up = time.perf_counter() + 120
        while not self.count and time.perf_counter() < give_up:  # the first update
            if done.wait(0.005):
                return
        samples: list[tuple[float, int]] = []
        end = time.perf_counter() + seconds
        while not done.wait(0.02):
            now = time.perf_counter()
            samples.append((now, self.count))
            if now < end:
                continue
            marks = sorted(self.marks + samples)
            if now >= give_up or Counter(marks=marks).rate() > 0:  # its figure is in
                break
        self.marks = sorted(self.marks + samples)

    def latencies(self) -> dict[str, Any]:
        """Percentiles of the stream after its first 20 % (warm-up), the p99 of each fifth
        of what is left (sub-windows: one stall of the machine moves one of them), and a
        histogram of the samples (:func:`hist_bin`) that rounds can be pooled by."""
        kept = self.lat_ns[len(self.lat_ns) // 5 :]
        out: dict[str, Any] = percentiles(sorted(kept))
        n = len(kept) // WINDOWS
        if n >= 100:
            out["p99_windows_us"] = [
                percentiles(sorted(kept[i * n : (i + 1) * n]))["p99_us"] for i in range(WINDOWS)
            ]
        hist: dict[int, int] = {}
        for x in kept:
            b = hist_bin(x)
            hist[b] = hist.get(b, 0) + 1
        out["hist"] = hist
        return out


def hist_bin(ns: int) -> int:
    """The histogram bin of a latency: 1 us wide up to 1 ms, then 1 % wide."""
    if ns < 1_000_000:
        return max(0, ns // 1000)
    return 1000 + int(math.log(ns / 1e6) / _LOG_STEP)


def bin_us(b: int) -> float:
    """The lower edge of bin ``b``, in microseconds."""
    return float(b) if b < 1000 else 1000.0 * math.exp((b - 1000) * _LOG_STEP)


_LOG_STEP = math.log(1.01)


def _mid_us(b: int) -> float:
    return b + 0.5 if b < 1000 else bin_us(b) * 1.005


def pooled(hists: list[dict[Any, int]]) -> dict[str, float]:
    """p50/p99/p99.9/max (us) of the samples of several histograms together (JSON turns
    their bins into strings)."""
    total: dict[int, int] = {}
    for h in hists:
        for b, c in h.items():
            total[int(b)] = total.get(int(b), 0) + c
    n = sum(total.values())
    out: dict[str, float] = {"samples": n}
    if not n:
        return {"p50_us": 0.0, "p99_us": 0.0, "p999_us": 0.0, "max_us": 0.0, "samples": 0}
    bins = sorted(total)
    for key, q in (("p50_us", 0.5), ("p99_us", 0.99), ("p999_us", 0.999)):
        rank = min(n - 1, int(q * n))  # as percentiles(): the sample at that rank
        seen = 0
        for b in bins:
            seen += total[b]
            if seen > rank:
                out[key] = _mid_us(b)
                break
    out["max_us"] = _mid_us(bins[-1])
    return out


def percentiles(sorted_ns: list[int]) -> dict[str, float]:
    """p50/p99/p99.9/max in microseconds of sorted nanosecond samples."""
    if not sorted_ns:
        return {"p50_us": 0.0, "p99_us": 0.0, "p999_us": 0.0, "max_us": 0.0, "samples": 0}
    n = len(sorted_ns)

    def q(p: float) -> float:
        return sorted_ns[min(n - 1, int(p * n))] / 1000.0

    return {
        "p50_us": q(0.50),
        "p99_us": q(0.99),
        "p999_us": q(0.999),
        "max_us": sorted_ns[-1] / 1000.0,
        "samples": n,
    }


def fetch_token(token_url: str, user: str = "demo", password: str = "demo") -> str:
    """A password-grant access token from the simulator's gateway (stdlib only)."""
    body = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": user,
            "password": password,
            "client_id": "bench",
            "scope": "trapi",
            "takeExclusiveSignOnControl": "true",
        }
    ).encode()
    req = urllib.request.Request(
        token_url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["access_token"])


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> int:
    """Collect garbage and return the RSS after it."""
    gc.collect()
    return rss_bytes()


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
