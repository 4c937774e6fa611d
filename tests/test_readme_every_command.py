"""Every shell command of the README runs as written, each section in a fresh
temporary folder: the Quick tour, Everyday commands, Discovery and Trader features blocks
are read from README.md here, so an edit that breaks a command fails this test.

Commands go through ``bash`` with ``ertcloud`` (and, for the Quick tour, ``.venv/bin/ertcloud``
in the folder) running this checkout. The one substitution: the README's port ``8443`` of
``ertcloud sim --port 8443`` and of the commands that use it becomes a free port picked at
run time, so a simulator a user runs on 8443 does not disturb the test. A command that runs
until Ctrl+C (a simulator, a subscription, a recording with a long ``--duration``) is
started, checked for its expected output, stopped with SIGINT and its exit code checked;
a simulator stays up until its section's other commands are done. Sections run side by
side, and so do the commands of a section, except where one needs another: a simulator is
up before the commands after it start, and the plot starts once the recording it reads is
done (most commands wait on market data, news or a bar to close, not on the processor).
Run elsewhere: "Getting the data out" and the board (``tests/test_readme_commands.py``).
Not run: ``make demo``/``make test`` (a new venv from the network; the whole suite) and
the Performance block (an install from the network; a benchmark of several minutes)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import cli_forkserver
import pytest
from support import ROOT, cli_env, messages, printed

from ertcloud.sinks.readback import read_recording

pytestmark = pytest.mark.timeout(240)

README_PORT = "8443"
#: sections whose commands another test runs, or that are not run (see the docstring)
ELSEWHERE = {"Getting the data out"}
NOT_RUN = {"ertcloud", "Performance"}


def sections() -> dict[str, list[str]]:
    """The README's ``sh`` blocks as commands (continuation lines joined), by heading."""
    out: dict[str, list[str]] = {}
    heading = ""
    for part in re.split(
        r"(^```sh\n.*?^```$)", (ROOT / "README.md").read_text(), flags=re.S | re.M
    ):
        if part.startswith("```sh\n"):
            body = part[len("```sh\n") : -3].replace("\\\n", " ")
            out.setdefault(heading, []).extend(ln for ln in body.splitlines() if ln.strip())
        else:
            titles = re.findall(r"^#+ (.+)$", part, re.M)
            heading = titles[-1].strip() if titles else heading
    return out


@dataclass
class Ran:
    """A command's output, exit code and folder."""

    command: str
    cwd: Path
    out: str = ""
    err: str = ""
    code: int | None = None


class Background:
    """A command run as a process whose output is read as it comes."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.ran = Ran(command, cwd)
        self.proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self._chunks: dict[str, list[bytes]] = {"out": [], "err": []}
        self._readers = [
            threading.Thread(target=self._read, args=(name, pipe), daemon=True)
            for name, pipe in (("out", self.proc.stdout), ("err", self.proc.stderr))
        ]
        for t in self._readers:
            t.start()

    def _read(self, name: str, pipe: IO[bytes]) -> None:
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            self._chunks[name].append(chunk)

    def text(self, name: str) -> str:
        return b"".join(self._chunks[name]).decode(errors="replace")

    def wait_for(self, pattern: str, count: int, on: str, timeout: float = 90) -> None:
        """Read until ``pattern`` (a regex, multi-line) is ``count`` times in the output."""
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text(on), re.M)) < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                time.sleep(0.2)  # what is left in the pipes
                raise AssertionError(
                    f"{self.ran.command!r}: {pattern!r} not seen (exit {self.proc.poll()})\n"
                    f"stdout: {self.text('out')[-2000:]}\nstderr: {self.text('err')[-2000:]}"
                )
            time.sleep(0.1)

    def interrupt(self) -> Ran:
        """Ctrl+C; the output and exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.close()
        return self.ran

    def close(self) -> None:
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._readers:
            t.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self.ran.out, self.ran.err, self.ran.code = (
            self.text("out"),
            self.text("err"),
            self.proc.returncode,
        )


@dataclass
class Expect:
    """What a README command (matched by ``pattern``) must do. ``until``: it runs until
    Ctrl+C, which is sent once this regex is ``count`` times in its stdout (``on="err"``:
    stderr);
    ``serve``: it stays up until its section is done. ``after``: it starts once the
    command matching this regex is done. ``check`` sees the result."""

    pattern: str
    check: Callable[[Ran], None]
    until: str | None = None
    count: int = 1
    on: str = "out"
    serve: bool = False
    after: str | None = None


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


def check_sim(r: Ran) -> None:
    info = json.loads(r.out.splitlines()[0])
    assert info["port"] == int(r.command.split("--port ")[1].split()[0])
    assert info["token_url"].endswith("/auth/oauth2/v1/token"), info


def check_quick_tour(r: Ran) -> None:
    out = r.out
    assert "Sending authentication request with password to http://127.0.0.1:" in out
    assert "WebSocket successfully connected!" in out
    # what market-price printed after SENT...: and RECEIVED...:
    sent, received = messages(out, r"SENT[^\n]*:\s*"), messages(out, r"RECEIVED[^\n]*:\s*")
    assert (
        sent[0]["Domain"] == "Login"
        and sent[0]["Key"]["Elements"]["AuthenticationToken"] == "<redacted>"
    )
    refreshed = {
        m["Key"]["Name"] for m in received if m["Type"] == "Refresh" and m.get("Domain") != "Login"
    }
    assert refreshed == {"TRI.N", "IBM.N"}, out[-2000:]


def check_standby(r: Ran) -> None:
    out = r.out
    assert "Service discovery succeeded. RECEIVED:" in out
    assert "WebSocket successfully connected for session1!" in out
    assert "WebSocket successfully connected for session2!" in out
    urls = re.findall(r"^Connecting to WebSocket (\S+) for session\d", out, re.M)
    assert len(set(urls)) == 2, urls  # two endpoints


def check_table(r: Ran) -> None:
    rows = [ln.split() for ln in r.out.splitlines()]
    refreshed = {row[1] for row in rows if len(row) > 2 and row[2] == "REFRESH"}
    assert refreshed == {"TRI.N", "IBM.N"}, r.out[-2000:]
    quote = next(row for row in rows if len(row) > 4 and row[2] == "REFRESH")
    assert float(quote[3]) < float(quote[4])  # BID < ASK
    assert "embedded simulator" in r.err


def check_standby_jsonl(r: Ran) -> None:
    recs = _json_lines(r.out)
    assert {rec["ric"] for rec in recs} == {"TRI.N"}
    events = [rec["event"] for rec in recs]
    assert events.count("refresh") == 1 and "update" in events, events  # each event once
    seqs = [rec["seq"] for rec in recs if rec["event"] == "update" and "seq" in rec]
    assert len(seqs) == len(set(seqs)), seqs


def check_warm_standby(r: Ran) -> None:
    assert r.code == 0, r.err
    assert "warm standby: active server ws://" in r.err and "(at start)" in r.err, r.err
    msgs = [obj for _, obj in printed(r.out, r"^(?=[{\[])")]  # each value opens a line
    assert len(msgs) == 5 and msgs[0]["Type"] == "Refresh", [m.get("Type") for m in msgs]
    assert all(m["Key"]["Name"] == "TRI.N" for m in msgs if "Key" in m)


def check_post(r: Ran) -> None:
    assert r.out.strip() == "posted to TRI.N: Ack 1", r.out


def check_token(r: Ran) -> None:
    body = json.loads(r.out[r.out.index("{") :])
    assert body["access_token"] == "<redacted>" and body["token_type"] == "Bearer"


def check_discover(r: Ran) -> None:
    rows = [ln.split() for ln in r.out.splitlines()[1:] if ln.strip()]
    assert rows and all(row[2].startswith("us-east-1") for row in rows), r.out


def check_chain(r: Ran) -> None:
    rics = r.out.split()
    assert len(rics) >= 20 and "IBM.N" in rics, r.out


def check_chain_stream(r: Ran) -> None:
    names = {row.split()[1] for row in r.out.splitlines() if " REFRESH " in row}
    assert len(names) >= 20 and "IBM.N" in names, r.out[-2000:]


def check_news(r: Ran) -> None:
    lines = [ln for ln in r.out.splitlines() if ln.strip()]
    assert len(lines) == 3 and all(re.match(r"\d\d:\d\d:\d\d ", ln) for ln in lines), r.out


def check_bars(r: Ran) -> None:
    header, *bars = [ln.split() for ln in r.out.splitlines() if ln.strip()]
    assert header[:3] == ["start", "RIC", "open"] and len(bars) == 3, r.out
    assert all(b[1] == "TRI.N" and float(b[3]) >= float(b[4]) for b in bars)  # high >= low


def check_record_bars(r: Ran) -> None:
    rows = read_recording(r.cwd / "ticks.db")
    assert rows and {row.ric for row in rows} == {"TRI.N"}


def check_plot(r: Ran) -> None:
    assert (r.cwd / "tri.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


TABLE_REFRESH = r"^\S+ +\S+ +REFRESH "  # a Refresh row of ``--format table``
MP_REFRESH = r'^\s*"Type":"Refresh"'  # a Refresh printed by market-price
JSONL_UPDATE = r'"event": ?"update"'  # an Update of ``--format jsonl``
ROWS = r"items 1/1, .*, [1-9]\d* rows written"  # record's progress line, once it wrote

EXPECT = [
    # Quick tour and Discovery: a simulator, then market-price against it (the free port);
    # market-price runs until the Logins' and the items' Refreshes are printed
    Expect(r"ertcloud sim ", check_sim, r"^\{.*\}$", serve=True),
    Expect(r"ertcloud market-price --hostname .*--ric TRI.N", check_quick_tour, MP_REFRESH, 3),
    Expect(r"ertcloud market-price --discovery-url .*--hot-standby", check_standby, MP_REFRESH, 4),
    # Everyday commands (the embedded simulator)
    Expect(r"ertcloud subscribe TRI.N IBM.N .*--format table", check_table, TABLE_REFRESH, 2),
    Expect(r"ertcloud subscribe TRI.N --hot-standby", check_standby_jsonl, JSONL_UPDATE, 2),
    Expect(r"ertcloud post TRI.N ", check_post),
    Expect(r"ertcloud token", check_token),
    Expect(r"ertcloud discover ", check_discover),
    # Trader features
    Expect(r"ertcloud chain ", check_chain),
    Expect(r"ertcloud subscribe 0#.DJI --expand", check_chain_stream, TABLE_REFRESH, 20),
    Expect(r"ertcloud news ", check_news),
    Expect(r"ertcloud bars ", check_bars),
    Expect(r"ertcloud record TRI.N --to ticks.db --bars", check_record_bars, ROWS, on="err"),
    Expect(r"ertcloud plot ticks.db", check_plot, after=r"ertcloud record TRI.N --to ticks.db "),
    Expect(r"ertcloud subscribe TRI.N --warmstandby", check_warm_standby),
]


def expectation(command: str) -> Expect:
    found = [e for e in EXPECT if re.search(e.pattern, command)]
    assert len(found) == 1, f"README command with {len(found)} checks here: {command}"
    return found[0]


def free_port(span: int = 3) -> str:
    """A free port whose next ``span - 1`` ports are free too (``sim --endpoints 3`` listens on
    the port and the ones after it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port + span > 65536:
                continue
            held = []
            try:
                for p in range(port + 1, port + span):
                    t = socket.socket()
                    held.append(t)
                    t.bind(("127.0.0.1", p))
            except OSError:
                continue
            finally:
                for t in held:
                    t.close()
            return str(port)


def shell_env(folder: Path) -> dict[str, str]:
    """An environment with ``ertcloud`` on PATH (and ``.venv/bin/ertcloud``) running this
    checkout, and no ERTCLOUD_* settings of the person running the tests. Each ``ertcloud``
    is forked from the tests' fork server (``cli_forkserver.shim``) where it applies."""
    env = {k: v for k, v in cli_env().items() if not k.startswith("ERTCLOUD_")}
    env["PATH"] = f"{folder / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    shim = cli_forkserver.shim(env) or f'#!/bin/sh\nexec "{sys.executable}" -m ertcloud "$@"\n'
    for d in (folder / "bin", folder / ".venv" / "bin"):
        d.mkdir(parents=True)
        (d / "ertcloud").write_text(shim)
        (d / "ertcloud").chmod(0o755)
    return env


def run_section(commands: list[str], folder: Path) -> list[Ran]:
    """Run ``commands`` in ``folder`` (see the module); every process is gone when it
    returns."""
    env = shell_env(folder)
    port = free_port()
    servers: list[tuple[Background, Expect]] = []
    done: list[Ran] = []
    try:
        with ThreadPoolExecutor(len(commands)) as pool:
            started: list[tuple[str, Future[Ran]]] = []
            for command in commands:
                command = command.replace(f"--port {README_PORT}", f"--port {port}").replace(
                    f"127.0.0.1:{README_PORT}/", f"127.0.0.1:{port}/"
                )
                assert README_PORT not in command, command  # no fixed port left
                exp = expectation(command)
                if exp.serve:
                    bg = Background(command, folder, env)
                    try:
                        assert exp.until is not None
                        bg.wait_for(exp.until, exp.count, exp.on)
                    except BaseException:
                        bg.interrupt()
                        raise
                    servers.append((bg, exp))
                    continue
                for earlier, ran in started:
                    if exp.after is not None and re.search(exp.after, earlier):
                        ran.result()
                started.append((command, pool.submit(run_command, command, exp, folder, env)))
            done = [ran.result() for _, ran in started]
    finally:
        for bg, _ in servers:
            bg.interrupt()
    for bg, exp in servers:
        assert bg.ran.code == 0, f"{bg.ran.command}: exit {bg.ran.code}\n{bg.ran.err[-2000:]}"
        exp.check(bg.ran)
        done.append(bg.ran)
    return done


def run_command(command: str, exp: Expect, folder: Path, env: dict[str, str]) -> Ran:
    """Run one command to its end (or to Ctrl+C, see :class:`Expect`) and check it."""
    if exp.until is None:
        r = subprocess.run(
            ["bash", "-c", command], cwd=folder, env=env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        ran = Ran(command, folder, r.stdout, r.stderr, r.returncode)
    else:
        bg = Background(command, folder, env)
        try:
            bg.wait_for(exp.until, exp.count, exp.on)
        except BaseException:
            bg.interrupt()
            raise
        ran = bg.interrupt()
    assert ran.code == 0, f"{command}: exit {ran.code}\n{ran.err[-2000:]}"
    exp.check(ran)
    return ran


def test_every_readme_shell_block_is_run_here_or_elsewhere() -> None:
    found = sections()
    assert ELSEWHERE | NOT_RUN <= set(found), set(found)
    for heading, commands in found.items():
        if heading not in ELSEWHERE | NOT_RUN:
            for command in commands:
                expectation(command)
    assert "ertcloud record TRI.N EUR=" in " ".join(found["Getting the data out"])
    assert [c.split()[0] for c in found["ertcloud"]] == ["make", "make"]


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    todo = {h: c for h, c in sections().items() if h not in ELSEWHERE | NOT_RUN}
    assert {"Quick tour", "Everyday commands", "Discovery, failover and hot standby",
            "Trader features"} <= set(todo)  # fmt: skip
    folders = {h: tmp_path / re.sub(r"\W+", "-", h).strip("-") for h in todo}
    for f in folders.values():
        f.mkdir()
    with ThreadPoolExecutor(len(todo)) as pool:
        futures = {h: pool.submit(run_section, todo[h], folders[h]) for h in todo}
        results = {h: f.result() for h, f in futures.items()}
    for heading, commands in todo.items():
        assert len(results[heading]) == len(commands), heading
