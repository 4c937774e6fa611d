"""``ertcloud record`` end to end: the real command, the real simulator, real sinks."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ertcloud.client.transport import pick_transport
from ertcloud.sinks import make_sink

from .cli import cli_env, run_cli, start_cli


def _rows(spec: str) -> list[dict[str, object]]:
    s = make_sink(spec)
    s.open()
    try:
        return [r.as_dict() for r in s.read_rows()]
    finally:
        s.close()


def wait_for_stderr(proc: subprocess.Popen[str], pattern: str, timeout: float = 30) -> str:
    """Read the process's stderr until ``pattern`` (a regex) matches; returns the text."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if re.search(pattern, seen.decode()):
                return seen.decode()
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{pattern!r} not seen on stderr:\n{seen.decode()[-3000:]}")


def test_records_the_embedded_simulator_to_two_sinks(tmp_path: Path) -> None:
    db, jl = tmp_path / "ticks.db", tmp_path / "ticks.jsonl"
    r = run_cli(
        "record", "TRI.N", "--ric", "EUR=,IBM.N", "--to", str(db), "--to", f"jsonl:{jl}",
        "--duration", "3", "--progress-interval", "1",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "SIMULATED" in r.stderr and "embedded simulator" in r.stderr
    assert re.search(r"items 3/3, [0-9.]+ updates/s, \d+ rows written", r.stderr), r.stderr
    assert r.stdout == ""
    a, b = _rows(f"duckdb:{db}"), _rows(f"jsonl:{jl}")
    assert a == b
    assert {x["ric"] for x in a} == {"TRI.N", "EUR=", "IBM.N"}
    assert [x["seq"] for x in a] == list(range(1, len(a) + 1))
    assert sum(1 for x in a if x["kind"] == "Refresh") == 3
    assert sum(1 for x in a if x["kind"] == "Update") >= 3
    import duckdb  # here: every xdist worker collects this module, few run it

    con = duckdb.connect(str(db), read_only=True)
    quotes = con.execute("SELECT count(*) FROM quotes").fetchone()
    con.close()
    assert quotes is not None and quotes[0] >= 3


@pytest.mark.parametrize("transport", ["auto", "aiohttp"])
def test_transport_option_picks_the_websocket_library(tmp_path: Path, transport: str) -> None:
    """``--transport`` (default auto: picows where installed) names what the session uses,
    said at INFO level on connecting."""
    jl = tmp_path / "ticks.jsonl"
    args = ["record", "TRI.N", "--to", f"jsonl:{jl}", "--duration", "1", "-v"]
    r = run_cli(*args, *(("--transport", transport) if transport != "auto" else ()))
    assert r.returncode == 0, r.stderr
    used = pick_transport(transport)
    assert re.search(rf"connected to ws://\S+ over {used}$", r.stderr, re.M), r.stderr
    assert _rows(f"jsonl:{jl}")


def test_rerun_appends_with_increasing_seq(tmp_path: Path) -> None:
    csv = tmp_path / "ticks.csv"
    for _ in range(2):
        r = run_cli("record", "TRI.N", "--to", f"csv:{csv}", "--duration", "1.5")
        assert r.returncode == 0, r.stderr
    rows = _rows(f"csv:{csv}")
    assert [x["seq"] for x in rows] == list(range(1, len(rows) + 1))
    assert sum(1 for x in rows if x["kind"] == "Refresh") == 2
    assert "from seq 1" not in r.stderr  # the second run said where it resumed


def test_sigterm_flushes_and_exits_0(tmp_path: Path) -> None:
    jl = tmp_path / "t.jsonl"
    proc = start_cli(
        "record", "TRI.N", "EUR=", "--to", f"jsonl:{jl}", "--progress-interval", "0.5",
        "--flush-interval", "30",
    )  # fmt: skip
    try:
        wait_for_stderr(proc, r"items 2/2, [0-9.]+ updates/s, [1-9]\d* rows")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    last = int(re.findall(r"last seq (\d+)", err)[-1])
    rows = _rows(f"jsonl:{jl}")
    assert len(rows) == last and last >= 3


def test_config_file_health_and_metrics(tmp_path: Path) -> None:
    db = tmp_path / "svc.duckdb"
    cfg = tmp_path / "record.toml"
    cfg.write_text(
        f"""
rics = ["TRI.N", "EUR="]
to = ["duckdb:{db}"]

[recording]
metrics-port = 0
progress_interval = 0
"""
    )
    proc = start_cli("record", "--config", str(cfg))
    try:
        text = wait_for_stderr(proc, r"metrics at (http://\S+)/metrics")
        base = re.search(r"metrics at (http://\S+)/metrics", text).group(1)  # type: ignore[union-attr]
        assert base.startswith("http://127.0.0.1:")  # loopback by default
        deadline = time.monotonic() + 30
        health = requests.get(base + "/health", timeout=10)
        while time.monotonic() < deadline:
            health = requests.get(base + "/health", timeout=10)
            if health.status_code == 200 and health.json()["rows_written"] > 2:
                break
            time.sleep(0.2)
        assert health.status_code == 200, health.text
        h = health.json()
        assert h["status"] == "ok" and h["connected"] is True and h["items"] == 2
        m = requests.get(base + "/metrics", timeout=10)
        assert m.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'ertcloud_record_messages_total{type="Refresh"} 2' in m.text
        assert "ertcloud_record_connected 1" in m.text
        written = re.search(
            r'ertcloud_record_rows_written_total\{sink="duckdb:[^"]+"\} (\d+)', m.text
        )
        assert written is not None and int(written.group(1)) > 2
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert len(_rows(f"duckdb:{db}")) >= 3


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        ("record", "TRI.N", "--to", "kafka://x"),
        ("record", "--to", str(tmp_path / "x.db")),
        ("record", "TRI.N", "--hostname", "example.invalid", "--to", str(tmp_path / "x.db")),
        ("record", "--config", str(tmp_path / "missing.toml")),
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text("rics = ['A']\nno_such_option = 1\n")
    cases.append(("record", "--config", str(bad)))
    for args in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("ertcloud: error: ") and r.stderr.count("\n") == 1, r.stderr
    r = run_cli("record", "TRI.N", "--password", "hunter2", "--user", "u", "--to", "x.db")
    assert "hunter2" not in r.stderr


def test_password_from_environment_is_used_and_never_printed(tmp_path: Path) -> None:
    r = run_cli(
        "record", "TRI.N", "--to", str(tmp_path / "a.db"), "--hostname", "127.0.0.1",
        "--port", "1", "--user", "bob", "--clientid", "app",
        "--auth_url", "http://127.0.0.1:1/auth/oauth2/v1/token", "--token-timeout", "2",
        env=cli_env(ERTCLOUD_PASSWORD="s3cret-pw"),
    )  # fmt: skip
    # the password came from the environment (no "required options" error), the token
    # endpoint is unreachable: exit 1 with one line, and the password is nowhere
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("ertcloud: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "s3cret-pw" not in r.stderr + r.stdout


def test_the_shipped_config_file_is_valid() -> None:
    import argparse

    from ertcloud.cli import build_parser
    from ertcloud.cli.record import apply_config

    parser = build_parser()
    args = parser.parse_args(["record", "--to", "jsonl:x.jsonl"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        "record"
    ]
    cfg = Path(__file__).resolve().parents[2] / "deploy" / "record.toml"
    apply_config(args, sub, str(cfg))
    assert args.rics == ["TRI.N", "IBM.N", "EUR=", "JPY="]
    assert args.to == ["jsonl:x.jsonl"]  # the command line wins
    assert args.metrics_port == 9108 and args.metrics_host == "127.0.0.1"
    assert args.port == "443" and args.user.startswith("GE-A-")
