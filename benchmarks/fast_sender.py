"""The bench mode's fast sender: how the benchmarks' simulator writes bench streams.

The simulator's own sender (:func:`ertcloud.sim.bench.send_plain`) writes each frame through
the connection's ordinary send path and paces with the event loop's timers. This one, which
:func:`install` puts in its place (``python -m benchmarks.simulator`` does so before it
starts ``ertcloud sim``), removes what the measurement would otherwise see of the sender:

* unpaced streams are framed once into one buffer and written in 256 KB chunks straight to
  the transport (the cost per message is the kernel's copy);
* paced streams (``Rate``) send each frame when it is due: a wait under 2 ms is a short
  blocking sleep (the event loop cannot sleep less than a millisecond) and the thread asks
  Linux for 1 us of timer slack instead of the default 50 us (``prctl``).
"""

from __future__ import annotations

import asyncio
import ctypes
import struct
import sys
import time
from typing import TYPE_CHECKING

from ertcloud.sim import bench
from ertcloud.sim.bench import BenchSpec, Progress, frame_size

if TYPE_CHECKING:
    from ertcloud.sim.ads import ClientSession

__all__ = ["fine_timers", "install", "send_fast", "ws_frame"]

_HIGH_WATER = 4 * 1024 * 1024
_CHUNK = 256 * 1024
_PR_SET_TIMERSLACK = 29


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

    def __init__(self, cs: ClientSession, progress: Progress) -> None:
        self.cs = cs
        t = cs.transport
        self.transport = t if isinstance(t, asyncio.WriteTransport) else None
        self.progress = progress

    async def write(
        self, frames: bytes | memoryview, messages: int, payloads: list[bytes] | None = None
    ) -> None:
        t = self.transport
        if t is not None:
            if t.is_closing():
                raise ConnectionError("connection closed")
            while t.get_write_buffer_size() > _HIGH_WATER:
                await asyncio.sleep(0.0005)
                if t.is_closing():
                    raise ConnectionError("connection closed")
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
    w = _Writer(cs, progress)
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
            await w.write(b"".join(frames), batch, payloads)
            sent += batch
        await asyncio.sleep(0)
