"""What every benchmark client shares: options, the callback's work, and how results leave.

Each measurement runs in a fresh process (``python -m benchmarks.clients ...``) that prints
one JSON object on its last stdout line.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
from array import array
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Counter",
    "Job",
    "emit",
    "fetch_token",
    "percentiles",
    "rss_bytes",
]

#: Bench items the clients subscribe for throughput and latency runs.
STREAM_ITEMS = 500
#: Seconds of a throughput stream left out of its rate (the client warming up).
WARMUP = 0.3


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

    def start_stream(self) -> None:
        """The measured stream is requested: its CPU time starts."""
        self.cpu_s = -time.process_time()

    def end_stream(self) -> None:
        """The stream's end (its reply) came."""
        if self.cpu_s < 0:
            self.cpu_s += time.process_time()

    def on_update(self, name: str, fields: Any, sim_ts: int | None) -> None:
        self.count += 1
        self.last = (name, fields.get("BID") if fields is not None else None)
        if self.latency and sim_ts is not None:
            self.lat_ns.append(time.time_ns() - sim_ts)
        elif not self.count & 1023:
            self.marks.append((time.perf_counter(), self.count))

    def rate(self, warmup: float = WARMUP) -> float:
        """Messages per second over the saturated window (after ``warmup`` s)."""
        m = self.marks
        if len(m) < 3:
            return 0.0
        t0 = m[0][0] + warmup
        start = next((x for x in m[:-1] if x[0] >= t0), m[len(m) // 4])
        end = m[-1]
        if end[0] <= start[0]:
            return 0.0
        return (end[1] - start[1]) / (end[0] - start[0])

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

    def latencies(self) -> dict[str, float]:
        vals = sorted(self.lat_ns[len(self.lat_ns) // 5 :])  # drop the first 20 %
        return percentiles(vals)


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
