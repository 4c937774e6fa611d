"""The NATS JetStream sink across a server restart (same port, same store): every row is
in the stream once, in order; the outage is counted while it lasts."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ertcloud.sinks import SinkRunner, make_sink

from .sinks_helpers import make_rows


class NatsServer:
    """``nats-server -js`` on a free loopback port, stoppable and restartable."""

    def __init__(self, state: Path) -> None:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.cmd = [exe, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(state)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(tmp_path / "js")
    try:
        yield srv
    finally:
        srv.stop()


async def _until(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(240)
async def test_nats_restart_loses_nothing_and_stores_nothing_twice(
    nats_server: NatsServer,
) -> None:
    spec = f"{nats_server.url}?stream=HOSTILE&prefix=hostile&bucket=hostile_latest"
    runner = SinkRunner(
        [make_sink(spec)], batch_size=100, flush_interval=0.1, retry_initial=0.1, retry_max=1.0
    )
    await runner.open()
    st = runner.stats[0]
    try:
        for r in make_rows(1, 300):
            runner.submit(r)
        await _until(lambda: st.rows_written == 300, 60, "the first rows")
        await asyncio.to_thread(nats_server.stop)
        for start in range(301, 1301, 100):
            for r in make_rows(start, 100):
                runner.submit(r)
            await asyncio.sleep(0.05)
        await _until(lambda: not st.up, 60, "the sink to be marked down")
        assert st.failed_batches >= 1 and st.backlog > 0
        await asyncio.to_thread(nats_server.start)
        await _until(lambda: st.backlog == 0 and st.up, 120, "the backlog to drain")
    finally:
        await runner.close()
    assert runner.lost == 0 and st.rows_written == 1300
    reader = make_sink(spec)
    await asyncio.to_thread(reader.open)
    try:
        rows = await asyncio.to_thread(lambda: list(reader.read_rows()))
    finally:
        await asyncio.to_thread(reader.close)
    assert [r.seq for r in rows] == list(range(1, 1301))
