"""picows reads at most READ_CHUNK bytes at a time, so its read buffer (doubled whenever a read
fills it, never shrunk) does not grow to what the kernel queued behind a burst."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ertcloud.client import transport_picows
from ertcloud.client.transport_picows import READ_CHUNK, _chunked_reads, _ChunkedReads

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


def _wrappers() -> list[Any]:
    out: list[Any] = [_ChunkedReads]
    if transport_picows._COMPILED is not None:  # and the compiled one, where built
        from ertcloud.client._picows_listener import ChunkedReads

        out.append(lambda inner: ChunkedReads(inner, READ_CHUNK))
    return out


@pytest.mark.parametrize("wrap", _wrappers())
def test_a_read_gets_at_most_a_chunk_and_everything_else_goes_to_picows(wrap: Any) -> None:
    inner = _Picows()
    outer = wrap(inner)
    assert isinstance(outer, asyncio.BufferedProtocol)  # what transports test
    view = outer.get_buffer(-1)
    assert len(view) == READ_CHUNK < len(inner.buf)
    view[:3] = b"abc"  # the slice is picows' own buffer
    assert inner.buf[:3] == b"abc"
    view.release()
    del inner.buf[READ_CHUNK // 2 :]  # a buffer under a chunk is given as it is
    small = outer.get_buffer(-1)
    assert len(small) == READ_CHUNK // 2 and bytes(small[:3]) == b"abc"
    small.release()
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
        assert type(proto) is type(_chunked_reads(proto))
        assert len(proto.get_buffer(-1)) <= READ_CHUNK
        sub = session.subscribe(RICS)
        await sub.wait_complete(timeout=20)
        for ric in RICS:  # the frames came through the wrapper whole
            assert sub.records[ric].fields
