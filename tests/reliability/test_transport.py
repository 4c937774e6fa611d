"""Transport security: proxies from the environment (a tiny local proxy: absolute-form
HTTP and CONNECT), TLS with verification, a simulator bound to loopback that refuses
expired tokens and tokens of other users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.exceptions import ConnectError, LoginRejected
from ertcloud.sim.server import SimOptions, SimServer

from .helpers import session_for


class Proxy:
    """A forward proxy on loopback: records each request line, then relays bytes."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        with contextlib.suppress(Exception):
            w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        head = await r.readuntil(b"\r\n\r\n")
        first, _, rest = head.partition(b"\r\n")
        method, target, version = first.decode().split(" ")
        self.requests.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            ur, uw = await asyncio.open_connection(host, int(port))
            w.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            hostport, _, path = target.split("://", 1)[1].partition("/")
            host, port = hostport.rsplit(":", 1)
            ur, uw = await asyncio.open_connection(host, int(port))
            uw.write(f"{method} /{path} {version}\r\n".encode() + rest)
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Proxy]:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with Proxy() as p:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY"):
            monkeypatch.setenv(name, p.url)
        yield p


TRANSPORTS = ("aiohttp", "picows")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_http_goes_through_http_proxy(
    proxy: Proxy, sim: SimServer, transport: str
) -> None:
    async with session_for(sim, transport=transport) as session:
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(timeout=20)
    assert f"POST {sim.token_url}" in proxy.requests
    if transport == "aiohttp":  # the upgrade request in absolute form
        assert any(r.startswith("GET ") and r.endswith("/WebSocket") for r in proxy.requests)
    else:  # a tunnel, as RFC 6455 (4.1) has a client do through a proxy
        assert f"CONNECT 127.0.0.1:{sim.port}" in proxy.requests


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tls_goes_through_connect_proxy(proxy: Proxy, transport: str) -> None:
    async with SimServer(SimOptions(port=0, tls_self_signed=True)) as sim:
        ctx = ssl.create_default_context(cafile=sim.cert_file)
        tokens = TokenManager(
            TokenClient(sim.token_url, ssl_context=ctx), PasswordCredentials("demo", "demo", "a")
        )
        async with Session(
            sim.websocket_url, tokens=tokens, ssl_context=ctx, transport=transport
        ) as session:
            sub = session.subscribe("TRI.N")
            await sub.wait_complete(timeout=20)
        assert f"CONNECT 127.0.0.1:{sim.port}" in proxy.requests
        # verification is on by default: without the CA the same server is refused
        untrusted = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "a")
        )
        with pytest.raises(Exception, match="certificate"):
            async with Session(sim.websocket_url, tokens=untrusted, transport=transport):
                pass


def test_simulator_binds_loopback_by_default() -> None:
    assert SimOptions().host == "127.0.0.1"


async def test_simulator_listens_on_loopback_only(sim: SimServer) -> None:
    assert sim.options.host == "127.0.0.1"
    assert sim.websocket_url.startswith("ws://127.0.0.1:")


async def _token(http: aiohttp.ClientSession, sim: SimServer, user: str) -> str:
    form = {
        "grant_type": "password",
        "username": user,
        "password": user,
        "client_id": "x",
        "scope": "trapi",
        "takeExclusiveSignOnControl": "true",
    }
    async with http.post(sim.token_url, data=form) as r:
        return str((await r.json())["access_token"])


async def test_simulator_refuses_expired_and_foreign_tokens(make_sim) -> None:
    async with (
        make_sim(users={"alice": "alice", "bob": "bob"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        bob = await _token(http, sim, "bob")
        alice_tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("alice", "alice", "a")
        )
        async with Session(sim.websocket_url, tokens=alice_tokens, reconnect=False) as session:
            # a token reissue with bob's token on alice's login is refused
            session.protocol.reissue_token(bob)
            await session._flush()
            await asyncio.wait_for(session._closed.wait(), 20)
            assert isinstance(session.fatal, LoginRejected)
            assert "another user" in str(session.fatal)
        # an expired token is refused at login
        sim.gateway.expire_all()
        async with http.ws_connect(sim.websocket_url, protocols=("tr_json2",)) as ws:
            await ws.send_str(
                json.dumps(
                    {"ID": 1, "Domain": "Login", "Key": {"Elements": {"AuthenticationToken": bob}}}
                )
            )
            reply = json.loads((await ws.receive(timeout=10)).data)
        [refresh] = reply
        assert refresh["State"]["Stream"] in ("Closed", "ClosedRecover")
        assert "expired" in refresh["State"]["Text"]
        with pytest.raises((LoginRejected, ConnectError)):
            async with Session(sim.websocket_url, reconnect=False):
                pass  # no token at all
