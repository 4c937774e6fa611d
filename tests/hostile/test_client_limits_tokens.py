"""Nonsense from the token gateway (``expires_in`` of "0", "abc", NaN, a hundredth of a
second, a million years) and a huge advertised PingTimeout: the client neither hammers the
gateway and the login stream, nor waits forever on a silent server."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from support import TRANSPORTS

from ertcloud import AuthenticationError, PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.auth.grants import MAX_TOKEN_LIFETIME, parse_token
from ertcloud.protocol.login import MAX_PING_TIMEOUT, MIN_PING_TIMEOUT, LoginParams, LoginStream
from ertcloud.protocol.messages import Key, Refresh, State

from .client_limits_server import Conn, HostileServer


class CountingGateway:
    """A token endpoint whose first grant lives ``first`` seconds and every later one
    ``later`` (raw ``expires_in`` values); it counts the grants."""

    def __init__(self, first: Any, later: Any) -> None:
        self.first, self.later = first, later
        self.grants: list[str] = []
        self.url = ""

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.grants.append(str(form.get("grant_type")))
        expires = self.first if len(self.grants) == 1 else self.later
        body = {"access_token": f"AT{len(self.grants)}", "refresh_token": "RT"}
        return web.json_response({**body, "expires_in": expires, "token_type": "Bearer"})


@pytest.fixture
async def gateway_factory() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(first: Any, later: Any) -> CountingGateway:
        gw = CountingGateway(first, later)
        app = web.Application()
        app.router.add_post("/token", gw.token)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        gw.url = f"http://127.0.0.1:{runner.addresses[0][1]}/token"
        return gw

    yield start
    for r in runners:
        await r.cleanup()


async def quiet(conn: Conn, ids: list[int]) -> None:
    """After the item's Refresh, nothing."""


def tokens_for(gw: CountingGateway) -> TokenManager:
    return TokenManager(TokenClient(gw.url), PasswordCredentials("user", "secret", "app"))


@pytest.mark.parametrize("bad", ["0", "abc", "-5", "nan", 0, None, True])
async def test_a_nonsense_first_lifetime_is_a_one_line_error_not_a_loop(
    gateway_factory: Any, bad: Any
) -> None:
    gw = await gateway_factory(bad, bad)
    async with HostileServer(quiet) as server:
        with pytest.raises(AuthenticationError) as exc:
            await Session(server.url, tokens=tokens_for(gw)).start()
        await asyncio.sleep(0.5)  # a loop on a 0 s lifetime would have logged in by now
        assert server.logins == 0
    text = str(exc.value)
    assert "expires_in" in text and "\n" not in text and "AT1" not in text
    assert len(gw.grants) == 1


@pytest.mark.parametrize("later", ["0", "abc", "nan", "0.01"])
async def test_a_nonsense_renewed_lifetime_does_not_hammer(
    gateway_factory: Any, later: str
) -> None:
    """The first token is fine (1 s); every later grant says nonsense. Refused ones are
    retried with back-off; a hundredth of a second is renewed at most once a second."""
    gw = await gateway_factory("1", later)
    async with (
        HostileServer(quiet) as server,
        Session(server.url, tokens=tokens_for(gw)) as session,
    ):
        session.subscribe("HOSTILE.N", queue=False, on_refresh=lambda ev: None)
        await asyncio.sleep(2.5)
        assert not session.closed_by_itself
        reissues = server.logins - 1
        grants = len(gw.grants)
    # Renewal starts at 1 s (0.9 s, but not sooner than MIN_RENEW_INTERVAL after the
    # grant): 1.5 s of renewals, about one attempt a second at the very most.
    assert 2 <= grants <= 6, gw.grants
    assert reissues <= 3, reissues
    if later != "0.01":
        assert reissues == 0  # no refused token was handed to the server


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("300", 300.0), (7199, 7199.0), ("1e12", MAX_TOKEN_LIFETIME), ("inf", MAX_TOKEN_LIFETIME)],
)
def test_token_lifetime_is_clamped_above(raw: Any, expected: float) -> None:
    assert parse_token({"access_token": "AT", "expires_in": raw}, 0.0).expires_in == expected


def login_with(ping_timeout: Any) -> LoginStream:
    ls = LoginStream(LoginParams())
    ls.login("t")
    ls.receive(
        Refresh(
            id=1,
            domain="Login",
            key=Key(name="u"),
            state=State(stream="Open", data="Ok"),
            elements={"PingTimeout": ping_timeout},
        )
    )
    return ls


@pytest.mark.parametrize(
    ("advertised", "used"),
    [
        (30, 30.0),
        (1e9, MAX_PING_TIMEOUT),
        (math.inf, MAX_PING_TIMEOUT),
        (0.001, MIN_PING_TIMEOUT),
        (math.nan, None),
        (True, None),
    ],
)
def test_advertised_ping_timeout_is_clamped(advertised: Any, used: float | None) -> None:
    assert login_with(advertised).ping_timeout == used


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_silent_server_advertising_a_huge_ping_timeout_is_detected(transport: str) -> None:
    """PingTimeout 1e9 and then silence (our Pings unanswered): the clamped timeout
    (lowered here from 300 s so that the test is quick) drops the connection."""
    async with HostileServer(quiet, ping_timeout=1e9, answer_pings=False) as server:
        session = Session(server.url, transport=transport)
        session.protocol.login.max_ping_timeout = 1.5
        async with session:
            assert session.protocol.ping_timeout == 1.5
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while len(server.conns) < 2:
                assert loop.time() < deadline, "the silent server was never detected"
                await asyncio.sleep(0.05)
        pings = [m for m in server.conns[0].messages if m.get("Type") == "Ping"]
        assert pings  # it pinged, heard nothing, and gave up on the connection
