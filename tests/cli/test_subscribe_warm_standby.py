"""``ertcloud subscribe --warmstandby``: two sessions, one active server streaming; the
standby server takes over when the active one's process is killed."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from support import SimProcess, reap, run_cli, start_cli, wait_for_output


def test_embedded_warm_standby_names_the_active_server() -> None:
    r = run_cli("subscribe", "TRI.N", "--warmstandby", "--format", "jsonl", "--count", "6")
    assert r.returncode == 0, r.stderr
    assert "warm standby on two of its endpoints" in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if "active server" in x]
    assert line.startswith("ertcloud: warm standby: active server ws://127.0.0.1:")
    assert line.endswith("(at start)")
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert [rec["event"] for rec in recs] == ["refresh"] + ["update"] * 5
    seqs = [rec["seq"] for rec in recs[1:]]
    assert seqs == sorted(set(seqs))


@pytest.mark.serial
def test_killing_the_active_server_hands_over_to_the_standby(sim_process: Any) -> None:
    flags = ("--support-standby", "--key-from-seed", "--rate", "10")
    first: SimProcess = sim_process(*flags)
    second: SimProcess = sim_process(*flags)
    proc = start_cli(
        "subscribe", "TRI.N", "--warm-standby",
        "--url", first.info["websocket_url"], "--standby-url", second.info["websocket_url"],
        "--auth-url", first.info["token_url"], "--user", "demo", "--password", "demo",
        "--clientid", "test-app",
        "--format", "jsonl",
    )  # fmt: skip
    try:
        wait_for_output(proc, '"event":"update"', 20)
        first.proc.kill()
        first.proc.wait()
        # the standby's unsolicited image, then its Updates
        after = wait_for_output(proc, '"event":"refresh"', 20)
        after += wait_for_output(proc, '"event":"update"', 20)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        reap(proc)
    assert proc.returncode in (0, 130), err
    active = [x for x in err.splitlines() if "active server" in x]
    assert active == [
        f"ertcloud: warm standby: active server {first.info['websocket_url']} (at start)",
        f"ertcloud: warm standby: active server {second.info['websocket_url']} "
        "(the active one was lost)",
    ]
    recs = [json.loads(x) for x in (after + out).splitlines() if x.strip()]
    kinds = [rec["event"] for rec in recs]
    assert "update" in kinds[kinds.index("refresh") + 1 :]


def test_warm_standby_option_errors() -> None:
    r = run_cli("subscribe", "TRI.N", "--warmstandby", "--hotstandby")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: --hotstandby and --warmstandby exclude each other"
    )
    r = run_cli("subscribe", "TRI.N", "--warmstandby", "--url", "ws://127.0.0.1:1/WebSocket")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: --warmstandby needs --standby-url, the second endpoint"
    )
    r = run_cli("subscribe", "TRI.N", "--warmstandby", "--snapshot")
    assert r.returncode == 2 and "no use for --warmstandby" in r.stderr
