"""Running ``ertcloud`` as a subprocess (kept here so these tests do not depend on which
``conftest`` module Python happens to have imported under that name)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cli_forkserver
from support import reap


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def ertcloud_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ertcloud", *args]


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = cli_forkserver.run(list(args), env or cli_env(), timeout)
    if done is not None:  # forked from a process with the package imported
        return done
    return subprocess.run(
        ertcloud_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env or cli_env()
    )


def start_cli(*args: str) -> subprocess.Popen[str]:
    forked = cli_forkserver.start(list(args), cli_env())
    if forked is not None:
        return forked
    return subprocess.Popen(
        ertcloud_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )


def record_until(sim: Any, out: Path, rics: Sequence[str], rows: int, timeout: float) -> None:
    """``record RICS`` from ``sim`` (a ``SimProcess``) to the JSON lines file ``out`` until
    it holds ``rows`` rows (flushed every 0.2 s), then Ctrl+C, which must end it with 0."""
    proc = start_cli(
        "record", *rics, "--to", f"jsonl:{out}", "--flush-interval", "0.2",
        *sim.client_args("--tls", "off"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not (out.exists() and len(out.read_text().splitlines()) >= rows):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, f"fewer than {rows} rows in {timeout} s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        reap(proc)
