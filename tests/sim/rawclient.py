"""A bare tr_json2 client for driving the simulator in tests (conformance cases)."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from ertcloud.sim.server import SimServer

__all__ = ["Raw", "connect", "token"]


class Raw:
    """A bare tr_json2 client: sends JSON text, collects every received message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.frames: list[Any] = []
        self.frame_sizes: list[int] = []

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def next(self, pred: Any = None, timeout: float = 5) -> dict[str, Any]:
        """The first not-yet-consumed message matching ``pred``."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.received):
                if pred is None or pred(m):
                    return self.received.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message; have {self.received[-5:]}")
            await self._read(left)

    async def _read(self, timeout: float) -> None:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"connection ended: {msg.type}")
        self.frame_sizes.append(len(msg.data.encode()))
        frame = json.loads(msg.data)
        self.frames.append(frame)
        assert isinstance(frame, list), "servers always send arrays"
        self.received.extend(frame)

    async def drain(self, quiet: float = 0.5) -> None:
        """Read until nothing has arrived for ``quiet`` seconds."""
        while True:
            try:
                await self._read(quiet)
            except TimeoutError:
                return

    async def collect(self, seconds: float) -> None:
        """Read whatever arrives for ``seconds`` (for busy streams, where :meth:`drain`
        would never see a quiet moment)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                await self._read(left)
            except TimeoutError:
                return

    async def login(self, token: str, login_id: int = 1) -> dict[str, Any]:
        await self.send(
            {
                "ID": login_id,
                "Domain": "Login",
                "Key": {
                    "NameType": "AuthnToken",
                    "Elements": {
                        "ApplicationId": "256",
                        "Position": "127.0.0.1/test",
                        "AuthenticationToken": token,
                    },
                },
            }
        )
        return await self.next(lambda m: m.get("ID") == login_id)


async def token(
    sim: SimServer, http: aiohttp.ClientSession, user: str = "demo", password: str = "demo"
) -> str:
    async with http.post(
        sim.token_url,
        data={
            "username": user,
            "password": password,
            "client_id": "x",
            "grant_type": "password",
            "scope": "trapi",
            "takeExclusiveSignOnControl": "True",
        },
    ) as r:
        assert r.status == 200
        body = await r.json()
    return str(body["access_token"])


async def connect(
    sim: SimServer, http: aiohttp.ClientSession, user: str = "demo", password: str = "demo"
) -> Raw:
    """A logged-in raw connection."""
    t = await token(sim, http, user, password)
    ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
    r = Raw(ws)
    refresh = await r.login(t)
    assert refresh["Type"] == "Refresh", refresh
    return r
