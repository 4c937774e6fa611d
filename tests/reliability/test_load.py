"""Load and restart, short form (the long form is ``python -m benchmarks.load``)."""

from __future__ import annotations

import json
import subprocess
import sys

from support import ROOT, cli_env


def test_connections_hold_and_a_large_client_survives_a_restart() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--clients",
            "20",
            "--items",
            "200",
            "--duration",
            "2",
            "--restart-items",
            "5000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=cli_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    hold, restart = report["results"]
    assert hold["connections_seen_by_server"] == 20
    assert hold["streams_open_ok"] == 4000 and hold["reconnects"] == 0
    assert hold["protocol_violations"] == 0 and hold["verify_mismatches"] == 0
    assert restart["recovered"] and restart["all_rerequested"]
    assert restart["streams_open_ok"] == 5000 and restart["images_mismatched"] == 0
