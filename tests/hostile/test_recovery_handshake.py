"""A reconnect whose WebSocket handshake fails (the server hangs up mid-handshake, answers
an HTTP error, or accepts no sub-protocol) is retried on both transports, and a protocol
error leaves ``Session.close()`` quiet with the HTTP session closed (picows parity)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from support import until as _until

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.sim.server import SimServer

TRANSPORTS = ["aiohttp", "picows"]
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"


class ScriptedFront:
    """A TCP front of the simulator. Each new connection plays the next step of
    ``script``: "pass" pipes it to the simulator, "close" hangs up once the upgrade
    request is read, "http503" answers an HTTP error, "no-protocol" accepts the upgrade
    without a sub-protocol. Past the script, every connection is piped."""

    def __init__(self, target_port: int, script: list[str]) -> None:
        self.target_port = target_port
        self.script = list(script)
        self.played: list[str] = []
        self.piped: list[asyncio.StreamWriter] = []  # client side of each piped connection
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def __aenter__(self) -> ScriptedFront:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for w in self.piped:
            w.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/WebSocket"

    def drop_all(self) -> None:
        """Hang up on every piped connection (the server went away)."""
        for w in self.piped:
            w.close()

    def inject(self, data: bytes) -> None:
        """Write raw bytes to the client on the newest piped connection."""
        self.piped[-1].write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        step = self.script.pop(0) if self.script else "pass"
        self.played.append(step)
        if step == "pass":
            await self._pipe(reader, writer)
            return
        request = await reader.readuntil(b"\r\n\r\n")
        if step == "http503":
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
        elif step == "no-protocol":
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            await writer.drain()
            await reader.read()  # until the client gives up on it
        writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.piped.append(writer)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        tasks = [
            asyncio.ensure_future(copy(reader, up_writer)),
            asyncio.ensure_future(copy(up_reader, writer)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def front_for(sim: SimServer) -> AsyncIterator[Callable[[list[str]], Any]]:
    fronts: list[ScriptedFront] = []

    async def make(script: list[str]) -> ScriptedFront:
        f = ScriptedFront(sim.port, script)
        await f.__aenter__()
        fronts.append(f)
        return f

    yield make
    for f in fronts:
        await f.__aexit__()


def _session(sim: SimServer, url: str, transport: str, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "hs"))
    return Session(url, tokens=tokens, transport=transport, connect_timeout=5.0, **kw)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("failure", ["close", "http503", "no-protocol"])
async def test_a_failed_reconnect_handshake_is_retried(
    sim: SimServer, front_for: Callable[[list[str]], Any], transport: str, failure: str
) -> None:
    front: ScriptedFront = await front_for(["pass", failure, failure])
    async with _session(sim, front.url, transport) as session:
        sub = session.subscribe("TRI.N", on_refresh=lambda e: None, on_update=lambda e: None)
        await _until(lambda: sub.streams[0].refreshes == 1, 10, "the first refresh")
        front.drop_all()
        await _until(lambda: sub.streams[0].refreshes >= 2, 10, "a refresh after the reconnect")
        assert front.played[:3] == ["pass", failure, failure]
        assert session.recoveries == 1 and session.fatal is None
        updates = sub.streams[0].updates
        await _until(lambda: sub.streams[0].updates > updates, 10, "updates after recovery")
        assert not session.closed_by_itself


@pytest.mark.parametrize("reconnect", [False, True])
async def test_picows_close_after_a_protocol_error_is_quiet_and_closes_http(
    sim: SimServer, front_for: Callable[[list[str]], Any], reconnect: bool
) -> None:
    front: ScriptedFront = await front_for([])
    session = _session(sim, front.url, "picows", reconnect=reconnect)
    await session.start()
    http = session._http
    assert isinstance(http, aiohttp.ClientSession)
    try:
        sub = session.subscribe("TRI.N", on_refresh=lambda e: None, on_update=lambda e: None)
        await _until(lambda: sub.streams[0].refreshes == 1, 10, "the first refresh")
        ws = session._ws
        assert ws is not None
        front.inject(b"\x8f\x00")  # a frame with a reserved opcode: a protocol error
        await _until(lambda: ws.closed, 10, "the connection to end")
        if reconnect:
            await _until(lambda: sub.streams[0].refreshes >= 2, 10, "recovery")
            assert session.recoveries == 1
        else:
            await asyncio.wait_for(session.wait_closed(), 10)
        assert session.fatal is None
    finally:
        await session.close()  # must not raise
    assert http.closed
