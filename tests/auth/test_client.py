"""TokenClient against a real aiohttp token endpoint on 127.0.0.1 (the simulator's gateway,
or scripted answers)."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ertcloud.auth.client import RefreshRejected, TokenClient, TransientAuthError
from ertcloud.auth.grants import ClientCredentials, PasswordCredentials, TokenRequest
from ertcloud.exceptions import AuthenticationError, InvalidCredentials
from ertcloud.sim.gateway import Gateway

V1 = "/auth/oauth2/v1/token"
CREDS = PasswordCredentials("GE-A-0001", "pw", "APPKEY", scope="trapi.streaming.pricing.read")


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Seen:
    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class TokenServer:
    """A token endpoint: scripted answers first, then the simulator's gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.script: list[Scripted] = []
        self.seen: list[Seen] = []
        self.hold: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + V1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.seen.append(Seen(request.method, request.path, form, dict(request.headers)))
        if self.hold is not None:
            await self.hold.wait()
        if self.script:
            s = self.script.pop(0)
            if isinstance(s.body, str):
                return web.Response(status=s.status, text=s.body, headers=s.headers)
            return web.json_response(s.body, status=s.status, headers=s.headers)
        if not request.path.startswith("/auth/oauth2/"):
            return web.json_response({"error": "not_found"}, status=404)
        status, body = self.gateway.token(request.path, form, request.headers.get("Authorization"))
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(clock: Clock) -> Gateway:
    return Gateway(users={"GE-A-0001": "pw"}, clients={"SVC": "S"}, clock=clock)


@pytest.fixture
async def server(gateway: Gateway) -> AsyncIterator[TokenServer]:
    s = TokenServer(gateway)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(server: TokenServer, clock: Clock) -> AsyncIterator[TokenClient]:
    c = TokenClient(server.url, clock=clock, timeout=5.0)
    yield c
    await c.close()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- success -------------------------------------------------------------------------------


async def test_password_grant_success(client: TokenClient, server: TokenServer) -> None:
    t = await client.fetch(TokenRequest.password(CREDS))
    assert t.expires_in == 300.0
    assert t.obtained_at == 1000.0
    assert t.refresh_token
    assert t.scope == "trapi.streaming.pricing.read"
    assert server.gateway.check(t.access_token)[1] == ""
    [seen] = server.seen
    assert seen.method == "POST"
    assert seen.path == V1
    assert seen.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"APPKEY:").decode()
    assert seen.form == {
        "username": "GE-A-0001",
        "password": "pw",
        "client_id": "APPKEY",
        "grant_type": "password",
        "takeExclusiveSignOnControl": "True",
        "scope": "trapi.streaming.pricing.read",
    }


async def test_refresh_grant_success(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    first = await client.fetch(TokenRequest.password(CREDS))
    assert first.refresh_token is not None
    clock.now += 270
    second = await client.fetch(TokenRequest.refresh(CREDS, first.refresh_token))
    assert second.access_token != first.access_token
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.obtained_at == 1270.0
    assert server.seen[1].form == {
        "username": "GE-A-0001",
        "client_id": "APPKEY",
        "refresh_token": first.refresh_token,
        "grant_type": "refresh_token",
    }


async def test_v2_client_credentials_success(gateway: Gateway, server: TokenServer) -> None:
    c = TokenClient(server.base + "/auth/oauth2/v2/token")
    try:
        t = await c.fetch(TokenRequest.client_credentials(ClientCredentials("SVC", "S")))
    finally:
        await c.close()
    assert t.expires_in == 7199.0
    assert t.refresh_token is None
    assert "Authorization" not in server.seen[0].headers
    assert gateway.check(t.access_token)[1] == ""


async def test_shared_http_session_is_not_closed(server: TokenServer) -> None:
    async with aiohttp.ClientSession() as http:
        c = TokenClient(server.url, http=http)
        await c.fetch(TokenRequest.password(CREDS))
        await c.close()
        assert not http.closed
        await c.fetch(TokenRequest.password(CREDS))  # still usable


# -- refusals ------------------------------------------------------------------------------


async def test_wrong_password_is_invalid_credentials(client: TokenClient) -> None:
    bad = PasswordCredentials("GE-A-0001", "wrong", "APPKEY")
    with pytest.raises(InvalidCredentials) as ei:
        await client.fetch(TokenRequest.password(bad))
    assert ei.value.status == 400
    assert not isinstance(ei.value, TransientAuthError | RefreshRejected)
    assert "Invalid username or password." in str(ei.value)


@pytest.mark.parametrize("status", [400, 401])
async def test_password_grant_400_401(
    client: TokenClient, server: TokenServer, status: int
) -> None:
    server.script.append(Scripted(status, {"error": "invalid_client", "error_description": "x"}))
    with pytest.raises(InvalidCredentials) as ei:
        await client.fetch(TokenRequest.password(CREDS))
    assert ei.value.status == status
    assert not isinstance(ei.value, TransientAuthError | RefreshRejected)
    assert len(server.seen) == 1


async def test_missing_client_id_is_invalid_credentials(client: TokenClient) -> None:
    c = PasswordCredentials("GE-A-0001", "pw", "")
    with pytest.raises(InvalidCredentials) as ei:
        await client.fetch(TokenRequest.password(c))
    assert ei.value.status == 401


@pytest.mark.parametrize("status", [400, 401])
async def test_refresh_grant_400_401(client: TokenClient, server: TokenServer, status: int) -> None:
    server.script.append(
        Scripted(status, {"error": "invalid_grant", "error_description": "Refresh token expired."})
    )
    with pytest.raises(RefreshRejected) as ei:
        await client.fetch(TokenRequest.refresh(CREDS, "rt"))
    assert ei.value.status == status
    assert isinstance(ei.value, AuthenticationError)
    assert not isinstance(ei.value, InvalidCredentials | TransientAuthError)
    assert "Refresh token expired." in str(ei.value)


async def test_used_refresh_token_is_rejected_by_gateway(client: TokenClient) -> None:
    first = await client.fetch(TokenRequest.password(CREDS))
    assert first.refresh_token is not None
    await client.fetch(TokenRequest.refresh(CREDS, first.refresh_token))
    with pytest.raises(RefreshRejected):
        await client.fetch(TokenRequest.refresh(CREDS, first.refresh_token))


async def test_v2_bad_secret_is_invalid_credentials(server: TokenServer) -> None:
    c = TokenClient(server.base + "/auth/oauth2/v2/token")
    try:
        with pytest.raises(InvalidCredentials) as ei:
            await c.fetch(TokenRequest.client_credentials(ClientCredentials("SVC", "bad")))
    finally:
        await c.close()
    assert ei.value.status == 401


@pytest.mark.parametrize("status", [403, 404, 410, 451])
@pytest.mark.parametrize("grant", ["password", "refresh_token"])
async def test_final_statuses(
    client: TokenClient, server: TokenServer, status: int, grant: str
) -> None:
    server.script.append(Scripted(status, {"error": "access_denied"}))
    req = TokenRequest.password(CREDS) if grant == "password" else TokenRequest.refresh(CREDS, "r")
    with pytest.raises(AuthenticationError) as ei:
        await client.fetch(req)
    assert type(ei.value) is AuthenticationError
    assert ei.value.status == status
    assert len(server.seen) == 1


# -- transient failures --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (503, "7", 7.0),
        (429, "2.5", 2.5),
        (503, None, None),
        (500, None, None),
        (502, "Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
async def test_transient_statuses(
    client: TokenClient,
    server: TokenServer,
    status: int,
    retry_after: str | None,
    expected: float | None,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    server.script.append(Scripted(status, "Service Unavailable", headers))
    with pytest.raises(TransientAuthError) as ei:
        await client.fetch(TokenRequest.password(CREDS))
    assert ei.value.status == status
    assert ei.value.retry_after == expected
    assert "Service Unavailable" in str(ei.value)
    assert len(server.seen) == 1


async def test_gateway_fail_status_knob(
    client: TokenClient, server: TokenServer, gateway: Gateway
) -> None:
    gateway.fail_status = 503
    with pytest.raises(TransientAuthError) as ei:
        await client.fetch(TokenRequest.password(CREDS))
    assert ei.value.status == 503
    assert "Simulated gateway failure." in str(ei.value)
    gateway.fail_status = None
    assert (await client.fetch(TokenRequest.password(CREDS))).access_token


async def test_network_error_is_transient() -> None:
    c = TokenClient(f"http://127.0.0.1:{closed_port()}{V1}", timeout=5.0)
    try:
        with pytest.raises(TransientAuthError) as ei:
            await c.fetch(TokenRequest.password(CREDS))
    finally:
        await c.close()
    assert ei.value.status is None
    assert ei.value.retry_after is None
    assert "cannot reach token endpoint" in str(ei.value)


async def test_timeout_is_transient(server: TokenServer) -> None:
    server.hold = asyncio.Event()
    c = TokenClient(server.url, timeout=0.2)
    try:
        with pytest.raises(TransientAuthError) as ei:
            await c.fetch(TokenRequest.password(CREDS))
    finally:
        server.hold.set()
        await c.close()
    assert ei.value.status is None


# -- bad 200 answers -----------------------------------------------------------------------


@pytest.mark.parametrize("body", ["<html>hello</html>", {"token_type": "Bearer"}])
async def test_bad_success_body(client: TokenClient, server: TokenServer, body: Any) -> None:
    server.script.append(Scripted(200, body))
    with pytest.raises(AuthenticationError) as ei:
        await client.fetch(TokenRequest.password(CREDS))
    assert type(ei.value) is AuthenticationError
    assert ei.value.status == 200


# -- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_repeats_the_post_at_location(
    client: TokenClient, server: TokenServer, status: int
) -> None:
    server.script.append(Scripted(status, "", {"Location": "/auth/oauth2/beta1/token"}))
    t = await client.fetch(TokenRequest.password(CREDS))
    assert server.gateway.check(t.access_token)[1] == ""
    first, second = server.seen
    assert (first.method, first.path) == ("POST", V1)
    assert (second.method, second.path) == ("POST", "/auth/oauth2/beta1/token")
    assert second.form == first.form
    assert second.headers["Authorization"] == first.headers["Authorization"]


async def test_redirect_to_another_host(client: TokenClient, server: TokenServer) -> None:
    other_gw = Gateway(users={"GE-A-0001": "pw"})
    other = TokenServer(other_gw)
    await other.start()
    try:
        server.script.append(Scripted(307, "", {"Location": other.url}))
        events: list[tuple[str, Any]] = []
        client.trace = lambda ev, detail: events.append((ev, detail))
        t = await client.fetch(TokenRequest.password(CREDS))
    finally:
        await other.stop()
    assert other_gw.check(t.access_token)[1] == ""
    assert server.gateway.issued == 0
    assert len(server.seen) == len(other.seen) == 1
    assert other.seen[0].form == TokenRequest.password(CREDS).form
    assert [e for e, _ in events] == ["request", "redirect", "request", "success"]
    assert events[0][1] == ("password", server.url)
    assert events[1][1] == other.url
    assert events[2][1] == ("password", other.url)


async def test_redirect_loop_gives_up(client: TokenClient, server: TokenServer) -> None:
    server.script.extend(Scripted(307, "", {"Location": V1}) for _ in range(20))
    with pytest.raises(AuthenticationError, match="too many redirects") as ei:
        await client.fetch(TokenRequest.password(CREDS))
    assert type(ei.value) is AuthenticationError
    assert 2 <= len(server.seen) <= 10


async def test_redirect_without_location_is_not_followed(
    client: TokenClient, server: TokenServer
) -> None:
    server.script.append(Scripted(302, "moved"))
    with pytest.raises(TransientAuthError):
        await client.fetch(TokenRequest.password(CREDS))
    assert len(server.seen) == 1


# -- trace ---------------------------------------------------------------------------------


async def test_trace_success_and_error(client: TokenClient, server: TokenServer) -> None:
    events: list[tuple[str, Any]] = []
    client.trace = lambda ev, detail: events.append((ev, detail))
    t = await client.fetch(TokenRequest.password(CREDS))
    with pytest.raises(InvalidCredentials):
        await client.fetch(TokenRequest.password(PasswordCredentials("GE-A-0001", "x", "APPKEY")))
    assert [e for e, _ in events] == ["request", "success", "request", "error"]
    assert events[0][1] == ("password", server.url)
    body = events[1][1]
    assert body["access_token"] == t.access_token
    assert body["expires_in"] == "300"
    assert events[3][1] == (400, "invalid_grant: Invalid username or password.")


async def test_trace_error_detail_for_non_json(client: TokenClient, server: TokenServer) -> None:
    events: list[tuple[str, Any]] = []
    client.trace = lambda ev, detail: events.append((ev, detail))
    server.script.append(Scripted(503, "upstream down\nmore lines"))
    server.script.append(Scripted(503, ""))
    for _ in range(2):
        with pytest.raises(TransientAuthError):
            await client.fetch(TokenRequest.password(CREDS))
    errors = [d for e, d in events if e == "error"]
    assert errors == [(503, "upstream down"), (503, "(empty body)")]


async def test_trace_error_detail_rdp_envelope(client: TokenClient, server: TokenServer) -> None:
    events: list[tuple[str, Any]] = []
    client.trace = lambda ev, detail: events.append((ev, detail))
    server.script.append(
        Scripted(403, {"error": {"id": "x", "code": "403", "message": "Forbidden app"}})
    )
    with pytest.raises(AuthenticationError):
        await client.fetch(TokenRequest.password(CREDS))
    assert events[-1] == ("error", (403, "Forbidden app"))
