"""The pieces under the outage tests: the backlog (memory, then spill file) against a
model list, a flaky sink retried through the runner, a half-written JSON-lines batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.sinks import Row, SinkRunner, make_sink
from ertcloud.sinks.backlog import Backlog
from ertcloud.sinks.jsonl import JsonlSink

from .sinks_helpers import make_rows

# push n rows / write (peek+pop) up to n rows / peek without popping (a failed write)
_ops = st.lists(
    st.tuples(st.sampled_from(["push", "write", "fail"]), st.integers(1, 40)), max_size=60
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops, memory=st.integers(0, 30), spill=st.sampled_from([0, 900, 3000, 1 << 20]))
def test_backlog_keeps_order_and_counts_every_drop(
    tmp_path: Path, ops: list[tuple[str, int]], memory: int, spill: int
) -> None:
    b = Backlog(memory_rows=memory, spill_bytes=spill, spill_dir=tmp_path, tag="t")
    model: list[int] = []  # seqs still waiting
    out: list[int] = []  # seqs written, in order
    seq = 0
    try:
        for op, n in ops:
            if op == "push":
                rows = make_rows(seq + 1, n)
                seq += n
                dropped = b.push(rows)
                # what fits (memory, then spill file) is kept, the rest of the batch dropped
                model.extend(r.seq for r in rows[: n - dropped])
            else:
                got = b.peek(n)
                assert [r.seq for r in got] == model[: len(got)]
                assert len(got) == min(n, len(model))
                if op == "write":
                    b.pop(got)
                    out.extend(r.seq for r in got)
                    del model[: len(got)]
            assert len(b) == len(model)
        assert out == sorted(out) and len(set(out)) == len(out)
        assert b.dropped == seq - len(out) - len(model)
        if not b.spilling:
            assert not list(tmp_path.glob("ertcloud-spill-t-*"))
    finally:
        b.close()
    assert not list(tmp_path.glob("ertcloud-spill-t-*"))


class _Flaky:
    """A sink that fails every write of a batch a few times before taking it."""

    def __init__(self, fail_each: int) -> None:
        self.name = "flaky"
        self.fail_each = fail_each
        self.rows: list[Row] = []
        self.attempts = 0
        self._failed_for: dict[int, int] = {}

    def open(self) -> None: ...
    def last_seq(self) -> int:
        return 0

    def write_batch(self, rows: Sequence[Row]) -> None:
        self.attempts += 1
        first = rows[0].seq
        n = self._failed_for.get(first, 0)
        if n < self.fail_each:
            self._failed_for[first] = n + 1
            raise ConnectionError("server closed the connection unexpectedly\nmore detail")
        self.rows.extend(rows)

    def flush(self) -> None: ...
    def close(self) -> None: ...
    def read_rows(self) -> Iterator[Row]:
        return iter(self.rows)


async def test_a_flaky_sink_gets_every_row_once_in_order_and_the_other_is_not_held(
    tmp_path: Path,
) -> None:
    flaky = _Flaky(fail_each=2)
    good = make_sink(f"jsonl:{tmp_path / 'good.jsonl'}")
    runner = SinkRunner(
        [flaky, good], batch_size=50, flush_interval=0.05, retry_initial=0.01, retry_max=0.02
    )
    await runner.open()
    rows = make_rows(1, 1000)
    for i in range(0, 1000, 100):
        for r in rows[i : i + 100]:
            runner.submit(r)
        await asyncio.sleep(0.01)
    await runner.close()
    assert [r.seq for r in flaky.rows] == list(range(1, 1001))
    s = runner.stats[0]
    assert s.failed_batches == s.retries >= 2 and s.lost == 0 and s.up
    assert s.last_error == "ConnectionError: server closed the connection unexpectedly"
    assert runner.stats[1].failed_batches == 0 and runner.stats[1].rows_written == 1000
    assert runner.lost == 0


def test_a_half_written_jsonl_batch_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    sink = JsonlSink(path)
    sink.open()
    sink.write_batch(make_rows(1, 3))
    good = path.read_bytes()

    def half_then_fail(f: object) -> None:
        f.write('{"seq":4,"ts":1')  # type: ignore[attr-defined]
        f.flush()  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        sink._append(half_then_fail)
    assert path.read_bytes() == good
    sink.write_batch(make_rows(4, 2))  # the retry
    sink.close()
    assert [r.seq for r in JsonlSink(path).read_rows()] == [1, 2, 3, 4, 5]


def test_an_unusable_spill_folder_drops_and_counts_instead_of_raising(tmp_path: Path) -> None:
    b = Backlog(memory_rows=5, spill_dir=tmp_path / "gone", tag="t")
    assert b.push(make_rows(1, 12)) == 7
    assert len(b) == 5 and b.dropped == 7 and b.spill_error and "gone" in b.spill_error
    b.close()
