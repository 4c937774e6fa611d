"""``ertcloud demo`` reads well: one line per message by default (the vendor JSON with
``--format vendor``), and it ends with a summary that matches what it printed and three
commands to try next, each one a valid command line."""

from __future__ import annotations

import re
import shlex
import subprocess

from support import run_cli

from ertcloud.cli import build_parser
from ertcloud.cli.demo import NEXT_COMMANDS


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("demo", *args)


def test_demo_prints_lines_then_a_summary_and_what_next() -> None:
    r = _demo("--duration", "3", "--ric", "TRI.N", "--ric", "EUR=")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "SIMULATED" in out.splitlines()[0]
    assert "RECEIVED" not in out and "{" not in out  # no JSON dump
    updates = re.findall(r"^<- (TRI\.N|EUR=)  Update  \w+  ", out, re.M)
    refreshes = re.findall(r"^<- (TRI\.N|EUR=)  Refresh  Open/Ok  BID ", out, re.M)
    assert sorted(refreshes) == ["EUR=", "TRI.N"] and len(updates) >= 2
    m = re.search(r"^--- ertcloud demo: 2 items, 2 Refreshes, (\d+) Updates in [\d.]+ s", out, re.M)
    assert m is not None, out
    assert int(m.group(1)) == len(updates)
    tail = out[m.start() :]
    assert "Next, try:" in tail
    for command, _ in NEXT_COMMANDS:
        assert command in tail
    assert len(out.splitlines()) < 80  # a summary, not 730 lines of JSON


def test_the_next_commands_are_valid_command_lines() -> None:
    parser = build_parser()
    for command, _ in NEXT_COMMANDS:
        argv = shlex.split(command)
        assert argv[0] == "ertcloud"
        args = parser.parse_args(argv[1:])
        assert callable(args.func)


def test_demo_keeps_the_vendor_format_and_refuses_others() -> None:
    bad = _demo("--format", "xml", "--duration", "1")
    assert bad.returncode == 2 and bad.stderr.startswith("ertcloud: error: --format")
