"""``subscribe`` says on stderr when the connection drops and when it is back."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
import urllib.request
from typing import Any

import pytest
from support import SimProcess, start_cli, wait_for_output

pytestmark = pytest.mark.timeout(90)


def _stderr_until(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    assert proc.stderr is not None
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + timeout
    while needle.encode() not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    assert needle.encode() in seen, seen.decode()
    return seen.decode()


def test_drop_and_recovery_are_said_on_stderr(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    proc = start_cli(
        "subscribe", "TRI.N", "--format", "jsonl", "--url", sim.info["websocket_url"],
        "--auth-url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--client-id", "notice",
    )  # fmt: skip
    try:
        wait_for_output(proc, '"event":"refresh"')
        req = urllib.request.Request(
            sim.info["faults_url"],
            data=json.dumps({"fault": "drop"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        err = _stderr_until(proc, "ertcloud: reconnected to ")
        lost = [line for line in err.splitlines() if line.startswith("ertcloud: connection lost")]
        assert len(lost) == 1, err
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
