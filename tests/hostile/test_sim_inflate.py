"""Compressed frames that inflate far past MaxMsgSize are refused without the simulator
ever holding them: its peak RSS stays within a bound."""

from __future__ import annotations

import zlib

from .sim_hardening_support import (
    health,
    memory_kb,
    peer_closed,
    raw_websocket,
    start_sim,
    stop_sim,
    ws_frame,
)

#: how much the simulator's peak RSS may grow while being sent the bombs
RSS_BOUND_KB = 40_000


def _deflated(size: int) -> bytes:
    """permessage-deflate payload of ``size`` spaces (about 1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * (1 << 20)
    out = bytearray()
    for _ in range(size // len(chunk)):
        out += c.compress(chunk)
    out += c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return bytes(out[:-4])


def test_compressed_bombs_are_refused_without_inflating_them() -> None:
    sp = start_sim()
    try:
        small_bomb = _deflated(48 << 20)  # ~48 KB on the wire (< MaxMsgSize), 48 MB inflated
        big_bomb = _deflated(200 << 20)  # ~200 KB on the wire, 200 MB inflated
        assert len(small_bomb) < 61430 < len(big_bomb)
        health(sp)
        before = memory_kb(sp.proc.pid)
        for n in range(8):
            sock = raw_websocket(sp.port, deflate=True)
            try:
                sock.sendall(ws_frame(small_bomb if n % 2 else big_bomb, rsv1=True))
                assert peer_closed(sock, 10), "the connection was not closed"
            finally:
                sock.close()
        after = memory_kb(sp.proc.pid)
        grew = after["VmHWM"] - before["VmHWM"]
        print(f"simulator peak RSS {before['VmHWM']} kB -> {after['VmHWM']} kB (+{grew} kB)")
        assert grew < RSS_BOUND_KB, (before, after)
        assert health(sp)["connections"] == 0  # and it still serves
    finally:
        stop_sim(sp)
