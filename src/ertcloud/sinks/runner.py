"""Feeding sinks from the event loop: a bounded intake queue, then one ordered backlog and
one writer per sink, each in its own thread, retrying failed batches until they land.

A sink that fails (a database restarting, a full disk) keeps its rows in its backlog
(memory, then a bounded spill file) and is retried with backoff; the other sinks go on.
Rows are dropped only when the intake queue or a backlog is full, and every drop is
counted, logged and reported (:attr:`SinkRunner.lost`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .backlog import Backlog
from .base import Sink
from .rows import Row

__all__ = ["SinkRunner", "SinkStats"]

log = logging.getLogger("ertcloud.sinks")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass
class SinkStats:
    """Counters of one sink, for progress lines and metrics."""

    name: str
    rows_written: int = 0
    batches: int = 0
    #: failed writes and flushes
    errors: int = 0
    last_error: str | None = None
    failed_batches: int = 0
    retries: int = 0
    #: rows that went to the spill file / were dropped because the backlog was full /
    #: were still waiting when the runner closed
    spilled: int = 0
    dropped: int = 0
    undelivered: int = 0
    backlog: int = 0
    up: bool = True
    down_since: float | None = None  # monotonic time the current outage began
    outages: int = 0

    @property
    def lost(self) -> int:
        """Rows this sink will never get."""
        return self.dropped + self.undelivered


def _backoff(initial: float, maximum: float) -> Iterator[float]:
    d = initial
    while True:
        yield d
        d = min(maximum, d * 2)


class SinkRunner:
    """Takes rows on the event loop (:meth:`submit`, never blocks) and writes them to every
    sink in batches of up to ``batch_size`` rows, in order, each sink in its own thread.

    The intake queue holds at most ``max_queue`` rows (past that, rows are dropped and
    counted in :attr:`dropped`). Each sink then has a :class:`Backlog` of
    ``backlog_rows`` rows in memory and ``spill_bytes`` on disk (in ``spill_dir``,
    default the temporary folder) for the time it is failing; a failed batch is retried
    with backoff (``retry_initial`` doubling up to ``retry_max`` seconds). Every
    ``flush_interval`` seconds (and on :meth:`close`) each sink is flushed. :meth:`close`
    waits up to ``close_timeout`` seconds for a failing sink to take its backlog."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        batch_size: int = 2000,
        flush_interval: float = 0.5,
        max_queue: int = 200_000,
        backlog_rows: int = 100_000,
        spill_bytes: int = 1 << 30,
        spill_dir: str | Path | None = None,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        close_timeout: float = 30.0,
    ) -> None:
        if not sinks:
            raise ConfigError("no sink given")
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.close_timeout = close_timeout
        self.stats = [SinkStats(s.name) for s in self.sinks]
        self.backlogs = [
            Backlog(
                memory_rows=backlog_rows, spill_bytes=spill_bytes, spill_dir=spill_dir, tag=str(i)
            )
            for i in range(len(self.sinks))
        ]
        #: rows dropped at intake (queue full): lost for every sink
        self.dropped = 0
        self.submitted = 0
        self._queue: asyncio.Queue[Row] = asyncio.Queue(max_queue)
        self._pools = [
            ThreadPoolExecutor(1, thread_name_prefix=f"ertcloud-sink-{i}")
            for i in range(len(self.sinks))
        ]
        self._task: asyncio.Task[None] | None = None
        self._writers: list[asyncio.Task[None]] = []
        self._wake: list[asyncio.Event] = []
        self._opened = False
        self._stopping = False
        self._final = False  # everything is in the backlogs: writers end once theirs is empty

    @property
    def rows_written(self) -> int:
        """Rows written by the slowest sink (what is safely stored everywhere)."""
        return min(s.rows_written for s in self.stats)

    @property
    def queued(self) -> int:
        """Rows waiting: in the intake queue plus the longest backlog."""
        return self._queue.qsize() + max(len(b) for b in self.backlogs)

    @property
    def lost(self) -> int:
        """Rows that some sink will never get (intake drops plus the worst sink's)."""
        return self.dropped + max(s.lost for s in self.stats)

    @property
    def down(self) -> list[str]:
        """Names of the sinks failing right now."""
        return [s.name for s in self.stats if not s.up]

    async def _call(self, i: int, fn: Callable[..., Any], *args: object) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pools[i], fn, *args)

    async def open(self, *, already_open: bool = False) -> int:
        """Open every sink (unless ``already_open``); returns the highest ``seq`` any of
        them already holds.

        A sink that holds fewer rows than another (the previous run was killed between
        the two writes) first gets the missing rows copied from the one ahead, so every
        sink holds the same rows again."""
        if not already_open:
            await asyncio.gather(*(self._call(i, s.open) for i, s in enumerate(self.sinks)))
        self._opened = True
        lasts = [int(await self._call(i, s.last_seq)) for i, s in enumerate(self.sinks)]
        last = max(lasts)
        # the source of a catch-up: a sink that is ahead, preferably one that can read
        # from a seq on (not every row from the start)
        ahead = [i for i, n in enumerate(lasts) if n == last]
        lead = next((i for i in ahead if hasattr(self.sinks[i], "read_rows_after")), ahead[0])
        for i, behind in enumerate(lasts):
            if 0 < behind < last:
                n = await self._catch_up(i, lead, behind)
                log.warning(
                    "sink %s held rows up to seq %d only: copied %d rows from %s",
                    self.stats[i].name,
                    behind,
                    n,
                    self.stats[lead].name,
                )
        self._wake = [asyncio.Event() for _ in self.sinks]
        self._writers = [
            asyncio.create_task(self._writer(i), name=f"ertcloud-sink-{i}")
            for i in range(len(self.sinks))
        ]
        self._task = asyncio.create_task(self._run(), name="ertcloud-sinks")
        return last

    async def _catch_up(self, i: int, lead: int, after: int) -> int:
        src, dst = self.sinks[lead], self.sinks[i]

        def copy() -> int:
            n, chunk = 0, []
            reader = getattr(src, "read_rows_after", None)
            rows = reader(after) if reader is not None else src.read_rows()
            for r in rows:
                if r.seq <= after:
                    continue
                chunk.append(r)
                if len(chunk) >= self.batch_size:
                    dst.write_batch(chunk)
                    n += len(chunk)
                    chunk = []
            if chunk:
                dst.write_batch(chunk)
                n += len(chunk)
            dst.flush()
            return n

        # the source is read in the destination's thread: sinks are not thread-safe, and
        # the source's own thread is idle until the writers start
        return int(await self._call(i, copy))

    def submit(self, row: Row) -> None:
        """Queue one row (from the event loop); drops it if the queue is full."""
        try:
            self._queue.put_nowait(row)
            self.submitted += 1
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error("sink queue full: %d rows dropped so far", self.dropped)

    def _take(self) -> list[Row]:
        q = self._queue
        batch: list[Row] = []
        while len(batch) < self.batch_size and not q.empty():
            batch.append(q.get_nowait())
        return batch

    def _dispatch(self, batch: list[Row]) -> None:
        for i, b in enumerate(self.backlogs):
            st = self.stats[i]
            was_spilling = b.spilling
            dropped = b.push(batch)
            st.spilled = b.spilled
            st.backlog = len(b)
            if b.spilling and not was_spilling:
                log.warning(
                    "sink %s: backlog over %d rows, spilling to %s (up to %d MB)",
                    st.name,
                    b.memory_rows,
                    b.spill_path,
                    b.spill_bytes >> 20,
                )
            if dropped:
                first = st.dropped == 0
                st.dropped += dropped
                if first or st.dropped // 10_000 != (st.dropped - dropped) // 10_000:
                    log.error(
                        "sink %s: backlog and spill file full, %d rows DROPPED so far%s",
                        st.name,
                        st.dropped,
                        f" (spill file: {b.spill_error})" if b.spill_error else "",
                    )
            self._wake[i].set()

    async def _run(self) -> None:
        """Move rows from the intake queue to every sink's backlog."""
        while not self._stopping:
            first = await self._queue.get()
            self._dispatch([first, *self._take()])

    def _failed(self, i: int, exc: BaseException, what: str) -> None:
        st = self.stats[i]
        st.errors += 1
        st.last_error = _first_line(exc)
        if st.up:
            st.up = False
            st.outages += 1
            st.down_since = time.monotonic()
            log.error(
                "sink %s failed to %s: %s; retrying, rows are kept", st.name, what, st.last_error
            )

    def _recovered(self, i: int) -> None:
        st = self.stats[i]
        if not st.up:
            took = time.monotonic() - (st.down_since or time.monotonic())
            log.warning(
                "sink %s is back after %.1f s (%d retries so far), %d rows waiting",
                st.name,
                took,
                st.retries,
                len(self.backlogs[i]),
            )
        st.up, st.down_since = True, None

    async def _writer(self, i: int) -> None:
        """Write sink ``i``'s backlog in order, retrying a failed batch until it lands."""
        st, backlog, wake, sink = self.stats[i], self.backlogs[i], self._wake[i], self.sinks[i]
        delays = _backoff(self.retry_initial, self.retry_max)
        next_flush = time.monotonic() + self.flush_interval
        dirty = False
        while True:
            wake.clear()  # before looking: rows dispatched from here on set it again
            batch = backlog.peek(self.batch_size)
            if batch:
                try:
                    await self._call(i, sink.write_batch, batch)
                except Exception as exc:
                    st.failed_batches += 1
                    self._failed(i, exc, f"write {len(batch)} rows")
                    await asyncio.sleep(next(delays))
                    st.retries += 1
                    continue
                backlog.pop(batch)
                st.backlog = len(backlog)
                st.rows_written += len(batch)
                st.batches += 1
                dirty = True
                delays = _backoff(self.retry_initial, self.retry_max)
                self._recovered(i)
            elif self._final:
                return
            now = time.monotonic()
            if now >= next_flush:
                if dirty:
                    try:
                        await self._call(i, sink.flush)
                        dirty = False
                    except Exception as exc:
                        self._failed(i, exc, "flush")
                next_flush = time.monotonic() + self.flush_interval
            if not batch:
                try:
                    await asyncio.wait_for(
                        wake.wait(), max(0.01, next_flush - time.monotonic()) if dirty else None
                    )
                except asyncio.TimeoutError:
                    pass

    async def drain(self, timeout: float | None = None) -> None:
        """Write and flush everything queued so far (waits for failing sinks to come back,
        up to ``timeout`` seconds)."""
        if self._queue.qsize():
            while not self._queue.empty():
                self._dispatch(self._take())
        deadline = time.monotonic() + (self.close_timeout if timeout is None else timeout)
        # polled: the writers have no "idle" event, and this runs once, at the end
        while any(len(b) for b in self.backlogs) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.gather(*(self._flush(i) for i in range(len(self.sinks))))

    async def _flush(self, i: int) -> None:
        try:
            await self._call(i, self.sinks[i].flush)
        except Exception as exc:
            self._failed(i, exc, "flush")

    async def close(self) -> None:
        """Write what is queued, flush and close every sink, stop the threads. Rows a
        failing sink has not taken after ``close_timeout`` seconds are counted in
        :attr:`SinkStats.undelivered`."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()  # it only ever waits on the queue: nothing is in its hands
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._opened:
            while not self._queue.empty():
                self._dispatch(self._take())
            self._final = True
            for w in self._wake:
                w.set()
            if self._writers:
                _, pending = await asyncio.wait(self._writers, timeout=self.close_timeout)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*self._writers, return_exceptions=True)
                self._writers = []
            await asyncio.gather(*(self._flush(i) for i in range(len(self.sinks))))
            for i, b in enumerate(self.backlogs):
                st = self.stats[i]
                if len(b):
                    st.undelivered += len(b)
                    log.error(
                        "sink %s: %d rows NOT written (sink still failing: %s)",
                        st.name,
                        len(b),
                        st.last_error,
                    )
                b.close()
                st.backlog = 0

            async def one(i: int) -> None:
                try:
                    await self._call(i, self.sinks[i].close)
                except Exception as exc:
                    self.stats[i].errors += 1
                    self.stats[i].last_error = _first_line(exc)
                    log.error("sink %s failed to close: %s", self.stats[i].name, exc)

            await asyncio.gather(*(one(i) for i in range(len(self.sinks))))
            self._opened = False
        for p in self._pools:
            p.shutdown(wait=False, cancel_futures=True)
