"""A server sending one enormous message costs the client bounded memory, on both
transports: the message is refused once past the size limit (a 200 MB frame from its
header, a 600 MB fragmented message as soon as the fragments pass the limit), a
ProtocolViolation carrying the limit is reported, and the session reconnects and
requests its item again. The client runs in a child process whose peak RSS is read."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .client_limits_server import Conn, HostileServer, filler

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
