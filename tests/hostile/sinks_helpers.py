"""What the sink hardening tests share: private PostgreSQL and NATS servers they may
restart and stop, a sink runner taken through an outage, ``ertcloud record`` as a process,
and reading its stores back."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from local_servers import PostgresServer
from support import start_cli, until

from ertcloud.sinks import SinkRunner, make_sink
from ertcloud.sinks.runner import SinkStats


class PgServer:
    """A PostgreSQL server, with the outages the tests need: restart, stop, start again on
    the same port. Tests that share it each take a database of their own
    (:meth:`use_new_database`)."""

    def __init__(self, state: Path) -> None:
        self._server = PostgresServer()
        self.dsn = self._server.start()
        self.port = self._server.port
        self._databases = 0

    def use_new_database(self) -> None:
        """Point ``dsn`` at a new, empty database, starting the server again if a test
        left it stopped."""
        import psycopg

        proc = self._server.proc
        if proc is not None and proc.poll() is not None:
            self.start()
        self._databases += 1
        name = f"test{self._databases}"
        with psycopg.connect(self._server.dsn, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        self.dsn = f"{self._server.dsn.rsplit('/', 1)[0]}/{name}"

    def restart(self) -> None:
        self._server.restart()

    def stop(self) -> None:
        self._server.halt()

    def start(self) -> None:
        self._server.resume()

    def destroy(self) -> None:
        self._server.stop()

    def seqs(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.dsn) as con:
            return [r[0] for r in con.execute("SELECT seq FROM messages ORDER BY seq")]


def stored(spec: str) -> list[dict[str, Any]]:
    """Every row a store holds, as dicts, in ``seq`` order."""
    s = make_sink(spec)
    s.open()
    try:
        return [r.as_dict() for r in s.read_rows()]
    finally:
        s.close()


def start_record(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``ertcloud record ARGS`` with its output on pipes (forked with the package imported)."""
    return start_cli("record", *args, env=env)


class StderrReader:
    """Reads a process's stderr as it comes, without blocking."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.fd = proc.stderr.fileno()
        self.text = ""

    def read(self, timeout: float = 0.1) -> str:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 65536)
            self.text += chunk.decode(errors="replace")
        return self.text

    def wait_for(self, pattern: str, timeout: float = 60, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in stderr after offset ``start``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.compile(pattern).search(self.read(), start)
            if m:
                return m
            if self.proc.poll() is not None:
                self.read(0)
                m = re.compile(pattern).search(self.text, start)
                if m:
                    return m
                break
        raise AssertionError(f"{pattern!r} not seen on stderr:\n{self.text[-4000:]}")

    def finish(self, timeout: float = 90) -> str:
        """Wait for the process to end; the whole of stderr."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read()
        if self.proc.poll() is None:
            raise AssertionError(f"the process did not end:\n{self.text[-4000:]}")
        while True:  # the rest, up to end of file
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return self.text
            self.text += chunk.decode(errors="replace")


def stop_process(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """End a process this test started (also on failure)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for s in (proc.stdout, proc.stderr):
        if s is not None:
            s.close()


def rows_written(text: str) -> int:
    """The 'N rows written' of the last progress line."""
    return int(re.findall(r"(\d+) rows written", text)[-1])


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_rows(start: int, n: int, ric: str = "TRI.N") -> list[Any]:
    """``n`` Quote updates with ``seq`` from ``start``."""
    import json

    from ertcloud.sinks import Row

    out = []
    for seq in range(start, start + n):
        fields = {"BID": 100 + seq / 100, "ASK": 100.5 + seq / 100}
        raw = {"ID": 2, "Type": "Update", "UpdateType": "Quote", "Fields": fields}
        out.append(
            Row(
                seq=seq,
                ts=1.7e9 + seq / 1000,
                kind="Update",
                domain="MarketPrice",
                ric=ric,
                service="ELEKTRON_DD",
                update_type="Quote",
                fields=fields,
                raw=json.dumps(raw, separators=(",", ":")),
            )
        )
    return out


async def through_outage(
    runner: SinkRunner,
    halt: Callable[[], None],
    resume: Callable[[], None],
    *,
    first: int,
    during: int,
    chunk: int,
    pause: float,
    down: Callable[[SinkStats], bool] = lambda st: not st.up,
    while_down: Callable[[SinkStats], Awaitable[None]] | None = None,
) -> None:
    """Take an open runner's (first) sink through an outage of its server: ``first`` rows
    written, the server halted, ``during`` more rows submitted ``chunk`` at a time every
    ``pause`` seconds, ``down`` awaited (then ``while_down``), the server resumed and the
    backlog drained. Rows have ``seq`` 1 to ``first + during``."""
    st = runner.stats[0]
    for r in make_rows(1, first):
        runner.submit(r)
    await until(lambda: st.rows_written == first, 60, "the first rows")
    await asyncio.to_thread(halt)
    for start in range(first + 1, first + during + 1, chunk):
        for r in make_rows(start, chunk):
            runner.submit(r)
        await asyncio.sleep(pause)
    await until(lambda: down(st), 60, "the sink to be marked down")
    if while_down is not None:
        await while_down(st)
    await asyncio.to_thread(resume)
    await until(lambda: st.backlog == 0 and st.up, 120, "the backlog to drain")
