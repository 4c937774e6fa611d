"""The everyday commands as subprocesses: subscribe, post, token (embedded simulator and
a separate ``ertcloud sim`` process)."""

from __future__ import annotations

import json
from typing import Any

from support import SimProcess, run_cli


def test_subscribe_jsonl_snapshot_with_view() -> None:
    r = run_cli(
        "subscribe", "TRI.N,IBM.N", "--snapshot", "--fields", "BID,ASK", "--format", "jsonl"
    )
    assert r.returncode == 0, r.stderr
    assert "embedded simulator" in r.stderr and "simulated" in r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    refreshes = [x for x in recs if x["event"] == "refresh"]
    assert {x["ric"] for x in refreshes} == {"TRI.N", "IBM.N"}
    for x in refreshes:
        assert set(x["fields"]) == {"BID", "ASK"}
        assert x["state"]["Stream"] == "NonStreaming"
    assert sum(x["event"] == "closed" for x in recs) == 2


def test_subscribe_table_counts_events() -> None:
    r = run_cli("subscribe", "EUR=", "--format", "table", "--count", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["time", "RIC", "event"]
    assert len(lines) == 4 and "REFRESH" in lines[1] and "UPDATE" in lines[2]


def test_subscribe_count_stops_within_a_frame() -> None:
    """Five Refreshes that come in one frame: ``--count 1`` prints the first only."""
    r = run_cli("subscribe", "TRI.N", "IBM.N", "EUR=", "JPY=", "T.N", "--count", "1",
                "--format", "jsonl")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1, r.stdout


def test_subscribe_pretty_against_a_sim_process(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli(
        "subscribe",
        "TRI.N",
        "--count",
        "2",
        "--url",
        sim.info["websocket_url"],
        "--auth_url",
        sim.info["token_url"],
        "--user",
        "demo",
        "--password",
        "demo",
        "--clientid",
        "t",
    )
    assert r.returncode == 0, r.stderr
    assert "embedded" not in r.stderr
    first, _ = json.JSONDecoder().raw_decode(r.stdout)
    assert first["Type"] == "Refresh" and first["Key"]["Name"] == "TRI.N"


def test_subscribe_unknown_item_fails() -> None:
    r = run_cli("subscribe", "BAD.RIC", "--format", "jsonl")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: cannot open BAD.RIC: **The record could not be found (NotFound)"
    )


def test_subscribe_wrong_password(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli(
        "subscribe",
        "TRI.N",
        "--url",
        sim.info["websocket_url"],
        "--auth_url",
        sim.info["token_url"],
        "--user",
        "demo",
        "--password",
        "bad",
        "--clientid",
        "t",
    )
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "Invalid username or password" in r.stderr


def test_post_on_stream_and_nack() -> None:
    ok = run_cli("post", "TRI.N", "--field", "BID=45.5", "--field", "ASK=45.6")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "posted to TRI.N: Ack 1"
    nack = run_cli("post", "NO.SUCH", "--off-stream", "--field", "BID=1")
    assert nack.returncode == 1
    assert "SymbolUnknown" in nack.stderr
    bad = run_cli("post", "TRI.N", "--field", "BID")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_token_is_redacted_unless_asked() -> None:
    r = run_cli("token")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout[r.stdout.index("{") :])
    assert body["access_token"] == "<redacted>" and body["expires_in"] == "300"
    shown = run_cli("token", "--show-secrets")
    body = json.loads(shown.stdout[shown.stdout.index("{") :])
    assert len(body["access_token"]) > 20


def test_credentials_from_environment(sim_process: Any) -> None:
    from support import cli_env

    sim: SimProcess = sim_process()
    env = cli_env(ERTCLOUD_USER="demo", ERTCLOUD_PASSWORD="demo", ERTCLOUD_CLIENT_ID="t")
    r = run_cli(
        "subscribe",
        "IBM.N",
        "--snapshot",
        "--format",
        "jsonl",
        "--url",
        sim.info["websocket_url"],
        "--auth_url",
        sim.info["token_url"],
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["ric"] == "IBM.N"


def test_discover_lists_and_selects_endpoints(sim_process: Any) -> None:
    embedded = run_cli("discover", "--region", "us-east-1", "--hotstandby")
    assert embedded.returncode == 0, embedded.stderr
    rows = embedded.stdout.splitlines()[1:]  # the header, then the endpoints
    assert [r.split()[2] for r in rows] == ["us-east-1a", "us-east-1b"]
    sim: SimProcess = sim_process("--endpoints", "2")
    r = run_cli(
        "discover", "--json",
        "--discovery_url", sim.info["discovery_url"], "--auth_url", sim.info["token_url"],
        "--user", "demo", "--password", "demo", "--clientid", "t",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    assert {s["transport"] for s in services} == {"websocket"}
    assert any(len(s["location"]) == 2 for s in services)
    bad = run_cli("discover", "--region", "xx-9")
    assert bad.returncode == 1
    assert (
        bad.stderr.strip().splitlines()[-1]  # after the note that the simulator answers
        == "ertcloud: error: The region: xx-9 is not present in list of endpoints"
    )
