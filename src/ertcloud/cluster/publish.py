"""Publishing item messages to the cluster's stream, de-duplicated, in order.

Every message carries a ``Nats-Msg-Id`` made from the item and the service's
``SeqNumber`` (and, for a Refresh, the owner's epoch): a publish retried after a lost
acknowledgement, or the same Update published by two workers around a handover, is stored
once. A failed publish is retried (same id) until it is acknowledged, so nothing the
service delivered to a live worker is dropped while a NATS node is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..sinks.nats_stream import subject_token

__all__ = ["Outgoing", "Publisher", "msg_id"]

log = logging.getLogger("ertcloud.cluster")
_WINDOW = 256  # publishes in flight at once
_LATEST_EVERY = 0.5  # seconds between writes of the latest images


def msg_id(domain: str, ric: str, kind: str, sn: int | None, epoch: int, n: int) -> str:
    """The de-duplication id: Updates by sequence number, Refreshes by sequence number and
    epoch (a handover's Refresh is new even when no Update came in between)."""
    base = f"{subject_token(domain)}.{subject_token(ric)}"
    if sn is None:
        return f"{base}.{kind[0]}.e{epoch}.n{n}"
    if kind == "Update":
        return f"{base}.U{sn}"
    return f"{base}.{kind[0]}{sn}.e{epoch}"


@dataclass(slots=True)
class Outgoing:
    """One message waiting to be published."""

    subject: str
    key: str  # latest-image key: Domain.RIC
    body: dict[str, Any]
    msg_id: str


class Publisher:
    """A queue of item messages and the task that publishes them."""

    def __init__(self, js: Any, stream: str, latest_kv: Any = None) -> None:
        self.js = js
        self.stream = stream
        self.latest_kv = latest_kv
        self._queue: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._submitted = 0
        self._done = 0  # messages acknowledged (or given up at close), in submission order
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._latest_task: asyncio.Task[None] | None = None
        self._images: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self.published = 0
        self.duplicates = 0
        self.retries = 0
        self.ack_seconds = 0.0  # sum of publish round trips, for the mean

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        if self.latest_kv is not None:
            self._latest_task = asyncio.ensure_future(self._write_latest())

    def submit(self, out: Outgoing) -> None:
        self._queue.append(out)
        self._submitted += 1
        self._wake.set()
        b = out.body
        img = self._images.get(out.key)
        if img is None or b["kind"] == "Refresh":
            img = self._images[out.key] = {"fields": {}}
        if b.get("fields"):
            img["fields"].update(b["fields"])
        for k in ("ric", "domain", "service", "sn", "ts", "kind", "epoch", "worker"):
            img[k] = b.get(k)
        self._dirty.add(out.key)

    async def drain(self) -> None:
        """Wait until everything submitted so far is acknowledged (not what comes later:
        under a steady flow the queue is never empty)."""
        if self._done >= self._submitted:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._submitted, fut))
        await fut

    def _advance(self, n: int) -> None:
        self._done += n
        still = []
        for target, fut in self._waiters:
            if target <= self._done:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._waiters = still

    async def _run(self) -> None:
        q = self._queue
        while True:
            if not q:
                self._wake.clear()
                await self._wake.wait()
                continue
            chunk = [q.popleft() for _ in range(min(len(q), _WINDOW))]
            await self._publish(chunk)
            self._advance(len(chunk))

    async def _publish(self, chunk: list[Outgoing]) -> None:
        t0 = time.monotonic()
        results = await asyncio.gather(*(self._one(o) for o in chunk), return_exceptions=True)
        self.ack_seconds += (time.monotonic() - t0) * len(chunk)
        failed = [o for o, r in zip(chunk, results, strict=True) if isinstance(r, BaseException)]
        delay = 0.1
        # in order, one at a time: the de-duplication id drops what was stored already
        for o in failed:
            while True:
                self.retries += 1
                try:
                    await self._one(o)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("publish of %s failed (%s); retrying", o.msg_id, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)

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
            dirty, self._dirty = self._dirty, set()
            for k in dirty:
                try:
                    await self.latest_kv.put(k, json.dumps(self._images[k]).encode())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self._dirty.add(k)  # next round

    def forget(self, key: str) -> None:
        """Drop the cached image of an item handed over to another worker."""
        self._images.pop(key, None)
        self._dirty.discard(key)

    async def close(self) -> None:
        """Publish what is queued, then stop."""
        await self.drain()
        for t in (self._task, self._latest_task):
            if t is not None:
                t.cancel()
        for t in (self._task, self._latest_task):
            if t is not None:
                try:
                    await t
                except asyncio.CancelledError:
                    pass
