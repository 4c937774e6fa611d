"""``ertcloud record`` with a sink it cannot open fails at once with one line, creates
nothing, and ``/health`` tells a silent stream from a live one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests
from support import SimProcess, cli_env, run_cli

from .sinks_helpers import StderrReader, start_record, stop_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def startup() -> float:
    """What a ``record`` that fails on its options costs (interpreter and imports): the
    machine's share of the time, which the sink's own failure adds to."""
    t0 = time.monotonic()
    r = run_cli("record", "TRI.N", "--batch-size", "0")
    assert r.returncode == 2, r.stderr
    return time.monotonic() - t0


@pytest.mark.parametrize(
    "spec",
    [
        "jsonl:{tmp}/no/such/dir/x.jsonl",
        "csv:{tmp}/no/such/dir/x.csv",
        "{tmp}/no/such/dir/x.duckdb",
        "parquet:{tmp}/no/such/dir",
        "nats://127.0.0.1:1",
        "nats://127.0.0.1:{port}",
        "postgresql://ertcloud@127.0.0.1:{port}/postgres",
    ],
)
def test_a_sink_that_cannot_open_fails_fast_with_one_line(
    spec: str, tmp_path: Path, startup: float
) -> None:
    spec = spec.format(tmp=tmp_path, port=_free_port())
    t0 = time.monotonic()
    r = run_cli("record", "TRI.N", "--to", f"jsonl:{tmp_path / 'ok.jsonl'}", "--to", spec)
    took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("ertcloud: error: cannot open sink "), r.stderr
    assert took - startup < 5, (took, startup)
    assert not (tmp_path / "no").exists()  # a typo creates no folder tree
    # the sink that could be opened was closed again, and nothing was recorded
    ok = tmp_path / "ok.jsonl"
    assert not ok.exists() or ok.read_text() == ""


def test_health_turns_unhealthy_when_the_stream_is_silent(
    sim_process: object, tmp_path: Path
) -> None:
    sim: SimProcess = sim_process("--rate", "0")  # type: ignore[operator]  # refreshes only
    proc = start_record(
        "TRI.N", *sim.client_args("--tls", "off"), "--to", f"jsonl:{tmp_path / 'x.jsonl'}",
        "--metrics-port", "0", "--max-silence", "3", "--progress-interval", "0",
        env=cli_env(XDG_CONFIG_HOME=str(tmp_path / "none")),
    )  # fmt: skip
    err = StderrReader(proc)
    seen: list[tuple[int, dict[str, object]]] = []
    try:
        base = err.wait_for(r"metrics at (http://\S+)/metrics").group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h = requests.get(base + "/health", timeout=10)
            body = h.json()
            if body["messages"]:
                seen.append((h.status_code, body))
                if h.status_code == 503:
                    break
            time.sleep(0.1)
    finally:
        stop_process(proc)
    codes = [c for c, _ in seen]
    assert codes[0] == 200, seen[:3]  # the Refresh has just come: healthy
    assert codes[-1] == 503, seen[-3:]
    last = seen[-1][1]
    assert last["connected"] is True and last["status"] == "degraded"
    reasons = last["reasons"]
    assert isinstance(reasons, list) and any("no message for" in x for x in reasons), last
    silent = last["seconds_since_last_message"]
    assert isinstance(silent, float) and 3 <= silent < 30  # over 3 s, rounded to the ms


def test_a_missing_spill_folder_is_refused_up_front(tmp_path: Path) -> None:
    r = run_cli(
        "record", "TRI.N", "--to", f"jsonl:{tmp_path / 'x.jsonl'}",
        "--spill-dir", str(tmp_path / "nope"),
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"ertcloud: error: --spill-dir {tmp_path / 'nope'}: no such folder\n"


def test_a_port_that_is_not_nats_fails_fast_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        r = run_cli("record", "TRI.N", "--to", f"nats://127.0.0.1:{port}")
        took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"ertcloud: error: cannot open sink nats://127.0.0.1:{port}: 127.0.0.1:{port} "
        "is not a NATS server (no INFO greeting)\n"
    )
    assert took < 10, took
