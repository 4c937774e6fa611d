"""picows reads at most READ_CHUNK bytes at a time, so its read buffer (doubled whenever a read
fills it, never shrunk) does not grow to what the kernel queued behind a burst."""

from __future__ import annotations

import asyncio
from typing import Any

from ertcloud.client import transport_picows
from ertcloud.client.transport_picows import READ_CHUNK, _ChunkedReads

from .helpers import session_for

RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", "GBP=", "VOD.L", "T.N", "MSFT.O"]


class _Picows(asyncio.BufferedProtocol):
    """What the wrapper forwards to: a buffer of 4 MB free, and a record of the calls."""

    def __init__(self) -> None:
        self.buf = bytearray(4 * 1024 * 1024)
        self.calls: list[tuple[str, Any]] = []

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.calls.append(("buffer_updated", nbytes))

    def eof_received(self) -> bool:
        self.calls.append(("eof_received", None))
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append(("connection_lost", exc))


def test_a_read_gets_at_most_a_chunk_and_everything_else_goes_to_picows() -> None:
    inner = _Picows()
    outer = _ChunkedReads(inner)
    view = outer.get_buffer(-1)
    assert len(view) == READ_CHUNK < len(inner.buf)
    view[:3] = b"abc"  # the slice is picows' own buffer
    assert inner.buf[:3] == b"abc"
    outer.buffer_updated(3)
    assert outer.eof_received() is True
    err = ConnectionResetError()
    outer.connection_lost(err)
    assert inner.calls == [("buffer_updated", 3), ("eof_received", None), ("connection_lost", err)]


async def test_a_picows_connection_reads_in_chunks(make_sim: Any) -> None:
    async with make_sim() as sim, session_for(sim, transport="picows") as session:
        ws = session._ws
        assert isinstance(ws, transport_picows.PicowsWebSocket)
        raw = ws._transport.underlying_transport  # type: ignore[union-attr]
        proto = raw.get_protocol()
        assert type(proto) is _ChunkedReads
        assert len(proto.get_buffer(-1)) <= READ_CHUNK
        sub = session.subscribe(RICS)
        await sub.wait_complete(timeout=20)
        for ric in RICS:  # the frames came through the wrapper whole
            assert sub.records[ric].fields
