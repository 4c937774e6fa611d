"""The PostgreSQL sink across a server restart and a long outage, against a real server:
no row lost, none stored twice, a spill file past the memory bound, and loud accounting
(metrics, stderr, exit code) when even the spill bound is exceeded."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import SimProcess, cli_env

from ertcloud.sinks import SinkRunner, make_sink
from ertcloud.sinks.runner import SinkStats

from .sinks_helpers import (
    PgServer,
    StderrReader,
    make_rows,
    rows_written,
    start_record,
    stop_process,
    stored,
    through_outage,
    until,
)

RICS = ("TRI.N", "EUR=", "IBM.N", "JPY=")


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One server for the module (initdb takes seconds); see ``pg``."""
    srv = PgServer(tmp_path_factory.mktemp("pg"))
    try:
        yield srv
    finally:
        srv.destroy()


@pytest.fixture
def pg(pg_server: PgServer) -> PgServer:
    """The module's server, running, with a new empty database for this test."""
    pg_server.use_new_database()
    return pg_server


def _env(tmp_path: Path) -> dict[str, str]:
    return cli_env(XDG_CONFIG_HOME=str(tmp_path / "no-config"))


def _record(sim: SimProcess, tmp_path: Path, *args: str) -> tuple[object, StderrReader]:
    proc = start_record(*RICS, *sim.client_args("--tls", "off"), *args, env=_env(tmp_path))
    return proc, StderrReader(proc)


@pytest.mark.timeout(240)
def test_no_row_lost_or_doubled_across_a_postgres_restart(
    pg: PgServer, sim_process: object, tmp_path: Path
) -> None:
    sim: SimProcess = sim_process("--rate", "100")  # type: ignore[operator]
    jl = tmp_path / "ref.jsonl"
    proc, err = _record(
        sim, tmp_path, "--to", pg.dsn, "--to", f"jsonl:{jl}",
        "--batch-size", "100", "--progress-interval", "0.3",
    )  # fmt: skip
    try:
        err.wait_for(r"items 4/4, [0-9.]+ updates/s, [1-9]\d{2,} rows written")
        pg.restart()  # ~0.2 s of downtime; every connection to it is cut
        back = err.wait_for(r"sink postgres\S* is back after", timeout=60)
        # record a while longer, then stop as a service manager would
        later = rows_written(err.text) + 300
        err.wait_for(rf"(?:{later}|[1-9]\d{{{len(str(later))},}}) rows written", start=back.end())
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        text = err.finish()
    finally:
        stop_process(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0, text  # type: ignore[attr-defined]
    assert "failed to write" in text  # the restart did break a write
    assert "Traceback" not in text
    last = int(re.findall(r"last seq (\d+)", text)[-1])
    ref = stored(f"jsonl:{jl}")
    assert [r["seq"] for r in ref] == list(range(1, last + 1))
    got = stored(pg.dsn)
    # every row the simulator sent and the recorder received is in PostgreSQL, once
    assert [r["seq"] for r in got] == [r["seq"] for r in ref]
    assert [(r["ric"], r["kind"], r["raw"]) for r in got] == [
        (r["ric"], r["kind"], r["raw"]) for r in ref
    ]


@pytest.mark.timeout(240)
async def test_long_outage_spills_to_disk_and_drains_in_order(pg: PgServer, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir()
    runner = SinkRunner(
        [make_sink(pg.dsn)], batch_size=100, flush_interval=0.1, backlog_rows=300,
        spill_dir=spill, retry_initial=0.05, retry_max=0.5,
    )  # fmt: skip
    await runner.open()
    st = runner.stats[0]

    async def while_down(st: SinkStats) -> None:
        assert list(spill.glob("ertcloud-spill-*.jsonl"))
        assert st.failed_batches >= 1 and st.retries >= 1
        assert st.backlog == 5000 and st.lost == 0
        await asyncio.sleep(1.0)  # a few more failed retries while down

    try:
        # rows keep coming during the outage: far more than the memory backlog holds
        await through_outage(
            runner, pg.stop, pg.start,
            first=500, during=5000, chunk=250, pause=0.02,
            down=lambda st: not st.up and st.spilled > 0, while_down=while_down,
        )  # fmt: skip
        assert not list(spill.glob("ertcloud-spill-*.jsonl"))  # drained and deleted
    finally:
        await runner.close()
    assert st.lost == 0 and runner.lost == 0
    assert st.rows_written == 5500
    assert pg.seqs() == list(range(1, 5501))


@pytest.mark.timeout(240)
async def test_spill_bound_exceeded_is_counted_and_logged(
    pg: PgServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = SinkRunner(
        [make_sink(pg.dsn)], batch_size=100, backlog_rows=100, spill_bytes=20_000,
        spill_dir=tmp_path, retry_initial=0.05, retry_max=0.2, close_timeout=1.0,
    )  # fmt: skip
    await runner.open()
    st = runner.stats[0]
    await asyncio.to_thread(pg.stop)
    with caplog.at_level(logging.WARNING, logger="ertcloud.sinks"):
        for start in range(1, 2001, 100):
            for r in make_rows(start, 100):
                runner.submit(r)
            await asyncio.sleep(0.01)
        await until(lambda: st.dropped > 0, 30, "drops")
        await runner.close()
    assert st.spilled > 0 and st.dropped > 0
    assert st.dropped + st.undelivered == 2000  # nothing reached the server, all counted
    assert runner.lost == 2000
    text = caplog.text
    assert "spilling to" in text and "DROPPED" in text and "NOT written" in text
    # the drops are logged once per 10,000, not once per batch
    assert text.count("DROPPED") <= 2


@pytest.mark.timeout(240)
def test_a_sink_that_stays_down_fails_record_with_one_line(
    pg: PgServer, sim_process: object, tmp_path: Path
) -> None:
    sim: SimProcess = sim_process("--rate", "50")  # type: ignore[operator]
    jl = tmp_path / "ref.jsonl"
    proc, err = _record(
        sim, tmp_path, "--to", pg.dsn, "--to", f"jsonl:{jl}", "--progress-interval", "0.3",
        "--metrics-port", "0", "--drain-timeout", "1",
    )  # fmt: skip
    try:
        base = err.wait_for(r"metrics at (http://\S+)/metrics").group(1)
        err.wait_for(r"items 4/4, [0-9.]+ updates/s, [1-9]\d+ rows written")
        pg.stop()
        mark = len(err.text)
        err.wait_for(r"DOWN \(\d+ rows kept\)", timeout=60, start=mark)
        h = requests.get(base + "/health", timeout=10)
        m = requests.get(base + "/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        text = err.finish()
    finally:
        stop_process(proc)  # type: ignore[arg-type]
    assert h.status_code == 503, h.text
    assert any(x.startswith("sink postgres") for x in h.json()["reasons"]), h.text
    assert re.search(r'ertcloud_record_sink_up\{sink="postgres[^"]*"\} 0', m), m
    assert re.search(r'ertcloud_record_sink_up\{sink="jsonl[^"]*"\} 1', m), m
    failed = re.search(
        r'ertcloud_record_sink_failed_batches_total\{sink="postgres[^"]*"\} (\d+)', m
    )
    assert failed is not None and int(failed.group(1)) >= 1, m
    assert proc.returncode == 1, text  # type: ignore[attr-defined]
    last_line = text.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ertcloud: error: sink postgres\S*: \d+ rows lost, last error .+", last_line
    ), last_line
    assert "Traceback" not in text
    # the other sink got everything
    last = int(re.findall(r"last seq (\d+)", text)[-1])
    assert [r["seq"] for r in stored(f"jsonl:{jl}")] == list(range(1, last + 1))
