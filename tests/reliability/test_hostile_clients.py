"""Many hostile clients against the real simulator while a well-behaved client keeps
receiving updates: the simulator answers with Error messages or drops the offender, and
keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import aiohttp

from ertcloud.sim.server import SimServer

from .helpers import eventually, session_for

GARBAGE: list[tuple[aiohttp.WSMsgType, bytes]] = [
    (aiohttp.WSMsgType.TEXT, b"not json at all"),
    (aiohttp.WSMsgType.BINARY, b"\xff\xfe\xfd" + os.urandom(32)),
    (aiohttp.WSMsgType.TEXT, b"[" * 5000 + b"]" * 5000),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 5, "Type": "Bogus"}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": "five", "Key": {"Name": 7}}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 6, "Domain": "NoSuchDomain", "Key": {"Name": "TRI.N"}}'),
    (
        aiohttp.WSMsgType.TEXT,
        b'[{"ID": 7, "Key": {"Name": "TRI.N"}}, {"ID": 7, "Key": {"Name": "IBM.N"}}]',
    ),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 8, "Key": {"Name": "\\u682a\\u5f0f \\u001b%0"}}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 9, "Type": "Close"}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 123456, "Type": "Close"}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 10, "Type": "Post", "Message": 5}'),
    (aiohttp.WSMsgType.TEXT, b'{"ID": 11, "View": {"x": 1}, "Key": {"Name": "TRI.N"}}'),
    (aiohttp.WSMsgType.TEXT, b"null"),
]


async def _hostile(
    sim: SimServer, http: aiohttp.ClientSession, n: int, token: str
) -> dict[str, Any]:
    """One hostile client; returns what happened to it."""
    replies: list[dict[str, Any]] = []
    async with http.ws_connect(sim.websocket_url, protocols=("tr_json2",)) as ws:
        if n % 2:  # half of them log in first, the others are hostile from the start
            login = {
                "ID": 1,
                "Domain": "Login",
                "Key": {"Elements": {"AuthenticationToken": token, "ApplicationId": "256"}},
            }
            await ws.send_str(json.dumps(login))
        for kind, frame in GARBAGE[n % 3 :]:
            if ws.closed:
                break
            await ws.send_frame(frame, kind)
        if n % 5 == 0:  # over MaxMsgSize: the server drops this connection
            await ws.send_str("x" * (sim.streaming.config.max_msg_size + 10))
        try:
            async with asyncio.timeout(5) if hasattr(asyncio, "timeout") else _nullcontext():
                while True:
                    msg = await ws.receive(timeout=1.0)
                    if msg.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                    ):
                        break
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        replies.extend(json.loads(msg.data))
        except (asyncio.TimeoutError, TimeoutError):
            pass
        return {"errors": sum(1 for m in replies if m.get("Type") == "Error"), "closed": ws.closed}


class _nullcontext:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_simulator_keeps_serving_through_hostile_clients(make_sim) -> None:
    async with (
        make_sim(server={"rate": 20.0}, users={"demo": "demo", "evil": "evil"}) as sim,
        session_for(sim) as good,
    ):
        sub = good.subscribe(["TRI.N", "EUR="], queue=False, on_update=lambda e: None)
        await sub.wait_complete(timeout=20)
        before = sum(s.updates for s in sub.streams)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                sim.token_url,
                data={
                    "grant_type": "password",
                    "username": "evil",
                    "password": "evil",
                    "client_id": "x",
                    "scope": "trapi",
                    "takeExclusiveSignOnControl": "true",
                },
            ) as r:
                token = (await r.json())["access_token"]
            results = await asyncio.gather(*(_hostile(sim, http, n, token) for n in range(30)))
        assert all(r["errors"] > 0 or r["closed"] for r in results)
        assert sum(r["errors"] for r in results) >= 100
        assert any(r["closed"] for r in results)
        after = sum(s.updates for s in sub.streams)
        assert after > before
        assert good.connects == 1  # never disturbed
        await eventually(
            lambda: sum(s.updates for s in sub.streams) > after + 10, what="more updates"
        )
        await eventually(lambda: len(sim.streaming.sessions) == 1, what="hostile connections gone")
        sim.streaming.config.rate = 0
        await eventually(  # the updates in flight have landed
            lambda: all(s.fields == sim.market.get(s.name).image for s in sub.streams),  # type: ignore[union-attr]
            what="the images",
        )
        for s in sub.streams:
            assert s.fields == sim.market.get(s.name).image  # type: ignore[union-attr]
        reports = await good.verify(sub)
        assert all(r.ok for r in reports), reports
