"""The NATS JetStream sink across a server restart (same port, same store): every row is
in the stream once, in order; the outage is counted while it lasts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from local_servers import NatsServer, ServerError

from ertcloud.sinks import SinkRunner, make_sink
from ertcloud.sinks.runner import SinkStats

from .sinks_helpers import through_outage


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A NATS server of this test alone, which it halts and resumes (same port, same store)."""
    srv = NatsServer()
    try:
        srv.start()
    except ServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


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

    async def while_down(st: SinkStats) -> None:
        assert st.failed_batches >= 1 and st.backlog > 0

    try:
        await through_outage(
            runner, nats_server.halt, nats_server.resume,
            first=300, during=1000, chunk=100, pause=0.05, while_down=while_down,
        )  # fmt: skip
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
