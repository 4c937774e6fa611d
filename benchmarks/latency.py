"""``python -m benchmarks.latency``: the latency part of ``python -m benchmarks`` alone.

The same simulator, jobs and figures as the full run (paced, stamped MarketPrice Updates, 1
msg/frame; the client, the bare stack and the raw-socket floor in turn at each rate), without
the throughput, memory and in-process parts. Prints each job and the medians over rounds, with
the client's p99 over the bare stack's p99 of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from typing import Any

from benchmarks import tails
from benchmarks.common import pooled
from benchmarks.runner import CLIENT_CPUS, Settings, Sim, attach_sender, clients, pin, run_latency


def measure(
    names: list[str], rates: list[int], rounds: int, seconds: float, items: int, log: Any
) -> list[dict[str, Any]]:
    """Every (client, rate) job once per round, the clients of a rate in a new random order
    each round; the raw results, each with its sender's figures."""
    sim = Sim()
    pin(0, CLIENT_CPUS)
    out: list[dict[str, Any]] = []
    try:
        for rnd in range(rounds):
            for rate in rates:
                for client in random.sample(names, len(names)):  # no fixed order
                    r = run_latency(sim, client, rate, seconds, items, rnd)
                    attach_sender(r, sim)
                    out.append(r)
                    if "tails" in r:
                        print(f"    tails: {json.dumps(_brief(r['tails']))}", file=log)
                    snd = r.get("sender", {})
                    gcs = (r.get("diag") or {}).get("gc") or {}
                    print(
                        f"  round {rnd + 1}: {client} at {rate:,}/s: p50 {r['p50_us']:.0f} us"
                        f" p99 {r['p99_us']:.0f} us ({r['received']:,} of {r['sent']:,};"
                        f" {r.get('cpu_us_per_msg', 0):.1f} us CPU/msg;"
                        f" {sum(gcs.get('runs', []))} collections,"
                        f" longest {gcs.get('max_ms', 0):.1f} ms); sender"
                        f" {snd.get('achieved_rate', 0):,.0f}/s, {snd.get('slips', 0)} slips"
                        f" ({snd.get('slipped_ms', 0):.1f} ms), p99 late"
                        f" {snd.get('lag_us', {}).get('p99', 0):.0f} us",
                        file=log,
                    )
    finally:
        sim.stop()
    return out


def _brief(t: dict[str, Any]) -> dict[str, Any]:
    """The trace's analysis without its long lists."""
    out = {k: v for k, v in t.items() if k not in ("gc_runs", "callbacks")}
    gcs = t.get("gc_runs", [])
    out["gc"] = {}
    for g in (0, 1, 2):
        us = [x["us"] for x in gcs if x["gen"] == g]
        out["gc"][f"gen{g}"] = [len(us), round(max(us, default=0))]
    return out


def summary(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians over rounds per (client, rate), and p99 over the bare stack's p99 (same round)."""
    bare = {(r["rate"], r["round"]): r["p99_us"] for r in raw if r["client"] == "bare"}
    rows = []
    for client, rate in sorted({(r["client"], r["rate"]) for r in raw}, key=lambda x: x[1]):
        rs = [r for r in raw if (r["client"], r["rate"]) == (client, rate)]
        row: dict[str, Any] = {"client": client, "rate": rate, "rounds": len(rs)}
        for key in ("p50_us", "p99_us", "p999_us", "max_us", "cpu_us_per_msg"):
            vals = [r[key] for r in rs if key in r]
            if vals:
                row[key] = statistics.median(vals)
        if all(r.get("hist") for r in rs):  # every round's samples together
            row["pooled"] = pooled([r["hist"] for r in rs])
        over = [
            (r["p99_us"] / bare[rate, r["round"]], r["p99_us"] - bare[rate, r["round"]])
            for r in rs
            if bare.get((rate, r["round"]))
        ]
        if over:
            row["p99_of_bare"] = statistics.median(x for x, _ in over)
            row["p99_minus_bare_us"] = statistics.median(d for _, d in over)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=Settings.lat_seconds)
    p.add_argument("--items", type=int, default=Settings.items)
    p.add_argument("--rates", default="20000,100000", help="comma-separated msgs/s")
    p.add_argument("--clients", default="", help="default: the main client, bare, discard")
    p.add_argument("--json", default="", help="write the raw results and summary here")
    p.add_argument(
        "--tails",
        default="",
        metavar="DIR",
        help="trace each client process (benchmarks.tails): what its late messages waited on",
    )
    a = p.parse_args(argv)
    if a.tails:
        os.environ[tails.ENV] = os.path.abspath(a.tails)
    names = [c for c in a.clients.split(",") if c]
    if not names:
        names = [clients(Settings(lseg=False))[0], "bare", "discard"]
    rates = [int(x) for x in a.rates.split(",") if x]
    raw = measure(names, rates, a.rounds, a.seconds, a.items, sys.stderr)
    rows = summary(raw)
    for row in rows:
        extra = ""
        if "p99_of_bare" in row and row["client"] != "bare":
            extra = f"  p99 {row['p99_of_bare']:.2f}x bare, {row['p99_minus_bare_us']:+.0f} us"
        print(
            f"{row['client']:>16} {row['rate']:>7,}/s  p50 {row['p50_us']:>9.0f} us"
            f"  p99 {row['p99_us']:>9.0f} us  p99.9 {row['p999_us']:>9.0f} us"
            f"  CPU {row.get('cpu_us_per_msg', 0):5.1f} us/msg{extra}"
            + (f"  pooled p99 {row['pooled']['p99_us']:.0f} us" if "pooled" in row else "")
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"raw": raw, "summary": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
