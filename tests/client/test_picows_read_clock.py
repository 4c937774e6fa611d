"""The compiled picows listener's receipt time: the frames of one read (picows'
``buffer_updated`` through the compiled ``ChunkedReads``) share one clock read made when the
read is handed over; a frame outside such a read gets a clock read of its own."""

from __future__ import annotations

import time
from typing import Any

import pytest

picows = pytest.importorskip("picows")

from ertcloud.client import transport_picows as tp  # noqa: E402

pytestmark = pytest.mark.skipif(tp._COMPILED is None, reason="the compiled listener is not used")

make_frame = picows.picows._make_test_ws_frame
TEXT = picows.WSMsgType.TEXT


class _Ws:
    """What the listener calls on its connection besides the handler."""

    def __init__(self) -> None:
        self.failed: list[BaseException] = []

    def _fail(self, transport: Any, exc: BaseException) -> None:
        self.failed.append(exc)

    def _frame(self, transport: Any, frame: Any) -> None:
        raise AssertionError("only whole TEXT frames in these tests")


class _Picows:
    """picows' protocol as far as ChunkedReads uses it: a read's ``buffer_updated`` gives
    the listener the frames queued for it."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener
        self.buf = bytearray(64)
        self.pending: list[bytes] = []
        self.fail: BaseException | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        frames, self.pending = self.pending, []
        for payload in frames:
            self.listener.on_ws_frame(None, make_frame(TEXT, payload, True, False))
        if self.fail is not None:
            raise self.fail

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        pass

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def rig() -> tuple[Any, _Picows, list[tuple[bytes, float]], _Ws]:
    from ertcloud.client._picows_listener import ChunkedReads

    assert tp._COMPILED is not None
    ws = _Ws()
    listener = tp._COMPILED(ws)
    got: list[tuple[bytes, float]] = []

    def receive(data: bytes, now: float) -> list[Any]:
        got.append((data, now))
        return []

    listener.receive_directly(receive, set(), lambda events: None)
    listener.handler = lambda data: None  # set: the listener delivers
    inner = _Picows(listener)
    return ChunkedReads(inner, 32), inner, got, ws


def test_the_frames_of_one_read_share_the_time_of_the_read() -> None:
    reads, inner, got, ws = rig()
    inner.pending = [b"a", b"b", b"c"]
    t0 = time.monotonic()
    reads.buffer_updated(3)
    t1 = time.monotonic()
    assert [d for d, _ in got] == [b"a", b"b", b"c"]
    times = {now for _, now in got}
    assert len(times) == 1 and t0 <= times.pop() <= t1
    inner.pending = [b"d", b"e"]
    reads.buffer_updated(2)  # the next read: its own time
    assert got[3][1] == got[4][1] >= t1
    assert not ws.failed


def test_a_frame_outside_a_read_reads_the_clock_itself() -> None:
    reads, inner, got, ws = rig()
    inner.pending = [b"a"]
    reads.buffer_updated(1)
    t = time.monotonic()
    inner.listener.on_ws_frame(None, make_frame(TEXT, b"x", True, False))
    assert got[-1][0] == b"x" and got[-1][1] >= t
    inner.pending = [b"b"]
    inner.fail = RuntimeError("picows failed")
    with pytest.raises(RuntimeError):
        reads.buffer_updated(1)
    t = time.monotonic()
    inner.listener.on_ws_frame(None, make_frame(TEXT, b"y", True, False))
    assert got[-1][0] == b"y" and got[-1][1] >= t  # not the failed read's time
    assert not ws.failed
