"""The README's worker-group section runs as written, in order: two ``record --cluster``
workers in the background, ``cluster status`` and ``subscribe --from``, each printing
what the README shows (the same header, columns and summary line; the same JSON keys).
The one substitution: the README's ``nats-server -js &`` on port 4222 is a throw-away
``nats-server -js`` on a port the kernel picked, and 4222 in the commands becomes its port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cli_forkserver
import pytest
from local_servers import NatsServer
from support import ROOT, cli_env, reap

HEADING = "## Several machines: a worker group on NATS JetStream"


def console() -> list[tuple[str, list[str]]]:
    """The section's ``console`` block: each ``$`` command with the lines it shows."""
    text = (ROOT / "README.md").read_text()
    start = text.index(HEADING)
    section = text[start : text.index("\n## ", start + 1)]
    (block,) = re.findall(r"```console\n(.*?)```", section, re.S)
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            out[-1][1].append(line)
    return out


@pytest.fixture
def nats_port() -> Iterator[str]:
    server = NatsServer()
    try:
        yield server.start().rsplit(":", 1)[1]
    finally:
        server.stop()


def test_readme_worker_group_runs_as_written(nats_port: str, tmp_path: Path) -> None:
    steps = console()
    assert steps[0] == ("nats-server -js &", [])  # the fixture's server
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in cli_env().items() if not k.startswith("ERTCLOUD_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # each ertcloud forked from the tests' fork server where it applies
    shim = cli_forkserver.shim(env) or f'#!/bin/sh\nexec "{sys.executable}" -m ertcloud "$@"\n'
    (bin_dir / "ertcloud").write_text(shim)
    (bin_dir / "ertcloud").chmod(0o755)
    background: list[subprocess.Popen[str]] = []

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    try:
        shown: dict[str, list[str]] = {}
        for command, lines in steps[1:]:
            command = command.replace("127.0.0.1:4222", f"127.0.0.1:{nats_port}")
            assert "nats://" not in command or f"nats://127.0.0.1:{nats_port}" in command
            if command.endswith(" &"):
                worker = subprocess.Popen(
                    ["bash", "-c", f"exec {command[:-2]}"], cwd=tmp_path, env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                )  # fmt: skip
                background.append(worker)
                continue
            words = command.split()
            what = " ".join(words[1:3])
            shown[what] = lines
            if what == "cluster status":
                deadline = time.monotonic() + 60
                while True:  # the workers join and share the leases in a few seconds
                    r = sh(command)
                    assert r.returncode == 0, r.stderr
                    # the first worker up takes every item until it hands the second its share
                    if " 2 worker(s), 3 leases " in r.stdout and balanced(r.stdout):
                        break
                    assert time.monotonic() < deadline, r.stdout
                    time.sleep(0.5)
                check_status(r.stdout, lines)
            else:
                assert what == "subscribe --from", command
                r = sh(command)
                assert r.returncode == 0, r.stderr
                check_subscribe(r.stdout, lines)
        assert set(shown) == {"cluster status", "subscribe --from"}
    finally:
        for p in background:
            p.send_signal(signal.SIGINT)
        errors = []
        for p in background:
            try:
                errors.append(p.communicate(timeout=20)[1])
            except subprocess.TimeoutExpired:
                reap(p)
                raise
    for p, err in zip(background, errors, strict=True):  # the workers stop on Ctrl+C
        assert p.returncode == 0, err
        assert re.search(r"worker w\d stopped: [1-9]\d* messages", err), err


def balanced(out: str) -> bool:
    """Every worker row of a status table holds a lease."""
    rows = out.splitlines()[1:-1]
    return bool(rows) and all(int(r.split()[2]) >= 1 for r in rows)


def check_status(out: str, readme: list[str]) -> None:
    header, *rows, summary = out.splitlines()
    assert header == readme[0]
    assert len(rows) == len(readme) - 2 == 2
    names = [r.split()[0] for r in rows]
    assert names == [r.split()[0] for r in readme[1:-1]] == ["w1", "w2"]
    leases = [int(r.split()[2]) for r in rows]
    assert sum(leases) == 3 and min(leases) >= 1, out
    for row, doc in zip(rows, readme[1:-1], strict=True):  # the same columns, aligned
        assert [m.end() for m in re.finditer(r"\S+", row)][2:] == [
            m.end() for m in re.finditer(r"\S+", doc)
        ][2:], (row, doc)
    pattern = re.sub(r"\d+", r"\\d+", re.escape(readme[-1]))
    assert re.fullmatch(pattern, summary), (summary, readme[-1])


def check_subscribe(out: str, readme: list[str]) -> None:
    got = [json.loads(line) for line in out.splitlines()]
    assert len(got) == len(readme) == 2
    for msg, doc in zip(got, readme, strict=True):
        keys = [*re.findall(r'"(\w+)": ', doc.split('"fields"')[0]), "fields"]
        assert list(msg) == keys, (msg, doc)
        assert msg["worker"] in ("w1", "w2") and msg["epoch"] >= 1
        assert msg["ric"] in ("TRI.N", "IBM.N", "EUR=") and msg["fields"]
    assert [m["seq"] for m in got] == [1, 2]
    # each item's first message is its Refresh (the README shows two items' Refreshes)
    assert got[0]["kind"] == "Refresh"
    assert got[1]["kind"] == ("Update" if got[1]["ric"] == got[0]["ric"] else "Refresh")
