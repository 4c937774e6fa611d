"""The bench mode's fast sender: how the benchmarks' simulator writes bench streams.

The simulator's own sender (:func:`ertcloud.sim.bench.send_plain`) writes each frame through
the connection's ordinary send path and paces with the event loop's timers. This one, which
:func:`install` puts in its place (``python -m benchmarks.simulator`` does so before it
starts ``ertcloud sim``), removes what the measurement would otherwise see of the sender:

* unpaced streams are framed once into one buffer and written in 256 KB chunks straight to
  the transport (the cost per message is the kernel's copy);
* paced streams (``Rate``) send each frame when it is due: a wait under 2 ms is a short
  blocking sleep (the event loop cannot sleep less than a millisecond) and the thread asks
  Linux for 1 us of timer slack instead of the default 50 us (``prctl``). A sender that fell
  behind by more than :data:`MAX_CATCH_UP` (the simulator preempted) does not catch up with
  a burst of frames, which would queue every client behind it and make the slower one's tail
  the sender's: it sends on from where it is, and counts the slip.

Each stream's figures (:class:`SenderStats`: the rate achieved, how long an unpaced stream
waited for the client to read, how late paced frames left and how often the schedule
slipped, the simulator's CPU time) go as one JSON line to the file named by
``$ERTCLOUD_BENCH_SENDER_STATS``, where the runner reads them beside the client's result.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import struct
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ertcloud.sim import bench
from ertcloud.sim.bench import BenchSpec, Progress, frame_size

if TYPE_CHECKING:
    from ertcloud.sim.ads import ClientSession

__all__ = [
    "MAX_CATCH_UP",
    "STATS_ENV",
    "SenderStats",
    "fine_timers",
    "install",
    "send_fast",
    "ws_frame",
]

_HIGH_WATER = 4 * 1024 * 1024
_CHUNK = 256 * 1024
_PR_SET_TIMERSLACK = 29
#: The environment variable naming the file that receives each stream's :class:`SenderStats`.
STATS_ENV = "ERTCLOUD_BENCH_SENDER_STATS"
#: How far (s) a paced sender may fall behind its schedule and still catch up (frames back
#: to back); further behind, it slips the schedule instead of sending a burst.
MAX_CATCH_UP = 0.0002


@dataclass
class SenderStats:
    """What the sender did during one bench stream (see the module)."""

    rate: float
    per_frame: int
    sent: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    #: unpaced: seconds spent waiting for the client to read (the write buffer full)
    blocked_s: float = 0.0
    writes: int = 0
    max_burst: int = 0  # the most frames in one write (paced)
    slips: int = 0
    slipped_s: float = 0.0
    lag_ns: array[int] = field(default_factory=lambda: array("q"))  # paced, per write

    def summary(self) -> dict[str, Any]:
        """The figures as JSON (lateness in us: percentiles over writes)."""
        out: dict[str, Any] = {
            "rate": self.rate,
            "per_frame": self.per_frame,
            "sent": self.sent,
            "seconds": round(self.seconds, 6),
            "achieved_rate": self.sent / self.seconds if self.seconds > 0 else 0.0,
            "cpu_s": round(self.cpu_s, 4),
        }
        if self.rate <= 0:
            out["blocked_share"] = self.blocked_s / self.seconds if self.seconds > 0 else 0.0
            return out
        lag = sorted(self.lag_ns)
        n = len(lag)
        out.update(
            writes=self.writes,
            max_burst=self.max_burst,
            slips=self.slips,
            slipped_ms=round(self.slipped_s * 1000, 3),
            late_50us=sum(1 for x in lag if x > 50_000),
            lag_us={
                "p50": lag[n // 2] / 1000 if n else 0.0,
                "p99": lag[min(n - 1, int(0.99 * n))] / 1000 if n else 0.0,
                "max": lag[-1] / 1000 if n else 0.0,
            },
        )
        return out


def _write_stats(stats: SenderStats) -> None:
    path = os.environ.get(STATS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(stats.summary()) + "\n")


def install() -> None:
    """Make this process's simulator write bench streams with :func:`send_fast`."""
    bench.set_sender(send_fast)


def ws_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked WebSocket TEXT frame (server to client)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def fine_timers() -> None:
    """Let this thread's short sleeps end when asked (Linux pads each by 50 us by default,
    which would send a 20k/s stream in pairs of frames). Best effort, elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _frames(msgs: list[bytes], per_frame: int) -> bytes:
    """The pool as one buffer of whole frames (a multiple of ``per_frame`` messages)."""
    usable = len(msgs) - len(msgs) % per_frame or len(msgs)
    return b"".join(
        ws_frame(b"[" + b",".join(msgs[i : i + per_frame]) + b"]")
        for i in range(0, usable, per_frame)
    )


def _frame_cuts(msgs: list[bytes], k: int, chunk: int) -> list[tuple[int, int, int]]:
    """Cuts of the :func:`_frames` buffer into runs of whole frames of about ``chunk``
    bytes: (start, end, messages)."""
    cuts: list[tuple[int, int, int]] = []
    pos = start = n = 0
    usable = len(msgs) - len(msgs) % k or len(msgs)
    for i in range(0, usable, k):
        part = msgs[i : i + k]
        pos += frame_size(2 + sum(map(len, part)) + len(part) - 1)
        n += len(part)
        if pos - start >= chunk:
            cuts.append((start, pos, n))
            start, n = pos, 0
    if pos > start:
        cuts.append((start, pos, n))
    return cuts


class _Writer:
    """Writes whole frames to the connection: raw transport when available, else ``send``."""

    def __init__(self, cs: ClientSession, progress: Progress, stats: SenderStats) -> None:
        self.cs = cs
        t = cs.transport
        self.transport = t if isinstance(t, asyncio.WriteTransport) else None
        self.progress = progress
        self.stats = stats

    async def write(
        self, frames: bytes | memoryview, messages: int, payloads: list[bytes] | None = None
    ) -> None:
        t = self.transport
        if t is not None:
            if t.is_closing():
                raise ConnectionError("connection closed")
            if t.get_write_buffer_size() > _HIGH_WATER:
                t0 = time.monotonic()
                while t.get_write_buffer_size() > _HIGH_WATER:
                    await asyncio.sleep(0.0005)
                    if t.is_closing():
                        raise ConnectionError("connection closed")
                self.stats.blocked_s += time.monotonic() - t0
            t.write(frames)
        else:
            for p in payloads or ():
                await self.cs._send(p)
        self.progress.bytes += len(frames)
        self.progress.sent += messages


async def send_fast(
    cs: ClientSession, spec: BenchSpec, msgs: list[bytes], progress: Progress
) -> None:
    """A :data:`ertcloud.sim.bench.BenchSender` for measurements (see the module)."""
    stats = SenderStats(spec.rate, spec.per_frame)
    t0, c0 = time.monotonic(), time.process_time()
    try:
        await _send(cs, spec, msgs, _Writer(cs, progress, stats))
    finally:
        stats.sent = progress.sent
        stats.seconds = time.monotonic() - t0
        stats.cpu_s = time.process_time() - c0
        _write_stats(stats)


async def _send(cs: ClientSession, spec: BenchSpec, msgs: list[bytes], w: _Writer) -> None:
    progress = w.progress
    limit = spec.messages or 1 << 62
    deadline = time.monotonic() + spec.seconds if spec.seconds > 0 else float("inf")
    if spec.rate <= 0 and not spec.stamp and w.transport is not None:
        view = memoryview(_frames(msgs, spec.per_frame))
        chunks = [(view[a:b], n) for a, b, n in _frame_cuts(msgs, spec.per_frame, _CHUNK)]
        while progress.sent < limit and time.monotonic() < deadline and not cs.closed:
            for chunk, n in chunks:
                if limit - progress.sent < n:
                    break
                await w.write(chunk, n)
            else:
                await asyncio.sleep(0)
                continue
            break
        if progress.sent >= limit or time.monotonic() >= deadline:
            return
    await _paced(cs, spec, msgs, w, limit - progress.sent, deadline)  # the rest, if any


async def _paced(
    cs: ClientSession,
    spec: BenchSpec,
    msgs: list[bytes],
    w: _Writer,
    limit: int,
    deadline: float,
) -> None:
    stamped = [m[:-1] + b',"SimTs":' for m in msgs] if spec.stamp else None
    if spec.rate > 0:
        fine_timers()
    k = spec.per_frame
    rate = spec.rate if spec.rate > 0 else 1e12
    sent = 0
    i = 0
    n_msgs = len(msgs)
    now_ns = time.time_ns
    start = time.monotonic()
    while sent < limit and not cs.closed:
        now = time.monotonic()
        if now >= deadline:
            break
        late = now - (start + (sent + k) / rate)  # how late the next frame is
        if spec.rate > 0 and late > MAX_CATCH_UP:
            # Behind by more than a few frames (the process was not running): slip the
            # schedule so that the next frame is due now, rather than a burst.
            start += late
            w.stats.slips += 1
            w.stats.slipped_s += late
        due = min(int((now - start) * rate) - sent, 4096)
        due = limit - sent if due >= limit - sent else due - due % k  # whole frames
        if due <= 0:
            # The event loop cannot sleep less than a millisecond (epoll), which would send
            # a paced stream in bursts; a wait under 2 ms is a short blocking sleep, so that
            # frames leave one by one, on time. (Spinning instead would keep a core busy
            # and, on a VM with a CPU quota, get both processes throttled.)
            wait = start + (sent + k) / rate - now
            if wait > 0.002:
                await asyncio.sleep(wait - 0.0015)
            else:
                time.sleep(max(0.0, wait))  # noqa: ASYNC251  (under 2 ms, on purpose)
            continue
        frames: list[bytes] = []
        payloads: list[bytes] = []
        batch = 0
        while due > 0:
            kk = min(k, due)  # only the last frame of a Messages limit can be short
            if stamped is not None:
                ts = b"%d}" % now_ns()
                part = [stamped[(i + j) % n_msgs] + ts for j in range(kk)]
            else:
                part = [msgs[(i + j) % n_msgs] for j in range(kk)]
            payload = b"[" + b",".join(part) + b"]"
            i += kk
            batch += kk
            due -= kk
            frames.append(ws_frame(payload))
            payloads.append(payload)
        if frames:
            if spec.rate > 0:
                w.stats.lag_ns.append(int(late * 1e9))
                w.stats.max_burst = max(w.stats.max_burst, len(frames))
                w.stats.writes += 1
            await w.write(b"".join(frames), batch, payloads)
            sent += batch
        await asyncio.sleep(0)
