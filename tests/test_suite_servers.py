"""The servers the test suite starts for itself: on kernel-picked ports, in temporary folders,
gone when stopped, and leaving nothing behind when they fail to start."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import pwd
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from local_servers import PG_SYSTEM_USER, NatsServer, PostgresServer
from support import ROOT


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (not reaped) still answers kill(0); its state letter says so
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_postgres_runs_on_a_picked_port_and_leaves_nothing() -> None:
    import psycopg

    server = PostgresServer()
    dsn = server.start()
    try:
        assert dsn.startswith("postgresql://ertcloud@127.0.0.1:") and server.port > 0
        with psycopg.connect(dsn, autocommit=True) as con:
            row = con.execute("SELECT current_setting('port'), current_user").fetchone()
        assert row == (str(server.port), "ertcloud")
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as an unprivileged user
            assert server.proc is not None
            owner = Path(f"/proc/{server.proc.pid}").stat().st_uid
            assert owner == pwd.getpwnam(PG_SYSTEM_USER).pw_uid != 0
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode is not None
    assert server.base is not None and not server.base.exists()


def test_nats_runs_jetstream_on_a_picked_port_and_leaves_nothing() -> None:
    import nats

    server = NatsServer()
    url = server.start()
    try:
        assert url.startswith("nats://127.0.0.1:") and not url.endswith(":4222")

        async def account_info() -> Any:
            nc = await nats.connect(url)
            try:
                return await nc.jetstream().account_info()
            finally:
                await nc.close()

        assert asyncio.run(account_info()) is not None  # JetStream is on
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode is not None
    assert server.base is not None and not server.base.exists()


def test_the_command_line_starts_and_stops_a_server(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "services" / "local_servers.py")
    start = subprocess.run(
        [sys.executable, script, "nats", "start", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    assert start.stdout.startswith("nats://127.0.0.1:")
    pid = int(json.loads((tmp_path / "server.json").read_text())["pid"])
    stop = subprocess.run(
        [sys.executable, script, "nats", "stop", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert stop.returncode == 0, stop.stderr
    assert _gone(pid) and not (tmp_path / "server.json").exists()


def test_a_simulator_that_cannot_start_leaks_no_pipe(
    sim_process: Callable[..., Any],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AssertionError, match="simulator did not start"):
            sim_process("--port", str(port))
    # Before the fix its pipes and process were left for the garbage collector, whose
    # ResourceWarnings then failed whichever test was running (filterwarnings = error).
    gc.collect()
