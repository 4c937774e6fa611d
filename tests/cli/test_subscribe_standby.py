"""``ertcloud subscribe --hotstandby``: two sessions on two endpoints of a simulator, one
de-duplicated stream of events on stdout, which goes on when one endpoint drops."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from support import SimProcess, reap, run_cli, start_cli, wait_for_output


def health(sim: SimProcess) -> dict[str, Any]:
    url = sim.info["token_url"].split("/auth/", 1)[0] + "/health"
    with urllib.request.urlopen(url, timeout=5) as r:
        result: dict[str, Any] = json.load(r)
    return result


def post_fault(sim: SimProcess, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        sim.info["faults_url"],
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def updates(lines: list[dict[str, Any]]) -> list[int]:
    return [rec["seq"] for rec in lines if rec["event"] == "update"]


def test_embedded_hot_standby_shows_each_update_once() -> None:
    r = run_cli("subscribe", "TRI.N", "--hotstandby", "--format", "jsonl", "--count", "8")
    assert r.returncode == 0, r.stderr
    assert "hot standby on two of its endpoints" in r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 8 and recs[0]["event"] == "refresh"
    seqs = updates(recs)
    assert len(seqs) == 7 and seqs == sorted(set(seqs))  # each once, in order


def test_hot_standby_goes_on_when_one_endpoint_drops(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "2", "--rate", "20")
    first, second = sim.info["websocket_urls"]
    proc = start_cli(
        "subscribe", "TRI.N", "--url", first, "--standby-url", second,
        "--auth_url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--clientid", "test-app", "--format", "jsonl", "--duration", "3.5",
    )  # fmt: skip
    try:
        before = wait_for_output(proc, '"event":"update"', 15)
        assert health(sim)["endpoints"] == {"0": 1, "1": 1}  # one session on each
        post_fault(sim, {"fault": "drop", "endpoint": 0})
        dropped_at = time.time()
        out, err = proc.communicate(timeout=20)
    finally:
        reap(proc)
    assert proc.returncode == 0, err
    recs = [json.loads(line) for line in (before + out).splitlines() if line]
    seqs = updates(recs)
    assert seqs == sorted(set(seqs))  # no repeat, none out of order, across the drop
    after = [rec for rec in recs if rec["event"] == "update" and rec["ts"] > dropped_at + 0.5]
    assert len(after) >= 5  # the standby carried on while the first endpoint recovered
    assert [rec["event"] for rec in recs].count("refresh") <= 2


def test_standby_url_needs_a_first_endpoint_and_a_ws_url() -> None:
    r = run_cli("subscribe", "TRI.N", "--standby-url", "ws://127.0.0.1:1/WebSocket")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: --standby-url needs --url or --hostname (the first endpoint)"
    )
    r = run_cli("subscribe", "TRI.N", "--url", "ws://a:1/WebSocket", "--standby-url", "http://b")
    assert r.returncode == 2 and "--standby-url must be a ws:// or wss:// URL" in r.stderr
    r = run_cli("subscribe", "TRI.N", "--hotstandby", "--snapshot")
    assert r.returncode == 2 and "no use for --hotstandby" in r.stderr
