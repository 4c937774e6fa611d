"""The README's "Getting the data out" runs as written, in order, in an empty folder:
record, replay, load, sync. Commands go through ``bash`` with ``ertcloud`` on PATH; the
replaying simulator binds a free port (``--port 0``) and the test passes its URLs to the
Python blocks in the environment, as the README tells a user to."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import cli_forkserver
import pytest
from support import ROOT, cli_env

from ertcloud.sinks.readback import read_recording


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Getting the data out")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), re.S)


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """An environment with an ``ertcloud`` command that runs this checkout's code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = cli_env()
    for k in list(env):
        if k.startswith("ERTCLOUD_"):
            del env[k]
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    # each ``ertcloud`` forked from the tests' fork server where it applies (a process of its
    # own all the same, with its exit code, signals, stdout and folder)
    shim = bin_dir / "ertcloud"
    forked = cli_forkserver.shim(env)
    shim.write_text(forked or f'#!/bin/sh\nexec "{sys.executable}" -m ertcloud "$@"\n')
    shim.chmod(0o755)
    return env


def _python(code: str, cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_getting_the_data_out_runs_as_written(tmp_path: Path, shell_env: dict[str, str]) -> None:
    work = tmp_path / "fresh"
    work.mkdir()
    (commands,) = [b for b in _blocks("sh") if "ertcloud record" in b]
    record, replay = [line for line in commands.splitlines() if line.strip()]
    assert record.startswith("ertcloud record ") and replay.startswith("ertcloud sim --replay ")
    load_block, sync_block = _blocks("python")

    # 1. record (the embedded simulator: no host, no credentials)
    r = subprocess.run(
        ["bash", "-c", record], cwd=work, env=shell_env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    recorded = read_recording(work / "ticks.db")
    assert {row.ric for row in recorded} == {"TRI.N", "EUR="}
    assert len(read_recording(work / "ticks")) == len(recorded)

    # 2. replay, as its own process on a free port
    sim = subprocess.Popen(
        ["bash", "-c", f"exec {replay}"], cwd=work, env=shell_env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # 3. load (while the simulator starts: it reads the files only)
        out = _python(load_block, work, shell_env)
        assert "TRI.N" in out and "EUR=" in out and "bid" in out

        assert sim.stdout is not None
        line = sim.stdout.readline()
        assert line, sim.communicate(timeout=10)[1]
        info = json.loads(line)
        assert info["port"] != 0

        # 4. sync, against the replaying simulator
        env = dict(
            shell_env, ERTCLOUD_URL=info["websocket_url"], ERTCLOUD_TOKEN_URL=info["token_url"]
        )
        out = _python(sync_block, work, env)
        rows = {
            ln.split()[0]: ln for ln in out.splitlines() if ln.split()[:1] in (["TRI.N"], ["EUR="])
        }
        assert set(rows) == {"TRI.N", "EUR="}, out
        assert all("Open/Ok" in ln for ln in rows.values()), out
        recorded_bids = {
            row.fields["BID"] for row in recorded if row.fields and "BID" in row.fields
        }
        assert any(str(b) in out for b in recorded_bids), out
        assert sim.poll() is None
    finally:
        if sim.poll() is None:
            sim.send_signal(signal.SIGINT)
        try:
            _, err = sim.communicate(timeout=15)
        finally:
            if sim.poll() is None:
                sim.kill()
                sim.communicate()
    assert sim.returncode == 0
    assert f"replaying {len(recorded)} messages of 2 items" in err


def test_the_board_command_runs_as_written(tmp_path: Path, shell_env: dict[str, str]) -> None:
    """In a terminal (a pseudo-terminal here) of 100 columns: the embedded simulator's
    prices, labelled SIMULATED, until ``q``."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    (block,) = [b for b in _blocks("sh") if "ertcloud board" in b]
    (command,) = [ln for ln in block.splitlines() if ln.strip()]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(shell_env, TERM="xterm-256color")
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], cwd=tmp_path, env=env,
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        wanted = (b"SIMULATED", b"TRI.N", b"JPY=", b"Status", b"Ok")
        while not all(w in seen for w in wanted):
            assert time.monotonic() < deadline, seen[-2000:]
            assert proc.poll() is None, seen[-2000:]
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
        os.write(master, b"q")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
