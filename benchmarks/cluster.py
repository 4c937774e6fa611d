"""``python -m benchmarks.cluster``: cluster workers on one machine.

Starts a three-node NATS JetStream cluster on loopback (R3 stream), ``ertcloud sim`` with
``--items`` items at ``--rate`` updates/s each, then 1, 2 and 4 workers in turn, and
reports for each: messages stored per second, the workers' CPU seconds per 1,000 messages,
and the latency of an Update from the simulator stamping it (``SimTs``, as its frame is
built) to an ``ertcloud subscribe --from`` consumer printing it (p50, p99), and of the
first hop alone (simulator to worker).
With 4 workers it then kills one (SIGKILL) and times until its items have new owners.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [
    str(ROOT / "tests"),
    str(ROOT / "tests" / "cluster"),
    str(ROOT / "scripts" / "services"),
]

from nats_cluster import NatsCluster  # noqa: E402

from ertcloud.cluster import parse_cluster_url  # noqa: E402
from ertcloud.cluster.connect import connect_nats  # noqa: E402
from ertcloud.cluster.lease import LeaseTable  # noqa: E402


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ertcloud", *args]


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _last_seq(url: str) -> int:
    cfg = parse_cluster_url(url)
    nc = await connect_nats(cfg)
    try:
        return int((await nc.jetstream().stream_info(cfg.stream)).state.last_seq)
    finally:
        await nc.close()


async def _owners(url: str) -> dict[str, str]:
    cfg = parse_cluster_url(url)
    nc = await connect_nats(cfg)
    try:
        t = LeaseTable(nc.jetstream(), cfg, "", 1)
        await t.open()
        return await t.owners()
    finally:
        await nc.close()


def _latency(url: str, n: int, timeout: float) -> tuple[list[float], list[float]]:
    """Seconds from the simulator's stamp to a ``subscribe --from`` consumer's line, and to
    the worker's receipt, of ``n`` Updates."""
    p = subprocess.Popen(
        _cmd("subscribe", "--from", url, "*", "--start", "now"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert p.stdout is not None
    e2e: list[float] = []
    hop: list[float] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break  # nothing printed within the time: what was measured so far
            line = p.stdout.readline()
            if not line:
                break
            now = time.time()
            m = json.loads(line)
            if m["kind"] == "Update" and m.get("sim_ts"):
                sent = m["sim_ts"] / 1e9
                e2e.append(now - sent)
                hop.append(m["ts"] - sent)
            if len(e2e) >= n:
                break
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stdout.close()
    if not e2e:
        raise RuntimeError("the consumer printed no stamped Update")
    return e2e, hop


def _ms(xs: list[float], q: float) -> float:
    return round(1000 * sorted(xs)[min(len(xs) - 1, int(q * len(xs)))], 2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="ertcloud-bench-cluster-"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rics = [f"B{i:05d}.SIM" for i in range(args.items)]
    (tmp / "items.txt").write_text("\n".join(rics))
    (tmp / "users.txt").write_text("".join(f"w{i}:pw\n" for i in range(1, 9)))
    results: dict[str, Any] = {"items": args.items, "rate": args.rate, "runs": []}
    with NatsCluster() as nats:
        sim = subprocess.Popen(
            _cmd("sim", "--port", "0", "--rate", str(args.rate), "--rics", ",".join(rics),
                 "--users-file", str(tmp / "users.txt"), "--stamp-updates"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        try:
            for k in args.workers:
                url = f"{nats.url}?group=b{k}&ttl={args.ttl:g}"
                procs = [
                    subprocess.Popen(
                        _cmd(
                            "record",
                            "--cluster",
                            url,
                            "--worker-name",
                            f"w{i}",
                            "--items-file",
                            str(tmp / "items.txt"),
                            "--progress-interval",
                            "0",
                            "--hostname",
                            "127.0.0.1",
                            "--port",
                            str(info["port"]),
                            "--auth_url",
                            info["token_url"],
                            "--user",
                            f"w{i}",
                            "--password",
                            "pw",
                            "--clientid",
                            "bench",
                        ),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for i in range(1, k + 1)
                ]
                try:
                    deadline = time.monotonic() + 60
                    while len(asyncio.run(_owners(url))) < args.items:
                        if time.monotonic() > deadline:
                            raise RuntimeError("workers did not take every item")
                        time.sleep(0.5)
                    time.sleep(2)
                    s0, c0, t0 = (
                        asyncio.run(_last_seq(url)),
                        sum(_cpu(p.pid) for p in procs),
                        time.monotonic(),
                    )
                    lat, hop = _latency(url, 2000, 60)
                    time.sleep(max(0.0, args.seconds - (time.monotonic() - t0)))
                    s1, c1, t1 = (
                        asyncio.run(_last_seq(url)),
                        sum(_cpu(p.pid) for p in procs),
                        time.monotonic(),
                    )
                    row: dict[str, Any] = {
                        "workers": k,
                        "msgs_per_s": round((s1 - s0) / (t1 - t0), 1),
                        "worker_cpu_s_per_1000": round(1000 * (c1 - c0) / max(1, s1 - s0), 3),
                        "latency_ms_p50": _ms(lat, 0.5),
                        "latency_ms_p99": _ms(lat, 0.99),
                        "sim_to_worker_ms_p50": _ms(hop, 0.5),
                    }
                    if k == max(args.workers):
                        gone = procs[-1]
                        held = {i for i, w in asyncio.run(_owners(url)).items() if w == f"w{k}"}
                        gone.send_signal(signal.SIGKILL)
                        gone.wait()
                        tk = time.monotonic()
                        while True:
                            o = asyncio.run(_owners(url))
                            if all(o.get(i) not in (None, f"w{k}") for i in held):
                                break
                            time.sleep(0.2)
                        row["handover_s"] = round(time.monotonic() - tk, 2)
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
                finally:
                    for p in procs:
                        if p.poll() is None:
                            p.send_signal(signal.SIGINT)
                    for p in procs:
                        try:
                            p.wait(15)
                        except subprocess.TimeoutExpired:
                            p.kill()
                            p.wait()
        finally:
            sim.send_signal(signal.SIGINT)
            sim.wait(15)
            sim.stdout.close()
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--rate", type=float, default=2.0, help="updates/s per item (2)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=15.0, help="measuring time per run")
    p.add_argument("--ttl", type=float, default=5.0, help="lease TTL, s (5)")
    args = p.parse_args()
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
