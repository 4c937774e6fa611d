"""Whole-command timings of the command line: ``ertcloud --version`` start-up and
``subscribe --snapshot`` of 1,000 and 10,000 RICs against a simulator subprocess.

    python -m benchmarks.cli_startup [--runs 5] [--sizes 1000,10000]

Prints the median wall time of ``--runs`` runs of each, and each as a multiple of the
``--version`` start-up. Bytecode is cached (in a temporary folder) as for an installed
package, and one untimed run warms it first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _env(pycache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _median(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the bytecode cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    p.add_argument("--sizes", default="1000,10000", help="snapshot sizes (RICs)")
    a = p.parse_args(argv)
    sizes = [int(x) for x in a.sizes.split(",")]
    ertcloud = [sys.executable, "-m", "ertcloud"]
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(tmp)
        version = _median([*ertcloud, "--version"], a.runs, env)
        print(f"ertcloud --version: {version:.3f} s (median of {a.runs})")
        rics = [f"R{i}.N" for i in range(max(sizes))]
        sim = subprocess.Popen(
            [*ertcloud, "sim", "--port", "0", "--ric", ",".join(rics)],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert sim.stdout is not None
            info = json.loads(sim.stdout.readline())
            for n in sizes:
                cmd = [
                    *ertcloud, "subscribe", ",".join(rics[:n]), "--snapshot",
                    "--format", "jsonl", "--url", info["websocket_url"],
                    "--auth-url", info["token_url"], "--user", "demo", "--password", "demo",
                    "--client-id", "bench",
                ]  # fmt: skip
                took = _median(cmd, a.runs, env)
                print(
                    f"subscribe --snapshot {n:>6} RICs: {took:.3f} s "
                    f"(median of {a.runs}; {took / version:.1f}x --version)"
                )
        finally:
            sim.terminate()
            sim.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
