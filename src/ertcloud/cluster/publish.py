"""Publishing item messages to the cluster's stream, de-duplicated, in order per item.

Every message carries a ``Nats-Msg-Id`` made from the item, the service's ``SeqNumber``
and the owner's epoch: a publish retried after a lost acknowledgement is stored once, and
one epoch's messages never suppress another's.

Order per item is what keeps an epoch free of gaps: each item has at most one publish in
flight, and a publish that fails (a stream leader being elected, a node gone) is retried,
same id, before any later message of that item is sent. Other items go on meanwhile, up
to ``window`` publishes in flight. The buffer is bounded (``limit`` messages): when it is
full, the worker ends the epoch of an item instead (:meth:`discard`, then a ``Gap``
marker; the item is requested again, and its Refresh starts a new epoch).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..sinks.nats_stream import subject_token

__all__ = ["GAP", "Outgoing", "Publisher", "msg_id"]

log = logging.getLogger("ertcloud.cluster")
_WINDOW = 256  # publishes in flight at once (of different items)
_LIMIT = 100_000  # messages buffered (in flight or waiting) before epochs are ended
_LATEST_EVERY = 0.5  # seconds between writes of the latest images
_RETRY_MAX = 1.0  # longest pause between two tries of one message
GAP = "Gap"  # kind of the marker that ends an epoch whose later messages were dropped


def msg_id(domain: str, ric: str, kind: str, sn: int | None, epoch: int, n: int) -> str:
    """The de-duplication id: by sequence number and epoch (a handover's Refresh is new
    even when no Update came in between); a message without one by a counter."""
    base = f"{subject_token(domain)}.{subject_token(ric)}"
    if sn is None:
        return f"{base}.{kind[0]}.e{epoch}.n{n}"
    return f"{base}.{kind[0]}{sn}.e{epoch}"


@dataclass(slots=True)
class Outgoing:
    """One message waiting to be published."""

    subject: str
    key: str  # latest-image key: Domain.RIC (also the unit of ordering)
    body: dict[str, Any]
    msg_id: str
    num: int = 0  # submission number
    dropped: bool = field(default=False)  # discarded while in flight: do not retry


class Publisher:
    """Per-item queues of item messages and the task that publishes them."""

    def __init__(
        self,
        js: Any,
        stream: str,
        latest_kv: Any = None,
        *,
        window: int = _WINDOW,
        limit: int = _LIMIT,
    ) -> None:
        self.js = js
        self.stream = stream
        self.latest_kv = latest_kv
        self.window = window
        self.limit = limit
        self._queues: dict[str, deque[Outgoing]] = {}  # head first; the head may be in flight
        self._ready: deque[str] = deque()  # items whose head waits for a publish slot
        self._flying: set[str] = set()  # items whose head is in flight
        self._wake = asyncio.Event()
        self._submitted = 0
        self._open: list[int] = []  # heap of the numbers of unfinished messages
        self._finished: set[int] = set()  # finished numbers still in the heap
        self._pending = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._latest_task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._images: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self.published = 0
        self.duplicates = 0
        self.retries = 0
        self.discarded = 0
        self.ack_seconds = 0.0  # sum of publish round trips, for the mean

    @property
    def queued(self) -> int:
        """Messages not acknowledged yet (in flight or waiting)."""
        return self._pending

    @property
    def full(self) -> bool:
        return self._pending >= self.limit

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        if self.latest_kv is not None:
            self._latest_task = asyncio.ensure_future(self._write_latest())

    def submit(self, out: Outgoing) -> None:
        out.num = self._submitted
        self._submitted += 1
        self._pending += 1
        heapq.heappush(self._open, out.num)
        q = self._queues.get(out.key)
        if q is None:
            q = self._queues[out.key] = deque()
            self._ready.append(out.key)
            self._wake.set()
        q.append(out)
        b = out.body
        if b["kind"] == GAP:
            return
        img = self._images.get(out.key)
        if img is None or b["kind"] == "Refresh":
            img = self._images[out.key] = {"fields": {}}
        if b.get("fields"):
            img["fields"].update(b["fields"])
        for k in ("ric", "domain", "service", "sn", "ts", "kind", "epoch", "worker"):
            img[k] = b.get(k)
        self._dirty.add(out.key)

    def discard(self, key: str) -> int:
        """Drop an item's messages not yet stored (its epoch ends here: what is stored of
        it stays without gaps); the one in flight, if any, is not retried. How many."""
        q = self._queues.get(key)
        if not q:
            return 0
        keep = q[0] if key in self._flying else None
        n = 0
        for o in q:
            if o is not keep:
                self._finish(o)
                n += 1
        q.clear()
        if keep is not None:
            keep.dropped = True
            q.append(keep)
        else:
            del self._queues[key]
            self._ready.remove(key)
        self.discarded += n
        return n

    async def drain(self) -> None:
        """Wait until everything submitted so far is acknowledged (or discarded), not what
        comes later: under a steady flow the queue is never empty."""
        target = self._submitted
        if not self._open or self._open[0] >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        await fut

    def _finish(self, o: Outgoing) -> None:
        self._pending -= 1
        self._finished.add(o.num)
        heap, done = self._open, self._finished
        while heap and heap[0] in done:
            done.discard(heapq.heappop(heap))
        low = heap[0] if heap else self._submitted
        if self._waiters and any(t <= low for t, _ in self._waiters):
            still = []
            for target, fut in self._waiters:
                if target <= low:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((target, fut))
            self._waiters = still

    async def _run(self) -> None:
        while True:
            while self._ready and len(self._flying) < self.window:
                key = self._ready.popleft()
                self._flying.add(key)
                t = asyncio.ensure_future(self._send(key, self._queues[key][0]))
                self._sends.add(t)
                t.add_done_callback(self._sends.discard)
            self._wake.clear()
            await self._wake.wait()

    async def _send(self, key: str, o: Outgoing) -> None:
        """Publish one item's head until it is acknowledged (or discarded), then queue the
        item's next message."""
        delay = 0.05
        while not o.dropped:
            t0 = time.monotonic()
            try:
                await self._one(o)
                self.ack_seconds += time.monotonic() - t0
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.retries % 1000 == 0:
                    log.warning("publish of %s failed (%s); retrying", o.msg_id, exc)
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
        self._flying.discard(key)
        q = self._queues[key]
        q.popleft()
        self._finish(o)
        if q:
            self._ready.append(key)
        else:
            del self._queues[key]
        self._wake.set()

    async def _one(self, o: Outgoing) -> None:
        ack = await self.js.publish(
            o.subject,
            json.dumps(o.body, separators=(",", ":")).encode(),
            stream=self.stream,
            timeout=5.0,
            headers={"Nats-Msg-Id": o.msg_id},
        )
        if ack.duplicate:
            self.duplicates += 1
        else:
            self.published += 1

    async def _write_latest(self) -> None:
        while True:
            await asyncio.sleep(_LATEST_EVERY)
            await self.flush_latest()

    async def flush_latest(self, keys: Collection[str] | None = None) -> None:
        """Write the images changed since the last time, or every image of ``keys`` (one
        the periodic writer has taken may not be written yet); one that fails waits for
        the next time."""
        if self.latest_kv is None:
            return
        if keys is None:
            todo = list(self._dirty)
        else:
            todo = [k for k in keys if k in self._images]
        self._dirty.difference_update(todo)

        async def put(k: str) -> None:
            img = self._images.get(k)
            if img is not None:  # else handed over meanwhile
                await self.latest_kv.put(k, json.dumps(img).encode())

        for i in range(0, len(todo), self.window):  # a window of writes in flight at once
            chunk = todo[i : i + self.window]
            try:
                done = await asyncio.gather(*(put(k) for k in chunk), return_exceptions=True)
            except asyncio.CancelledError:
                self._dirty.update(todo[i:])
                raise
            self._dirty.update(k for k, d in zip(chunk, done, strict=True) if d is not None)

    def forget(self, key: str) -> None:
        """Drop the cached image of an item handed over to another worker."""
        self._images.pop(key, None)
        self._dirty.discard(key)

    async def close(self) -> None:
        """Publish what is queued and write the last images, then stop."""
        await self.drain()
        if self._latest_task is not None:
            self._latest_task.cancel()
            await asyncio.gather(self._latest_task, return_exceptions=True)
            await self.flush_latest()
        tasks = [self._task, self._latest_task, *self._sends]
        for t in tasks:
            if t is not None:
                t.cancel()
        for t in tasks:
            if t is not None:
                try:
                    await t
                except asyncio.CancelledError:
                    pass
