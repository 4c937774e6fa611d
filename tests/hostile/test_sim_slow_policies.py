"""The slow-consumer policies: what a client that reads late gets (conflate: exact final
images), and what drop and disconnect do to one that does not read."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ertcloud.protocol.streams import ripple
from ertcloud.sim.server import SimServer

from .sim_hardening_support import (
    health,
    password_token,
    peer_closed,
    stall_client,
    start_sim,
    stop_sim,
    users_file,
    wait_until,
    ws_frame,
)

RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", "GBP=", "VOD.L", "MSFT.O", ".SPX"]


class _LateReader:
    """A WebSocket client on asyncio streams with a small receive buffer, so that not
    reading pushes back on the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> _LateReader:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /WebSocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tr_json2\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, obj: Any) -> None:
        self.writer.write(ws_frame(json.dumps(obj).encode()))

    async def frame(self, timeout: float) -> list[dict[str, Any]] | None:
        """The next text frame's messages (None: nothing within ``timeout``)."""
        try:
            b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        except asyncio.TimeoutError:
            return None
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        payload = await self.reader.readexactly(n)
        assert b0 & 0x0F == 0x1 and b0 & 0x80, "unfragmented text frames only"
        msgs = json.loads(payload)
        assert isinstance(msgs, list)
        return msgs

    def close(self) -> None:
        self.writer.close()


async def test_conflated_client_ends_with_exact_images(make_sim: Callable[..., SimServer]) -> None:
    async with make_sim(server={"rate": 100.0, "send_queue_bytes": 8192}) as sim:
        form = {"grant_type": "password", "username": "demo", "password": "demo"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(sim.token_url, data={**form, "client_id": "x"}) as r,
        ):
            tok = (await r.json())["access_token"]
        c = await _LateReader.connect(sim.port)
        try:
            c.send({"ID": 1, "Domain": "Login", "Key": {"Elements": {"AuthenticationToken": tok}}})
            for n in range(3):  # each item on three streams: more to hold back
                c.send({"ID": 10 + n * 100, "Key": {"Name": RICS}})
            # not reading: the server conflates this connection; a second more of it after
            # the first merged update
            deadline = time.monotonic() + 20
            while not sim.streaming.conflated:
                assert time.monotonic() < deadline, "the connection was never conflated"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)
            assert sim.streaming.conflated > 0
            images: dict[int, dict[str, Any]] = {}
            names: dict[int, str] = {}
            conflation_seen = 0
            stopped = False
            while True:
                msgs = await c.frame(1.0 if stopped else 5.0)  # the server runs in this loop
                if msgs is None:
                    if stopped:
                        break
                    sim.streaming.config.rate = 0  # the market stops; read what is left
                    stopped = True
                    continue
                for m in msgs:
                    sid = m.get("ID")
                    if m.get("Type") == "Refresh" and isinstance(sid, int) and sid >= 10:
                        images[sid] = dict(m.get("Fields", {}))
                        names[sid] = m["Key"]["Name"]
                    elif m.get("Type") == "Update" and sid in images:
                        fields = m.get("Fields", {})
                        if not m.get("DoNotRipple"):
                            ripple(images[sid], fields)
                        images[sid].update(fields)
                        conflation_seen += "ConflationInfo" in m
                if not stopped and sim.streaming.config.rate and len(images) == 3 * len(RICS):
                    sim.streaming.config.rate = 0
                    stopped = True
            assert len(images) == 3 * len(RICS)
            assert conflation_seen > 0
            for sid, image in images.items():
                inst = sim.market.get(names[sid])
                assert inst is not None
                assert image == {k: inst.image.get(k) for k in image}, names[sid]
        finally:
            c.close()


@pytest.mark.parametrize("policy", ["drop", "disconnect"])
async def test_policy_for_a_client_that_does_not_read(tmp_path: Path, policy: str) -> None:
    sp = start_sim(
        "--users-file",
        users_file(tmp_path),
        "--rate",
        "20",
        "--send-queue",
        "16384",
        "--slow-consumer",
        policy,
        "--drain-timeout",
        "3",
        "--ping-timeout",
        "300",
    )
    sock = None
    try:
        tok = await asyncio.to_thread(password_token, sp, "raw", "raw")
        sock = await asyncio.to_thread(stall_client, sp.port, tok)
        if policy == "drop":
            await wait_until(
                lambda: health(sp)["slow_consumers"]["dropped_updates"] > 0, 20, "drops"
            )
        await wait_until(
            lambda: health(sp)["slow_consumers"]["disconnected"] >= 1, 30, "a disconnection"
        )
        assert await asyncio.to_thread(peer_closed, sock, 10)
        counters = (await asyncio.to_thread(health, sp))["slow_consumers"]
        assert counters["conflated_updates"] == 0
    finally:
        if sock is not None:
            sock.close()
        stop_sim(sp)
