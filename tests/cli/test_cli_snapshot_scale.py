"""``subscribe --snapshot`` of 10,000 items returns every item exactly once, with progress
lines on stderr (it was quadratic: 2,000 items took 33 s). Its speed is measured by
``benchmarks/cli_startup.py``, not asserted here."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from support import SimProcess, run_cli

pytestmark = pytest.mark.timeout(180)

N = 10_000


def test_snapshot_of_10k_items(sim_process: Any) -> None:
    rics = [f"R{i}.N" for i in range(N)]
    sim: SimProcess = sim_process("--ric", ",".join(rics))
    r = run_cli(
        "subscribe", ",".join(rics), "--snapshot", "--format", "jsonl",
        "--url", sim.info["websocket_url"], "--auth-url", sim.info["token_url"],
        "--user", "demo", "--password", "demo", "--client-id", "scale",
        timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    records = [json.loads(line) for line in r.stdout.splitlines()]
    refreshed = Counter(rec["ric"] for rec in records if rec["event"] == "refresh")
    assert set(refreshed) == set(rics)
    assert set(refreshed.values()) == {1}  # every item exactly once
    m = re.search(rf"ertcloud: snapshots {N}/{N} in ([\d.]+) s", r.stderr)
    assert m is not None, r.stderr[-2000:]
