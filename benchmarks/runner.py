"""``python -m benchmarks``: every figure in one run, against ``ertcloud sim`` as a process.

Rounds run the throughput jobs in a new random order each time; ratios are taken within a
round (client / baseline of the same round) and their median is reported, as in
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import PERF_ENV, WARMUP, Job, pooled
from benchmarks.fast_sender import STATS_ENV
from benchmarks.report import TARGETS, check_targets, render, write_chart

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    #: rounds run at most. The first ``min_rounds`` run every job; later ones only the
    #: targets' jobs (MarketPrice at 1 msg/frame, latency), and only while one more (as
    #: long as the slowest such round so far) still fits in ``minutes`` of rounds
    rounds: int = 7
    min_rounds: int = 3
    minutes: float = 7.0
    seconds: float = 2.0
    lat_seconds: float = 3.0
    items: int = 500
    mem_items: tuple[int, ...] = (10_000, 100_000)
    lseg: bool = True
    out: Path = Path("bench-results")
    chart: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: the smoke run: throughput and latency jobs in one long-lived client process (see
    #: :class:`Worker`)
    quick: bool = False
    #: count each client's reads, waits and switches with ``perf stat`` (when usable)
    perf: bool = True


class Sim:
    """``ertcloud sim --port 0 --rate 0`` (with the bench fast sender) in a child process."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ertcloud-bench-")
        users = Path(self._tmp.name) / "users.json"
        users.write_text(json.dumps({"demo": "demo", "control": "control"}))
        self._stats = Path(self._tmp.name) / "sender.jsonl"
        self._stats_seen = 0
        env = _env()
        env[STATS_ENV] = str(self._stats)
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "benchmarks.simulator", "--port", "0", "--rate", "0"),
                *("--token-ttl", "3600", "--users-file", str(users)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        pin(self.proc.pid, SIM_CPU)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        info = json.loads(line)
        self.ws_url: str = info["websocket_url"]
        self.token_url: str = info["token_url"]

    def sender_stats(self) -> list[dict[str, Any]]:
        """The fast sender's figures of the streams sent since the last call, in order."""
        try:
            lines = self._stats.read_text().splitlines()
        except FileNotFoundError:
            return []
        new = lines[self._stats_seen :]
        self._stats_seen = len(lines)
        return [json.loads(x) for x in new if x.strip()]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._tmp.cleanup()


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return []


#: With two cores or more, the simulator gets one and every measured client another, as
#: in the reference measurements: no migrations, and a busy simulator never delays the
#: client's wake-ups (the scheduler would otherwise often wake it on the sender's core).
SIM_CPU = _cpus()[:1]
CLIENT_CPUS = _cpus()[1:]


def pin(pid: int, cpus: list[int]) -> None:
    """Restrict process ``pid`` (0: this one) to ``cpus``; nothing if there are too few."""
    if cpus and len(_cpus()) >= 2:
        os.sched_setaffinity(pid, cpus)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(k, None)
    path = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


#: What ``perf stat`` counts in a client process during its measured stream (``--perf``):
#: the reads of the socket, the waits for it, the context switches and migrations.
PERF_EVENTS = (
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_poll",
    "syscalls:sys_enter_select",
    "context-switches",
    "cpu-migrations",
)


def perf_usable() -> bool:
    """Whether ``perf stat`` can count this machine's syscall tracepoints (root, or a
    permissive ``perf_event_paranoid``)."""
    try:
        p = subprocess.run(
            ["perf", "stat", "-x,", "-e", ",".join(PERF_EVENTS), "--", sys.executable, "-c", ""],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and "<not supported>" not in p.stderr and "syscalls" in p.stderr


def parse_perf(text: str, messages: int) -> dict[str, Any]:
    """``perf stat -x,`` output as reads, waits and switches, with messages per read."""
    got: dict[str, float] = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
            got[f[2].rsplit(":", 1)[-1].removeprefix("sys_enter_")] = float(f[0])
    reads = got.get("recvfrom", 0) + got.get("read", 0)
    out: dict[str, Any] = {
        "reads": int(reads),
        "waits": int(got.get("epoll_wait", 0) + got.get("poll", 0) + got.get("select", 0)),
        "context_switches": int(got.get("context-switches", 0)),
        "migrations": int(got.get("cpu-migrations", 0)),
    }
    if reads and messages:
        out["msgs_per_read"] = round(messages / reads, 2)
    return out


def run_job(job: Job, timeout: float = 600, perf: bool = False) -> dict[str, Any]:
    """One client process; its last stdout line is the result. ``perf``: under ``perf
    stat``, counting during the measured stream only (``diag["perf"]`` of the result)."""
    cmd = [sys.executable, "-m", "benchmarks.clients", *job.args()]
    env = _env()
    with tempfile.TemporaryDirectory(prefix="ertcloud-bench-perf-") as tmp:
        if perf:
            ctl, ack, report = (os.path.join(tmp, x) for x in ("ctl", "ack", "perf.txt"))
            os.mkfifo(ctl)
            os.mkfifo(ack)
            env[PERF_ENV] = f"{ctl},{ack}"
            cmd = [
                *("perf", "stat", "-x,", "-o", report, "-D", "-1"),
                *(f"--control=fifo:{ctl},{ack}", "-e", ",".join(PERF_EVENTS), "--", *cmd),
            ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
        )
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        if proc.returncode != 0 or not lines:
            err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{job.client} {job.mode} failed: {err}")
        out: dict[str, Any] = json.loads(lines[-1])
        if perf and os.path.exists(report):
            with open(report) as f:
                counted = parse_perf(f.read(), out.get("received") or out.get("sent") or 0)
            out.setdefault("diag", {})["perf"] = counted
    return out


class Worker:
    """One client process (``benchmarks.clients --serve``) that runs job after job: what
    ``--quick`` uses instead of a process per job, whose start-up (imports) would take
    most of a smoke run. Figures stay comparable within the run, not with full runs."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.clients", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(),
            cwd=ROOT,
        )

    def run(self, job: Job, timeout: float = 600) -> dict[str, Any]:
        """Run ``job`` in the worker; as :func:`run_job`."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job.args()) + "\n")
        self.proc.stdin.flush()
        watchdog = threading.Timer(timeout, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            watchdog.cancel()
        out: dict[str, Any] = json.loads(line) if line else {"error": "the process ended"}
        if "error" in out:
            raise RuntimeError(f"{job.client} {job.mode} failed: {out['error']}")
        return out

    def stop(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()  # the worker's stdin ends: it exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: Messages of a ``--quick`` throughput stream (a baseline stream ends with its window).
QUICK_MESSAGES = 16 * 1024


def run_latency(
    sim: Sim,
    client: str,
    rate: int,
    seconds: float,
    items: int,
    rnd: int,
    run: Callable[[Job], dict[str, Any]] = run_job,
) -> dict[str, Any]:
    """One latency job: paced, stamped MarketPrice Updates, 1 msg/frame (``run`` runs it:
    a process of its own, or a ``Worker``'s)."""
    job = Job(client, "lat", sim.ws_url, sim.token_url, 1, "MarketPrice", rate, seconds, items)
    r = run(job)
    r.update(round=rnd, rate=rate)
    return r


def clients(settings: Settings) -> list[str]:
    names = ["ertcloud"]
    if importlib.util.find_spec("picows") is not None:
        names = ["ertcloud-picows", "ertcloud-aiohttp"]
    names.append("baseline")
    if importlib.util.find_spec("picows") is not None:
        names.append("bare")
    if settings.lseg and importlib.util.find_spec("lseg") is not None:
        names.append("lseg-data")
    return names


def run(settings: Settings, log: Any = sys.stderr) -> dict[str, Any]:
    """Run everything; returns the results document (also written as JSON)."""
    from benchmarks.parse_only import parse_only

    started = time.time()
    worker = Worker() if settings.quick else None  # its imports overlap the simulator's
    if settings.quick and settings.chart:  # and so do the chart's, here
        threading.Thread(target=_import_chart, daemon=True).start()
    try:
        sim = Sim()
    except BaseException:
        if worker is not None:
            worker.stop()
        raise
    cpus = _cpus()
    pin(0, CLIENT_CPUS)  # this process (parse-only runs) and the client processes it starts
    if worker is not None:
        pin(worker.proc.pid, CLIENT_CPUS)
    tput: list[dict[str, Any]] = []
    ceiling: list[dict[str, Any]] = []
    lat: list[dict[str, Any]] = []
    mem: list[dict[str, Any]] = []
    parse: list[dict[str, Any]] = []
    in_process: dict[str, Any] = {}
    names = clients(settings)
    main = names[0]

    perf = settings.perf and not settings.quick and perf_usable()

    def run_one(job: Job) -> dict[str, Any]:
        if worker is None or job.client == "lseg-data":  # lseg-data's threads: a process
            return run_job(job, perf=perf)
        return worker.run(job)

    try:
        combos = [(k, d) for d in ("MarketPrice", "MarketByPrice") for k in (1, 10)]

        def tput_job(client: str, k: int, d: str) -> Job:
            job = Job(client, "tput", sim.ws_url, sim.token_url, k, d, 0.0, settings.seconds)
            job.items = settings.items
            if client == "baseline":
                # Its rate is in once its window is over: stop there rather than read at
                # its pace the megabytes queued for it (seconds of a round, no figure).
                job.stop_after = WARMUP + settings.seconds
            elif settings.quick:  # a burst the client reads at its own pace (none queued)
                job.messages = QUICK_MESSAGES
            return job

        floors = [c for c in ("bare", "discard") if c == "discard" or c in names]
        rounds_started = time.monotonic()
        slowest = slowest_extra = 0.0
        round_s: list[float] = []
        for rnd in range(settings.rounds):
            full = rnd < settings.min_rounds
            spent = time.monotonic() - rounds_started
            if not full and spent + (slowest_extra or slowest / 2) > settings.minutes * 60:
                break
            t_round = time.monotonic()
            # Blocks: each frame size and domain in turn, every client of it back to back in
            # a new random order (parse-only among them), so that a same-round ratio compares
            # jobs seconds apart, not minutes: a machine whose speed drifts (other guests,
            # other processes) moves both sides of the ratio alike.
            for k, d in random.sample(combos, len(combos)) if full else [(1, "MarketPrice")]:
                block = [*names, "discard", "parse-only"]
                for client in random.sample(block, len(block)):
                    if client == "parse-only":
                        p = parse_only(k, d, seconds=min(1.0, settings.seconds / 2))
                        p["round"] = rnd
                        parse.append(p)
                        continue
                    r = run_one(tput_job(client, k, d))
                    attach_sender(r, sim)
                    r["round"] = rnd
                    (ceiling if client == "discard" else tput).append(r)
                    print(f"  round {rnd + 1}: {_label(r)} {r['msgs_per_s']:,.0f} msg/s", file=log)
            for rate in (20_000, 100_000):
                block = [main, *floors]
                for client in random.sample(block, len(block)):
                    r = run_latency(
                        sim, client, rate, settings.lat_seconds, settings.items, rnd, run=run_one
                    )
                    attach_sender(r, sim)
                    lat.append(r)
                    print(
                        f"  round {rnd + 1}: {client} latency at {rate:,}/s"
                        f" p50 {r['p50_us']:.0f} us p99 {r['p99_us']:.0f} us",
                        file=log,
                    )
            took = time.monotonic() - t_round
            round_s.append(round(took, 1))
            if full:
                slowest = max(slowest, took)
            else:
                slowest_extra = max(slowest_extra, took)
        in_process = _in_process(settings, log)
        for n in settings.mem_items:
            for client, view in ((main, None), (main, ["BID", "ASK", "TRDPRC_1", "ACVOL_1"])):
                job = Job(client, "mem", sim.ws_url, sim.token_url, items=n, view=view)
                r = run_job(job)
                r["view"] = ",".join(view) if view else "full image"
                mem.append(r)
                print(
                    f"  memory {n:,} items ({r['view']}): {r['bytes_per_item']:,.0f} B/item",
                    file=log,
                )
    finally:
        if worker is not None:
            worker.stop()
        sim.stop()
        pin(0, cpus)
    doc: dict[str, Any] = {
        "version": _version(),
        "python": sys.version.split()[0],
        "started": started,
        "seconds": round(time.time() - started, 1),
        "settings": {
            "rounds": len({r["round"] for r in tput}),
            "full_rounds": min(settings.min_rounds, len({r["round"] for r in tput})),
            "round_seconds": round_s,
            "seconds": settings.seconds,
            "items": settings.items,
            "mem_items": list(settings.mem_items),
        },
        "clients": names,
        "raw": {
            "tput": tput,
            "ceiling": ceiling,
            "latency": lat,
            "memory": mem,
            "parse": parse,
            "in_process": in_process,
        },
    }
    doc["summary"] = summarise(doc)
    doc["targets"] = check_targets(doc["summary"])
    return doc


def _in_process(settings: Settings, log: Any) -> dict[str, Any]:
    """The hot path (pure beside compiled, ratio to parse-only) and the image benchmark, in
    this process: both cores at once, which separate client processes could not compare."""
    from benchmarks import hot_path, images
    from ertcloud.protocol import core

    rounds = min(settings.rounds, settings.min_rounds)  # in process, 3 rounds are steady
    hot = [
        hot_path.measure(settings.items, k, rounds, min(0.3, settings.seconds / 4), clock="cpu")
        for k in (1, 10)
    ]
    for r in hot:
        u = r["us_per_msg"]
        print(
            f"  in process, {r['per_frame']} msg/frame: receive"
            f" {u['receive']['median']:.2f} us/msg, {u['of parse-only']['median']:.2f}x parse-only",
            file=log,
        )
    mbp = hot_path.measure(
        settings.items, 1, rounds, min(0.3, settings.seconds / 4), "cpu", "MarketByPrice"
    )
    print(
        f"  in process, MarketByPrice 1 msg/frame: receive"
        f" {mbp['us_per_msg']['of parse-only']['median']:.2f}x parse-only",
        file=log,
    )
    n = max(settings.mem_items)
    cores = ["compiled", "pure"] if core.compiled_dispatch is not None else ["pure"]
    imgs = []
    for name in cores:
        r = images.measure(n, name)
        imgs.append(r)
        print(
            f"  in process, {n:,} images ({name}): refresh {r['refresh_s']:.2f} s,"
            f" {r['bytes_per_image']:,.0f} B/image",
            file=log,
        )
    return {"hot_path": hot, "hot_path_mbp": mbp, "images": imgs}


def attach_sender(r: dict[str, Any], sim: Sim) -> None:
    """Put the sender's figures of the job's stream (its last) into its result."""
    got = [
        x
        for x in sim.sender_stats()
        if x["per_frame"] == r.get("per_frame", 1) and x["rate"] == r.get("rate", 0.0)
    ]
    if got:  # (a stream that ended after its client stopped reading is left out)
        r["sender"] = got[-1]


def _import_chart() -> None:
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")  # as report.build_chart, before pyplot
    import matplotlib.pyplot


def _label(r: dict[str, Any]) -> str:
    return f"{r['client']} {r['domain']} x{r['per_frame']}"


def summarise(doc: dict[str, Any]) -> dict[str, Any]:
    """Medians, min and max over rounds, and same-round ratios."""
    raw = doc["raw"]
    main = doc["clients"][0]
    out: dict[str, Any] = {"throughput": [], "latency": [], "memory": [], "main": main}
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for r in raw["tput"] + raw["ceiling"]:
        groups.setdefault((r["client"], r["domain"], r["per_frame"]), []).append(r)
    for r in raw["parse"]:
        groups.setdefault(("parse-only", r["domain"], r["per_frame"]), []).append(r)
    by_round: dict[tuple[str, str, int, int], float] = {
        (
            r["client"] if "client" in r else "parse-only",
            r["domain"],
            r["per_frame"],
            r["round"],
        ): r["msgs_per_s"]
        for r in raw["tput"] + raw["ceiling"] + [dict(p, client="parse-only") for p in raw["parse"]]
    }
    for (client, domain, k), rows in sorted(groups.items()):
        rates = [r["msgs_per_s"] for r in rows]

        out["throughput"].append(
            {
                "client": client,
                "domain": domain,
                "per_frame": k,
                "median": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
                "rounds": len(rates),
                "x_baseline": _ratio(rows, by_round, "baseline", domain, k),
                "x_lseg": _ratio(rows, by_round, "lseg-data", domain, k),
                "of_parse_only": _ratio(rows, by_round, "parse-only", domain, k),
                "of_bare": _ratio(rows, by_round, "bare", domain, k),
                "x_main": _ratio(rows, by_round, main, domain, k),
                # the least share of a stream the sender spent waiting for this client to
                # read: near 1, the client set the pace; low, the sender did
                "sender_waited_min": min(
                    (
                        r["sender"]["blocked_share"]
                        for r in rows
                        if "blocked_share" in r.get("sender", {})
                    ),
                    default=None,
                ),
            }
        )
    for client, rate in sorted({(r["client"], r["rate"]) for r in raw["latency"]}):
        rows = [r for r in raw["latency"] if (r["client"], r["rate"]) == (client, rate)]
        row: dict[str, Any] = {"client": client, "rate": rate, "rounds": len(rows)}
        # The rounds' samples pooled (when every job gave its histogram): a tail from every
        # round's stalls together, rather than the median of rounds that had one or not.
        hists = [r["hist"] for r in rows if r.get("hist")]
        whole = pooled(hists) if len(hists) == len(rows) else {}
        for key in ("p50_us", "p99_us", "p999_us", "max_us"):
            vals = [r[key] for r in rows]
            row[key] = whole.get(key, statistics.median(vals))
            row[key + "_min"] = min(vals)
            row[key + "_max"] = max(vals)
        windows = [w for r in rows for w in r.get("p99_windows_us", [])]
        if windows:  # the typical sub-window's p99: what the client does between stalls
            row["p99_windows_median"] = statistics.median(windows)
        senders = [r["sender"] for r in rows if "sender" in r]
        if senders:
            row["sender_slips"] = sum(x.get("slips", 0) for x in senders)
            row["sender_slipped_ms"] = sum(x.get("slipped_ms", 0.0) for x in senders)
            row["sender_lag_p99_us"] = max(x.get("lag_us", {}).get("p99", 0.0) for x in senders)
            row["sender_rate_min"] = min(x.get("achieved_rate", 0.0) for x in senders)
        out["latency"].append(row)
    out["diagnostics"] = diagnostics(raw)
    out["in_process"] = raw.get("in_process") or {}  # for the targets of issue 25
    out["memory"] = [
        {
            k: r[k]
            for k in (
                "client",
                "items",
                "view",
                "bytes_per_item",
                "first_refresh_s",
                "all_refreshed_s",
                "start_to_first_refresh_s",
                "start_to_all_refreshed_s",
            )
        }
        for r in raw["memory"]
    ]
    return out


def diagnostics(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Per job of MarketPrice at 1 msg/frame and of the latency runs (the targets' jobs),
    what the client and the machine did during its stream (:class:`benchmarks.common.Probe`,
    ``perf stat``) and what the sender did: a reader can see why a round's figure differs."""
    out = []
    jobs = [  # parse-only among them: the machine's own speed in that block
        r
        for r in raw["tput"] + raw["ceiling"] + raw["parse"]
        if (r["domain"], r["per_frame"]) == ("MarketPrice", 1)
    ]
    for r in jobs + raw["latency"]:
        d = r.get("diag") or {}
        snd = r.get("sender") or {}
        cpus = d.get("cpus") or {}
        perf = d.get("perf") or {}
        n = r.get("received") or r.get("sent") or 0
        row: dict[str, Any] = {
            "round": r["round"],
            "client": r["client"],
            "rate": r.get("rate") or 0,
            "figure": r.get("msgs_per_s") or r.get("p99_us") or 0.0,
            # the slowest and fastest fifth of the window, over the whole window's rate
            "windows": [min(w) / r["msgs_per_s"], max(w) / r["msgs_per_s"]]
            if (w := r.get("rate_windows")) and r.get("msgs_per_s")
            else None,
            "cpu_us_per_msg": r.get("cpu_us_per_msg"),
            "msgs_per_read": perf.get("msgs_per_read"),
            "waits_per_1k": 1000 * perf["waits"] / n if n and "waits" in perf else None,
            "preempted_per_1k": 1000 * d["involuntary_cs"] / n
            if n and "involuntary_cs" in d
            else None,
            "steal_max": max((c["steal"] for c in cpus.values()), default=None),
            "busy_min": min((c["busy"] for c in cpus.values()), default=None),
            "loadavg": d.get("loadavg"),
            "gc": d.get("gc"),
            "sender_rate": snd.get("achieved_rate"),
            "sender_blocked": snd.get("blocked_share"),
            "sender_slips": snd.get("slips"),
            "sender_lag_p99_us": (snd.get("lag_us") or {}).get("p99"),
        }
        out.append(row)
    return out


def _ratio(
    rows: list[dict[str, Any]],
    by_round: dict[tuple[str, str, int, int], float],
    other: str,
    domain: str,
    k: int,
) -> float | None:
    """Median over rounds of (this row's rate / ``other``'s rate in the same round)."""
    vals = []
    for r in rows:
        o = by_round.get((other, domain, k, r["round"]))
        if o:
            vals.append(r["msgs_per_s"] / o)
    return statistics.median(vals) if vals else None


def _version() -> str:
    from ertcloud.version import __version__

    return __version__


def add_options(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks`` (and ``ertcloud bench``)."""
    p.add_argument(
        "--rounds",
        type=int,
        default=Settings.rounds,
        help="rounds at most: the first 3 of every job, later ones of the targets' jobs",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=Settings.minutes,
        help="minutes of rounds: after 3 full ones, rounds of the targets' jobs while they fit",
    )
    p.add_argument("--seconds", type=float, default=2.0, help="seconds of each stream")
    p.add_argument("--items", type=int, default=500, help="items streamed in throughput runs")
    p.add_argument("--mem-items", default="10000,100000", help="item counts of memory runs")
    p.add_argument("--no-lseg", action="store_true", help="leave the lseg-data column out")
    p.add_argument("--out", default="bench-results", help="folder for results.json and chart")
    p.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    p.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is not met")
    p.add_argument(
        "--no-perf", action="store_true", help="do not count reads and switches with perf stat"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the ertcloud client and simulator (see docs/performance.md).",
    )
    add_options(p)
    a = p.parse_args(argv)
    return run_args(a, p.error)


def run_args(a: argparse.Namespace, error: Any) -> int:
    """Run with parsed options; ``error(message)`` reports bad ones (and exits)."""
    try:
        mem_items = tuple(int(x) for x in a.mem_items.split(",") if x.strip())
    except ValueError:
        error("--mem-items takes comma-separated integers")
    if a.rounds < 1 or a.seconds <= 0 or a.items < 1 or any(n < 1 for n in mem_items):
        error("--rounds, --seconds, --items and --mem-items must be positive")
    if a.minutes <= 0:
        error("--minutes must be positive")
    s = Settings(
        rounds=a.rounds,
        min_rounds=min(a.rounds, Settings.min_rounds),
        minutes=a.minutes,
        perf=not a.no_perf,
        seconds=a.seconds,
        items=a.items,
        mem_items=mem_items,
        lseg=not a.no_lseg,
        out=Path(a.out),
        chart=not a.no_chart,
        quick=a.quick,
    )
    if a.quick:
        s.rounds, s.min_rounds, s.seconds, s.lat_seconds, s.items = 1, 1, 0.3, 0.3, 25
        s.mem_items = (1000,)
    doc = run(s)
    s.out.mkdir(parents=True, exist_ok=True)
    (s.out / "results.json").write_text(json.dumps(doc, indent=1))
    text = render(doc)
    sys.stdout.write(text + "\n")
    if s.chart:
        chart = write_chart(doc, s.out / "bench.png")
        if chart is not None:
            sys.stdout.write(f"chart: {chart}\n")
    sys.stdout.write(f"results: {s.out / 'results.json'}\n")
    unmet = [t for t in doc["targets"] if t["met"] is False]
    return 1 if a.check and unmet else 0


__all__ = ["TARGETS", "Settings", "add_options", "main", "run", "run_args", "summarise"]
