"""How ``python -m benchmarks`` measures: pooled latency histograms, sub-window tails, the
per-job diagnostics, and a paced sender that slips its schedule rather than burst."""

from __future__ import annotations

import asyncio
import io
import time
import types
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import fast_sender
from benchmarks.common import WINDOWS, Counter, Probe, hist_bin, percentiles, pooled
from benchmarks.runner import diagnostics, parse_perf, summarise
from ertcloud.sim.bench import BenchSpec, Progress

latencies = st.lists(st.integers(1_000, 50_000_000), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=4))
def test_pooled_histograms_give_the_merged_samples_percentiles(rounds: list[list[int]]) -> None:
    hists = []
    for samples in rounds:
        h: dict[str, int] = {}
        for x in samples:  # as a result's JSON holds them: bins as strings
            h[str(hist_bin(x))] = h.get(str(hist_bin(x)), 0) + 1
        hists.append(h)
    got = pooled(hists)
    want = percentiles(sorted(x for s in rounds for x in s))
    assert got["samples"] == sum(map(len, rounds))
    for key in ("p50_us", "p99_us", "p999_us", "max_us"):
        # 1 us bins below 1 ms, 1 % above
        assert abs(got[key] - want[key]) <= max(1.0, 0.011 * want[key]), key


def test_latencies_drop_the_warm_up_and_give_sub_window_tails() -> None:
    c = Counter(latency=True)
    # a quiet stream with one stall in its third fifth (after the first 20 %)
    c.lat_ns = array("q", [50_000] * 2_000 + [40_000] * 8_000)
    stall = 2_000 + 2 * 1_600 + 100
    for i in range(stall, stall + 100):
        c.lat_ns[i] = 5_000_000
    got = c.latencies()
    assert got["samples"] == 8_000
    assert len(got["p99_windows_us"]) == WINDOWS
    assert sorted(got["p99_windows_us"]) == [40.0] * (WINDOWS - 1) + [5000.0]
    assert sum(got["hist"].values()) == 8_000
    assert got["p50_us"] == 40.0 and got["max_us"] == 5000.0


def test_the_probe_sees_this_process_wait() -> None:
    p = Probe()
    time.sleep(0.01)
    got = p.stop()
    assert got["voluntary_cs"] >= 1
    assert got["cpus"] and all(
        0 <= c["steal"] <= 1 and 0 <= c["busy"] <= 1 for c in got["cpus"].values()
    )


def test_perf_stat_output_is_read_as_reads_and_waits_per_message() -> None:
    text = (
        "# started on Mon Dec  7 18:48:47 2026\n\n"
        "1200,,syscalls:sys_enter_recvfrom,895694868,100.00,,\n"
        "30,,syscalls:sys_enter_read,895694868,100.00,,\n"
        "400,,syscalls:sys_enter_epoll_wait,895694868,100.00,,\n"
        "<not counted>,,syscalls:sys_enter_poll,0,100.00,,\n"
        "206,,context-switches,895694868,100.00,,\n"
        "8,,cpu-migrations,895694868,100.00,,\n"
    )
    got = parse_perf(text, 12_300)
    assert got == {
        "reads": 1230,
        "waits": 400,
        "context_switches": 206,
        "migrations": 8,
        "msgs_per_read": 10.0,
    }


class _Transport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


class _Clock:
    """time as the sender sees it: each reading 1 us on, sleeps advance it, and one
    reading 20 ms late (the simulator preempted)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        self.t += 1e-6
        if self.reads == 500:
            self.t += 0.02
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s

    def time_ns(self) -> int:
        return int(self.t * 1e9)


async def test_a_preempted_paced_sender_slips_rather_than_bursts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    fake = types.SimpleNamespace(
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        time_ns=clock.time_ns,
        process_time=time.process_time,
    )
    monkeypatch.setattr(fast_sender, "time", fake)
    monkeypatch.setattr(fast_sender, "fine_timers", lambda: None)
    transport = _Transport()
    cs = types.SimpleNamespace(transport=transport, closed=False)
    spec = BenchSpec.from_elements({"Rate": 100_000, "Messages": 3_000, "Stamp": True})
    stats = fast_sender.SenderStats(spec.rate, 1)
    msgs = [b'{"ID":3,"Type":"Update","Fields":{"BID":%d}}' % i for i in range(64)]
    w = fast_sender._Writer(cs, Progress(), stats)  # type: ignore[arg-type]
    await fast_sender._paced(cs, spec, msgs, w, 3_000, float("inf"))  # type: ignore[arg-type]
    frames = sum(x.count(b'"SimTs":') for x in transport.writes)
    assert frames == w.progress.sent == 3_000
    # 20 ms behind would have been 2,000 frames in one write; the most in one is what
    # MAX_CATCH_UP allows (0.2 ms at 100k/s: 20 frames, and one for rounding)
    assert stats.max_burst <= fast_sender.MAX_CATCH_UP * spec.rate + 1
    assert stats.slips >= 1 and stats.slipped_s > 0.019
    s = stats.summary()
    assert s["lag_us"]["max"] > 19_000 and s["slipped_ms"] > 19
    assert s["writes"] == stats.writes and s["max_burst"] == stats.max_burst


def test_unpaced_sender_figures_say_how_long_it_waited_for_the_client() -> None:
    s = fast_sender.SenderStats(0.0, 10, sent=1_000_000, seconds=2.0, blocked_s=1.9)
    got = s.summary()
    assert got["achieved_rate"] == 500_000
    assert got["blocked_share"] == pytest.approx(0.95)
    assert "lag_us" not in got


def _lat(client: str, rnd: int, samples: list[int], slips: int) -> dict[str, Any]:
    c = Counter(latency=True)
    c.lat_ns = array("q", samples)
    r = {"client": client, "rate": 100_000, "round": rnd, "received": len(samples)}
    r.update(c.latencies())
    r["sender"] = {"slips": slips, "slipped_ms": 1.5 * slips, "achieved_rate": 99_000.0}
    r["sender"]["lag_us"] = {"p99": 30.0}
    r["diag"] = {"voluntary_cs": 10, "involuntary_cs": 5, "cpus": {"0": {"busy": 1, "steal": 0}}}
    return r


def test_summary_pools_latency_rounds_and_lists_each_jobs_diagnostics() -> None:
    quiet = [30_000] * 1_000
    stalled = [30_000] * 950 + [3_000_000] * 50  # a round with a stall: its p99 is the stall
    raw = {
        "tput": [],
        "ceiling": [],
        "parse": [],
        "memory": [],
        "latency": [_lat("bare", 0, quiet, 0), _lat("bare", 1, stalled, 2)],
    }
    doc = {"raw": raw, "clients": ["ertcloud-picows"]}
    s = summarise(doc)
    (row,) = s["latency"]
    assert row["rounds"] == 2
    assert row["p99_us_min"] == 30.0 and row["p99_us_max"] == 3000.0
    # pooled: 40 of 1,600 samples kept are the stall's, 2.5 %: the p99 is in it
    assert row["p99_us"] == pytest.approx(3000, rel=0.011)
    assert row["p50_us"] == pytest.approx(30.5)
    assert row["sender_slips"] == 2 and row["sender_rate_min"] == 99_000.0
    assert len(diagnostics(raw)) == 2
    d = s["diagnostics"][1]
    assert d["round"] == 1 and d["sender_slips"] == 2 and d["preempted_per_1k"] == 5.0


class _FakeSim:
    ws_url = "ws://127.0.0.1:1/WebSocket"
    token_url = "http://127.0.0.1:1/token"

    def sender_stats(self) -> list[dict[str, Any]]:
        return []

    def stop(self) -> None:
        pass


def _fake_run(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """``runner.run`` with the jobs recorded instead of run: (client, domain, k), and
    ("latency", ...) for a latency job."""
    from benchmarks import parse_only, runner

    seen: list[tuple[str, str, int]] = []

    def job(j: Any, timeout: float = 600, perf: bool = False) -> dict[str, Any]:
        seen.append((j.client if j.mode == "tput" else "latency", j.domain, j.per_frame))
        out = {"client": j.client, "domain": j.domain, "per_frame": j.per_frame}
        if j.mode == "lat":
            return {**out, "p50_us": 10.0, "p99_us": 20.0, "p999_us": 30.0, "max_us": 40.0}
        return {**out, "msgs_per_s": 1000.0, "sent": 1}

    def parse(k: int, d: str, seconds: float = 1.0) -> dict[str, Any]:
        seen.append(("parse-only", d, k))
        return {"client": "parse-only", "domain": d, "per_frame": k, "msgs_per_s": 5000.0}

    monkeypatch.setattr(runner, "Sim", _FakeSim)
    monkeypatch.setattr(runner, "run_job", job)
    monkeypatch.setattr(parse_only, "parse_only", parse)
    monkeypatch.setattr(runner, "_in_process", lambda s, log: {})
    monkeypatch.setattr(runner, "pin", lambda pid, cpus: None)
    monkeypatch.setattr(runner, "clients", lambda s: ["ertcloud-picows", "baseline", "bare"])
    return seen


def test_rounds_run_each_frame_size_as_one_block_then_the_targets_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import runner

    seen = _fake_run(monkeypatch)
    s = runner.Settings(rounds=5, min_rounds=2, minutes=60, mem_items=(), perf=False)
    doc = runner.run(s, log=io.StringIO())
    rounds: list[list[tuple[str, str, int]]] = [[]]  # a round ends with its latency jobs
    for i, x in enumerate(seen):
        if x[0] != "latency":
            rounds[-1].append(x)
        elif i + 1 < len(seen) and seen[i + 1][0] != "latency":
            rounds.append([])
    assert len(rounds) == 5
    combos = {(d, k) for d in ("MarketPrice", "MarketByPrice") for k in (1, 10)}
    clients = sorted(["ertcloud-picows", "baseline", "bare", "discard", "parse-only"])
    for n, jobs in enumerate(rounds):
        blocks = [(d, k) for i, (_, d, k) in enumerate(jobs) if i == 0 or jobs[i - 1][1:] != (d, k)]
        # two full rounds, each frame size once, its clients back to back; then the targets'
        assert sorted(blocks) == (sorted(combos) if n < 2 else [("MarketPrice", 1)])
        for d, k in blocks:
            assert sorted(c for c, dd, kk in jobs if (dd, kk) == (d, k)) == clients
    assert doc["settings"]["rounds"] == 5 and doc["settings"]["full_rounds"] == 2
    rows = {(r["client"], r["domain"], r["per_frame"]): r for r in doc["summary"]["throughput"]}
    assert rows["baseline", "MarketPrice", 1]["rounds"] == 5
    assert rows["baseline", "MarketByPrice", 10]["rounds"] == 2
    assert rows["parse-only", "MarketPrice", 1]["rounds"] == 5


def test_no_round_past_the_full_ones_once_the_time_cap_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import runner

    _fake_run(monkeypatch)
    s = runner.Settings(rounds=5, min_rounds=2, minutes=1e-9, mem_items=(), perf=False)
    doc = runner.run(s, log=io.StringIO())
    assert doc["settings"]["rounds"] == 2


def test_a_latency_target_is_not_settled_when_the_sender_fell_short() -> None:
    from benchmarks.report import check_targets

    def row(client: str, p99: float, sender_rate: float) -> dict[str, Any]:
        return {"client": client, "rate": 100_000, "p99_us": p99, "sender_rate_min": sender_rate}

    summary: dict[str, Any] = {"main": "ertcloud-picows", "throughput": [], "memory": []}
    summary["latency"] = [row("ertcloud-picows", 150, 99_000), row("bare", 100, 99_500)]
    (t,) = [t for t in check_targets(summary) if t["target"] == "i25_p99_100k"]
    assert t["met"] is True
    summary["latency"][1]["sender_rate_min"] = 60_000
    (t,) = [t for t in check_targets(summary) if t["target"] == "i25_p99_100k"]
    assert t["met"] is None and "60,000" in t["shown"]


def test_throughput_fifths_show_a_stall_apart_from_a_slow_run() -> None:
    c = Counter()
    # 10k msgs/s for 2.3 s (marks every 1,024 messages), with a 0.2 s stall at 1.3 s
    t, n = 0.0, 0
    while t < 2.3:
        n += 1024
        t += 1024 / 10_000
        if 1.3 <= t < 1.3 + 1024 / 10_000:
            t += 0.2
        c.marks.append((t, n))
    fifths = c.rate_windows()
    assert len(fifths) == WINDOWS
    assert sum(1 for r in fifths if r < 7_000) == 1  # the stall's fifth alone
    assert all(r == pytest.approx(10_000, rel=0.05) for r in fifths if r >= 7_000)
    assert c.rate() < 10_000


def test_the_rate_leaves_out_the_drain_after_the_sender_stopped() -> None:
    c = Counter()
    c.requested = 0.0
    t, n = 0.0, 0
    while t < 2.6:  # 10k msgs/s while the sender sends (2 s), 25k/s draining what is queued
        n += 1024
        t += 1024 / (10_000 if t < 2.0 else 25_000)
        c.marks.append((t, n))
    assert c.rate() > 11_000  # the whole window
    c.until = c.requested + 2.0
    assert c.rate() == pytest.approx(10_000, rel=0.01)
    assert all(r == pytest.approx(10_000, rel=0.05) for r in c.rate_windows())
