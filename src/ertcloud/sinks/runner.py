"""Feeding sinks from the event loop: a bounded queue, batches, one worker thread per sink."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .base import Sink
from .rows import Row

__all__ = ["SinkRunner", "SinkStats"]

log = logging.getLogger("ertcloud.sinks")


@dataclass
class SinkStats:
    """Counters of one sink, for progress lines and metrics."""

    name: str
    rows_written: int = 0
    batches: int = 0
    errors: int = 0
    last_error: str | None = None


class SinkRunner:
    """Takes rows on the event loop (:meth:`submit`, never blocks) and writes them to every
    sink in batches of up to ``batch_size`` rows, each sink in its own thread.

    The queue holds at most ``max_queue`` rows: past that, rows are dropped and counted in
    :attr:`dropped` rather than letting memory grow without bound. Every ``flush_interval``
    seconds (and on :meth:`close`) each sink is flushed."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        batch_size: int = 2000,
        flush_interval: float = 1.0,
        max_queue: int = 200_000,
    ) -> None:
        if not sinks:
            raise ValueError("no sink given")
        self.sinks = list(sinks)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.stats = [SinkStats(s.name) for s in self.sinks]
        self.dropped = 0
        self.submitted = 0
        self._queue: asyncio.Queue[Row] = asyncio.Queue(max_queue)
        self._pools = [
            ThreadPoolExecutor(1, thread_name_prefix=f"ertcloud-sink-{i}")
            for i in range(len(self.sinks))
        ]
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._stopping = False
        self._busy = False

    @property
    def rows_written(self) -> int:
        """Rows written by the slowest sink (what is safely stored everywhere)."""
        return min(s.rows_written for s in self.stats)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def _call(self, i: int, fn: object, *args: object) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pools[i], fn, *args)  # type: ignore[arg-type]

    async def open(self) -> int:
        """Open every sink; returns the highest ``seq`` any of them already holds."""
        await asyncio.gather(*(self._call(i, s.open) for i, s in enumerate(self.sinks)))
        self._opened = True
        last = 0
        loop = asyncio.get_running_loop()
        for i, s in enumerate(self.sinks):
            last = max(last, await loop.run_in_executor(self._pools[i], s.last_seq))
        self._task = asyncio.create_task(self._run(), name="ertcloud-sinks")
        return last

    def submit(self, row: Row) -> None:
        """Queue one row (from the event loop); drops it if the queue is full."""
        try:
            self._queue.put_nowait(row)
            self.submitted += 1
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("sink queue full: %d rows dropped so far", self.dropped)

    async def _write(self, batch: list[Row]) -> None:
        async def one(i: int) -> None:
            st = self.stats[i]
            try:
                await self._call(i, self.sinks[i].write_batch, batch)
            except Exception as exc:
                st.errors += 1
                st.last_error = f"{type(exc).__name__}: {exc}"
                log.error("sink %s failed to write %d rows: %s", st.name, len(batch), exc)
                return
            st.rows_written += len(batch)
            st.batches += 1

        await asyncio.gather(*(one(i) for i in range(len(self.sinks))))

    async def _flush(self) -> None:
        async def one(i: int) -> None:
            try:
                await self._call(i, self.sinks[i].flush)
            except Exception as exc:
                self.stats[i].errors += 1
                self.stats[i].last_error = f"{type(exc).__name__}: {exc}"
                log.error("sink %s failed to flush: %s", self.stats[i].name, exc)

        await asyncio.gather(*(one(i) for i in range(len(self.sinks))))

    def _take(self) -> list[Row]:
        q = self._queue
        batch: list[Row] = []
        while len(batch) < self.batch_size and not q.empty():
            batch.append(q.get_nowait())
        return batch

    async def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        dirty = False
        while not self._stopping:
            timeout = max(0.0, next_flush - time.monotonic())
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout)
            except asyncio.TimeoutError:
                first = None
            # A write in progress is never cancelled (close() waits for it): the rows it
            # took off the queue would be counted nowhere.
            self._busy = True
            try:
                if first is not None:
                    await self._write([first, *self._take()])
                    dirty = True
                if time.monotonic() >= next_flush:
                    if dirty:
                        await self._flush()
                        dirty = False
                    next_flush = time.monotonic() + self.flush_interval
            finally:
                self._busy = False

    async def drain(self) -> None:
        """Write and flush everything queued so far."""
        while not self._queue.empty():
            await self._write(self._take())
        await self._flush()

    async def close(self) -> None:
        """Write what is queued, flush and close every sink, stop the threads."""
        self._stopping = True
        if self._task is not None:
            if not self._busy:
                self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._opened:
            await self.drain()

            async def one(i: int) -> None:
                try:
                    await self._call(i, self.sinks[i].close)
                except Exception as exc:
                    log.error("sink %s failed to close: %s", self.stats[i].name, exc)

            await asyncio.gather(*(one(i) for i in range(len(self.sinks))))
            self._opened = False
        for p in self._pools:
            p.shutdown(wait=True)
