"""A server sending one enormous message costs the client bounded memory, on both
transports: the message is refused once past the size limit (a 200 MB frame from its
header, a 600 MB fragmented message as soon as the fragments pass the limit), a
ProtocolViolation carrying the limit is reported, and the session reconnects and
requests its item again. The client runs in a child process whose peak RSS is read. And
the server is told why, with a CLOSE of code 1009."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ertcloud import Session
from ertcloud.protocol.events import Event, ProtocolViolation

from .client_limits_server import CONTINUATION, TEXT, Conn, HostileServer, filler

PROBE = Path(__file__).with_name("client_limits_probe.py")
MB = 1024 * 1024
PEAK_RSS_LIMIT_KB = 100 * 1024
TRANSPORTS = ["aiohttp", "picows"]


async def huge_frame(conn: Conn, ids: list[int]) -> None:
    if conn.number == 1:
        await conn.stream_frame(200 * MB, filler())


async def huge_fragmented_message(conn: Conn, ids: list[int]) -> None:
    if conn.number == 1:
        await conn.stream_fragments(600 * MB, fragment=MB)


async def run_probe(url: str, transport: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        url,
        transport,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    print(transport, result)  # the figures, for -s runs
    return result


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("script", "size"), [(huge_frame, 200 * MB), (huge_fragmented_message, 600 * MB)]
)
async def test_enormous_message_costs_bounded_memory_then_reconnects(
    transport: str, script: Any, size: int
) -> None:
    async with HostileServer(script) as server:
        result = await run_probe(server.url, transport)
        first, second = server.conns[0], server.conns[1]
    assert result["peak_rss_kb"] < PEAK_RSS_LIMIT_KB, result
    assert result["violations"], result
    assert result["violations"][0]["limit"] == 4 * MB
    assert "max_message_size" in result["violations"][0]["reason"]
    # Refused early: far less than the message was sent before the client hung up.
    assert first.bytes_sent < size // 4, first.bytes_sent
    # Reconnected and requested the item again, which came back.
    assert result["recoveries"] >= 1 and result["refreshes"] >= 2 and result["open"], result
    names = [m.get("Key", {}).get("Name") for m in second.messages]
    assert "HOSTILE.N" in names


async def fragments_past_the_limit(conn: Conn, ids: list[int]) -> None:
    """64 KiB fragments of one message, to just past 256 KiB, then nothing: the client has
    read all there is when it refuses the message."""
    if conn.number == 1:
        for n in range(5):
            await conn.stream_frame(64 * 1024, filler(), TEXT if n == 0 else CONTINUATION, False)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fragments_past_the_limit_are_refused_with_close_code_1009(transport: str) -> None:
    """The server learns why: a CLOSE with 1009 (message too big) on either transport."""
    events: list[Event] = []
    async with HostileServer(fragments_past_the_limit) as server:
        async with Session(
            server.url, transport=transport, max_message_size=256 * 1024, on_event=events.append
        ) as session:
            session.subscribe("HOSTILE.N", queue=False)
            for _ in range(400):
                if len(server.conns) >= 2:
                    break
                await asyncio.sleep(0.025)
        first = server.conns[0]
    assert any(isinstance(e, ProtocolViolation) and e.limit == 256 * 1024 for e in events)
    assert first.close_code == 1009
