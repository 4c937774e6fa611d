"""Soak run: a single session and a hot-standby pair against a simulator that suffers a fault
every few seconds, for ten minutes (not in CI).

``python -m benchmarks.soak [--minutes 10] [--every 4]`` prints one line per fault and a
final verdict: every stream open, every record equal to the simulator's image, hot standby
without lost updates, memory flat (RSS growth after the first minute below ``--max-growth``
MiB), and no unexpected errors logged. Exit code 0 when all hold.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import sys
import time
from typing import Any

from benchmarks.faults import RICS, _healthy, _Watch, fault
from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.client.standby import HotStandby
from ertcloud.discovery import DiscoveryClient, select_endpoints
from ertcloud.sim.server import SimOptions, SimServer

#: (fault, how long it stays on before being cleared)
FAULTS = [
    (fault("drop"), 0.0),
    (fault("drop", endpoint=1), 0.0),
    (fault("stall", endpoint=2), 0.0),
    (fault("expire_tokens"), 0.0),
    (fault("revoke_tokens"), 0.0),
    (fault("close_login"), 0.0),
    (fault("closed_recover", rics=["TRI.N", "EUR="]), 0.0),
    (fault("refuse", endpoint=0), 3.0),
    (fault("refuse", endpoint=1), 3.0),
    (fault("gateway_error"), 2.0),
    (fault("gateway_slow", delay=1.0), 3.0),
    (fault("redirect"), 3.0),
    (fault("reject_refresh"), 3.0),
    (fault("no_pings"), 3.0),
    (fault("no_pongs"), 3.0),
    (fault("slow_consumer", interval=0.5), 3.0),
]


class _Errors(logging.Handler):
    """Counts log records at ERROR or above (warnings about faults are expected)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def rss_mib() -> float:
    """Current resident set size (Linux /proc), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def soak(minutes: float, every: float, seed: int, max_growth: float) -> int:
    rng = random.Random(seed)
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    opts = SimOptions(port=0, endpoints=3, token_ttl=20)
    opts.server.ping_timeout = 3
    opts.server.rate = 5.0
    async with SimServer(opts) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "soak")
        )
        dc = DiscoveryClient(sim.discovery_url)
        found = await dc.fetch((await tokens.get()).access_token)
        await dc.close()
        single = Session([e.url(False) for e in select_endpoints(found)], tokens=tokens)
        standby = HotStandby(
            [e.url(False) for e in select_endpoints(found, hotstandby=True)], tokens=tokens
        )
        watch = _Watch()
        standby.on_raw = watch.on_raw
        await single.start()
        await standby.start()
        sub1 = single.subscribe(RICS, queue=False, on_refresh=_noop)
        sub2 = standby.subscribe(
            RICS, queue=False, on_refresh=watch.on_merged, on_update=watch.on_merged
        )
        await asyncio.sleep(2)
        watch.counting = True
        start = time.monotonic()
        end = start + minutes * 60
        baseline: float | None = None
        samples: list[float] = []
        n = 0
        try:
            while time.monotonic() < end:
                act, hold = rng.choice(FAULTS)
                n += 1
                await act(sim)
                name = sim.faults.history[-1][1] if sim.faults.history else "?"
                await asyncio.sleep(hold or 0.1)
                await sim.faults.clear()
                await asyncio.sleep(max(0.0, every - hold))
                mem = rss_mib()
                samples.append(mem)
                if baseline is None and time.monotonic() - start > 60:
                    baseline = mem
                print(
                    f"{time.monotonic() - start:7.1f}s fault {n:3d} {name:<15} "
                    f"single {_healthy(list(sub1.records.values()))}/{len(RICS)} "
                    f"standby {_healthy(list(sub2.records.values()))}/{len(RICS)} "
                    f"recoveries {single.recoveries}/{standby.recoveries} rss {mem:.1f} MiB",
                    flush=True,
                )
            # Final check: settle, stop the market, compare.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (
                    _healthy(list(sub1.records.values()))
                    == _healthy(list(sub2.records.values()))
                    == len(RICS)
                ):
                    break
                await asyncio.sleep(0.2)
            sim.streaming.config.rate = 0
            await asyncio.sleep(1.0)
            verdict = _verdict(
                sim, sub1.records, sub2.records, watch, errors, samples, baseline, max_growth
            )
        finally:
            await single.close()
            await standby.close()
            await tokens.client.close()
    for line in verdict[1]:
        print(line)
    return 0 if verdict[0] else 1


def _verdict(
    sim: SimServer,
    single: dict[str, Any],
    merged: dict[str, Any],
    watch: _Watch,
    errors: _Errors,
    samples: list[float],
    baseline: float | None,
    max_growth: float,
) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = True
    for label, records in (("single", single), ("standby", merged)):
        open_ = _healthy(list(records.values()))
        equal = all(
            (inst := sim.market.get(name)) is not None and st.fields == inst.image
            for name, st in records.items()
        )
        lines.append(f"{label}: {open_}/{len(RICS)} streams open; images equal: {equal}")
        ok = ok and open_ == len(RICS) and equal
    lost = watch.lost()
    lines.append(f"standby: updates lost: {lost}")
    growth = (max(samples[-5:]) - baseline) if baseline is not None and samples else 0.0
    lines.append(f"memory: growth after the first minute {growth:.1f} MiB")
    lines.append(f"unexpected errors logged: {len(errors.records)}")
    lines.extend("  " + r for r in errors.records[:10])
    ok = ok and lost == 0 and growth < max_growth and not errors.records
    lines.append("SOAK OK" if ok else "SOAK FAILED")
    return ok, lines


def _noop(_: object) -> None:
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    p.add_argument("--every", type=float, default=4.0, help="seconds between faults (default 4)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fault sequence")
    p.add_argument("--max-growth", type=float, default=25.0, help="allowed RSS growth, MiB")
    p.add_argument(
        "--reliability",
        choices=("full", "quick", "off"),
        default="full",
        help="then run the reliability long form (fuzzing, faults, load; default full)",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    code = asyncio.run(soak(a.minutes, a.every, a.seed, a.max_growth))
    if a.reliability != "off":
        from . import reliability

        print("\n== reliability: inputs fuzzed, faults injected, connections held ==")
        code = reliability.main(["--quick"] if a.reliability == "quick" else []) or code
    return code


if __name__ == "__main__":
    sys.exit(main())
