"""The one conformance suite every sink passes, each against its real backend.

Parametrised over the sinks by the ``sink_spec``/``new_sink`` fixtures (conftest.py):
JSON lines, CSV, Parquet, DuckDB, PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ertcloud.sinks import Row, Sink, SinkRunner

from .sink_samples import T0, sample_rows

NewSink = Callable[[], Sink]


def _stored(new_sink: NewSink) -> list[Row]:
    s = new_sink()
    s.open()
    try:
        return list(s.read_rows())
    finally:
        s.close()


def test_satisfies_the_protocol(new_sink: NewSink) -> None:
    s = new_sink()
    assert isinstance(s, Sink)
    assert s.name


def test_empty_store(new_sink: NewSink) -> None:
    s = new_sink()
    s.open()
    assert s.last_seq() == 0
    assert list(s.read_rows()) == []
    s.write_batch([])
    s.flush()
    s.close()
    s.close()  # closing twice is harmless
    assert _stored(new_sink) == []


def test_round_trip_is_exact(new_sink: NewSink) -> None:
    rows = sample_rows()
    s = new_sink()
    s.open()
    s.write_batch(rows[:5])
    s.write_batch(rows[5:])
    s.flush()
    s.close()
    back = _stored(new_sink)
    assert back == rows
    # floats, big ints, unicode, None and the raw JSON all survive unchanged
    assert back[0].fields is not None and back[0].fields["PCTCHNG"] is None
    assert back[0].ts == T0 + 0.001
    assert [r.raw for r in back] == [r.raw for r in rows]


def test_reopen_resumes_after_last_seq(new_sink: NewSink) -> None:
    first = sample_rows(start=1, n_updates=5)
    s = new_sink()
    s.open()
    s.write_batch(first)
    s.close()

    again = new_sink()
    again.open()
    last = again.last_seq()
    assert last == first[-1].seq
    second = sample_rows(start=last + 1, n_updates=7)
    again.write_batch(second)
    again.close()

    back = _stored(new_sink)
    assert back == first + second
    seqs = [r.seq for r in back]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_runner_batches_off_the_loop(new_sink: NewSink) -> None:
    rows = []
    for _ in range(20):
        rows.extend(sample_rows(start=len(rows) + 1, n_updates=100))
    assert len(rows) > 2000
    runner = SinkRunner([new_sink()], batch_size=300, flush_interval=0.05, max_queue=10_000)
    assert await runner.open() == 0
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    hb = asyncio.create_task(heartbeat())
    for i, r in enumerate(rows):
        runner.submit(r)
        if i % 500 == 0:
            await asyncio.sleep(0.01)
    await runner.close()
    hb.cancel()
    assert runner.dropped == 0
    assert runner.rows_written == len(rows)
    assert runner.stats[0].batches >= len(rows) // 300
    assert ticks > 0  # the loop kept running while the sink wrote
    assert _stored(new_sink) == rows


async def test_runner_bounded_queue_drops_and_counts(new_sink: NewSink) -> None:
    runner = SinkRunner([new_sink()], batch_size=100, max_queue=50)
    await runner.open()
    rows = sample_rows(n_updates=200)
    for r in rows:  # no await: the writer cannot run, the queue fills up
        runner.submit(r)
    await runner.close()
    assert runner.dropped == len(rows) - 50
    assert _stored(new_sink) == rows[:50]
