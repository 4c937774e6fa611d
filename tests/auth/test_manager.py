"""TokenManager: grants, renewal, fallbacks and retries, against the simulator's gateway on a
real aiohttp endpoint, with an injected clock and sleep so that nothing really waits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from ertcloud.auth.client import TokenClient, TransientAuthError
from ertcloud.auth.grants import ClientCredentials, PasswordCredentials, Token
from ertcloud.auth.manager import TokenManager
from ertcloud.exceptions import AuthenticationError, InvalidCredentials
from ertcloud.sim.gateway import Gateway

V1 = "/auth/oauth2/v1/token"
V2 = "/auth/oauth2/v2/token"
CREDS = PasswordCredentials("GE-A-0001", "pw", "APPKEY", scope="trapi.streaming.pricing.read")
NEW_PASSWORD = "Abcdefghij-Klmnopqrst-123456789"


class Clock:
    """Monotonic seconds under test control; ``sleep`` advances it instantly."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class TokenServer:
    """A token endpoint: scripted answers first, then the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.script: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.forms: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str = V1) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def grants(self) -> list[str]:
        return [f.get("grant_type", "") for f in self.forms]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/auth/oauth2/{version}/token", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.forms.append(form)
        if self.script:
            status, body, headers = self.script.pop(0)
            return web.json_response(body, status=status, headers=headers)
        status, body = self.gateway.token(request.path, form, request.headers.get("Authorization"))
        return web.json_response(body, status=status)


def unavailable(retry_after: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return 503, {"error": "temporarily_unavailable", "error_description": "busy"}, headers


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
    c = TokenClient(server.url(), clock=clock, timeout=5.0)
    yield c
    await c.close()


def manager(client: TokenClient, clock: Clock, creds: Any = CREDS, **kw: Any) -> TokenManager:
    return TokenManager(client, creds, clock=clock, sleep=clock.sleep, **kw)


# -- v1 ------------------------------------------------------------------------------------


async def test_first_get_is_a_password_grant(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    t = await m.get()
    assert server.grants == ["password"]
    assert server.forms[0]["username"] == "GE-A-0001"
    assert server.forms[0]["password"] == "pw"
    assert m.token is t
    assert m.original_expires_in == 300.0
    assert t.refresh_token
    assert server.gateway.check(t.access_token)[1] == ""
    assert clock.sleeps == []


async def test_get_reuses_a_valid_token(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    t = await m.get()
    clock.now += 284  # margin for a 300 s token: 5 % = 15 s
    assert await m.get() is t
    assert server.grants == ["password"]


async def test_get_near_expiry_uses_the_refresh_grant(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    t = await m.get()
    clock.now += 285
    t2 = await m.get()
    assert t2 is not t
    assert server.grants == ["password", "refresh_token"]
    assert server.forms[1]["refresh_token"] == t.refresh_token


async def test_concurrent_gets_fetch_once(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    a, b, c = await asyncio.gather(m.get(), m.get(), m.get())
    assert a is b is c
    assert server.grants == ["password"]


async def test_renew_uses_the_refresh_grant(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    t1 = await m.get()
    clock.now += 270
    t2 = await m.renew()
    clock.now += 270
    t3 = await m.renew()
    assert server.grants == ["password", "refresh_token", "refresh_token"]
    # Always the latest refresh token.
    assert server.forms[1]["refresh_token"] == t1.refresh_token
    assert server.forms[2]["refresh_token"] == t2.refresh_token
    assert "password" not in server.forms[1]
    assert m.token is t3
    assert m.renewals == 2
    assert len({t1.access_token, t2.access_token, t3.access_token}) == 3
    assert t3.obtained_at == 1540.0
    assert server.gateway.check(t3.access_token)[1] == ""


async def test_refresh_rejected_falls_back_to_password(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    gateway.reject_refresh = True
    t = await m.renew()
    assert server.grants == ["password", "refresh_token", "password"]
    assert m.token is t
    assert m.renewals == 0
    assert gateway.check(t.access_token)[1] == ""
    assert clock.sleeps == []


async def test_expired_refresh_token_falls_back_to_password(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    clock.now += 901  # refresh token unused for over 15 minutes
    t = await m.get()
    assert server.grants == ["password", "refresh_token", "password"]
    assert server.gateway.check(t.access_token)[1] == ""


async def test_refresh_401_falls_back_to_password(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    server.script.append((401, {"error": "invalid_grant", "error_description": "no"}, {}))
    await m.renew()
    assert server.grants == ["password", "refresh_token", "password"]


async def test_expires_in_changed_on_refresh_means_password_grant(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    gateway.token_ttl = 240  # the refresh chain is ending
    t = await m.renew()
    assert server.grants == ["password", "refresh_token", "password"]
    assert m.token is t
    assert t.expires_in == 240.0
    assert m.original_expires_in == 240.0
    assert m.renewals == 0
    # With the new lifetime now the original one, refreshes are accepted again.
    await m.renew()
    assert server.grants[-1] == "refresh_token"
    assert m.renewals == 1


async def test_wrong_password_is_fatal_without_retry(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock, PasswordCredentials("GE-A-0001", "wrong", "APPKEY"))
    with pytest.raises(InvalidCredentials):
        await m.get()
    assert server.grants == ["password"]
    assert clock.sleeps == []
    assert m.token is None


async def test_password_fallback_refused_is_fatal(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    gateway.reject_refresh = True
    gateway.users["GE-A-0001"] = "changed elsewhere"
    with pytest.raises(InvalidCredentials):
        await m.renew()
    assert server.grants == ["password", "refresh_token", "password"]


async def test_final_status_is_not_retried(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    server.script.append((451, {"error": "unavailable_for_legal_reasons"}, {}))
    m = manager(client, clock)
    with pytest.raises(AuthenticationError) as ei:
        await m.get()
    assert ei.value.status == 451
    assert not isinstance(ei.value, TransientAuthError)
    assert len(server.forms) == 1
    assert clock.sleeps == []


async def test_transient_errors_are_retried_with_backoff(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    server.script.extend([unavailable(), unavailable()])
    m = manager(client, clock)
    t = await m.get()
    assert server.grants == ["password"] * 3
    assert server.gateway.check(t.access_token)[1] == ""
    # Jittered exponential back-off from 1 s: (0.5, 1] then (1, 2].
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0


async def test_retry_after_is_honoured(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    server.script.extend([unavailable("7"), unavailable("0.25")])
    m = manager(client, clock)
    await m.get()
    assert clock.sleeps == [7.0, 0.25]
    assert len(server.forms) == 3


async def test_transient_refresh_failure_is_retried(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    t1 = await m.get()
    server.script.append(unavailable("3"))
    t2 = await m.renew()
    assert server.grants == ["password", "refresh_token", "refresh_token"]
    assert server.forms[2]["refresh_token"] == t1.refresh_token
    assert clock.sleeps == [3.0]
    assert m.token is t2
    assert m.renewals == 1


async def test_gives_up_after_max_attempts(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    server.script.extend([unavailable("1")] * 10)
    m = manager(client, clock, max_attempts=4)
    with pytest.raises(TransientAuthError) as ei:
        await m.get()
    assert ei.value.status == 503
    assert len(server.forms) == 4
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert m.token is None


async def test_network_errors_give_up_after_max_attempts(clock: Clock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = TokenClient(f"http://127.0.0.1:{port}{V1}", timeout=5.0)
    try:
        m = manager(c, clock, max_attempts=3)
        with pytest.raises(TransientAuthError, match="cannot reach"):
            await m.get()
    finally:
        await c.close()
    assert len(clock.sleeps) == 2


async def test_new_password_is_used_for_later_grants(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    creds = PasswordCredentials("GE-A-0001", "pw", "APPKEY", new_password=NEW_PASSWORD)
    m = manager(client, clock, creds)
    await m.get()
    assert server.forms[0]["password"] == "pw"
    assert server.forms[0]["newPassword"] == NEW_PASSWORD
    assert gateway.users["GE-A-0001"] == NEW_PASSWORD
    gateway.reject_refresh = True
    t = await m.renew()  # refresh refused -> password grant with the new password
    assert server.grants == ["password", "refresh_token", "password"]
    assert server.forms[2]["password"] == NEW_PASSWORD
    assert "newPassword" not in server.forms[2]
    assert gateway.check(t.access_token)[1] == ""


# -- v2 ------------------------------------------------------------------------------------


async def test_v2_client_credentials(server: TokenServer, clock: Clock) -> None:
    c = TokenClient(server.url(V2), clock=clock)
    try:
        m = manager(c, clock, ClientCredentials("SVC", "S"))
        assert not m.uses_refresh_tokens
        t = await m.get()
        assert t.expires_in == 7199.0
        assert t.refresh_token is None
        assert server.forms[0] == {
            "grant_type": "client_credentials",
            "client_id": "SVC",
            "scope": "trapi.streaming.pricing.read",
            "client_secret": "S",
        }
        # Long-lived token: margin 300 s.
        clock.now += 7199 - 301
        assert await m.get() is t
        clock.now += 1
        t2 = await m.get()
        assert t2 is not t
        assert server.grants == ["client_credentials", "client_credentials"]
        t3 = await m.renew()
        assert t3 is not t2
        assert server.grants == ["client_credentials"] * 3
        assert server.gateway.check(t3.access_token)[1] == ""
    finally:
        await c.close()


async def test_v2_bad_secret_is_fatal(server: TokenServer, clock: Clock) -> None:
    c = TokenClient(server.url(V2), clock=clock)
    try:
        m = manager(c, clock, ClientCredentials("SVC", "wrong"))
        with pytest.raises(InvalidCredentials):
            await m.get()
    finally:
        await c.close()
    assert len(server.forms) == 1
    assert clock.sleeps == []


async def test_v2_run_returns_at_once(server: TokenServer, clock: Clock) -> None:
    c = TokenClient(server.url(V2), clock=clock)
    try:
        m = manager(c, clock, ClientCredentials("SVC", "S"))
        got: list[Token] = []

        async def on_token(t: Token) -> None:
            got.append(t)

        await asyncio.wait_for(m.run(on_token), 5)
    finally:
        await c.close()
    assert got == []
    assert server.forms == []


# -- run() ---------------------------------------------------------------------------------


class Enough(Exception):
    pass


def collector(n: int) -> tuple[list[Token], Any]:
    got: list[Token] = []

    async def on_token(t: Token) -> None:
        got.append(t)
        if len(got) >= n:
            raise Enough

    return got, on_token


async def test_run_renews_at_90_percent(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock)
    first = await m.get()
    got, on_token = collector(3)
    with pytest.raises(Enough):
        await asyncio.wait_for(m.run(on_token), 5)
    assert clock.sleeps == [pytest.approx(270.0)] * 3
    assert server.grants == ["password"] + ["refresh_token"] * 3
    assert [t.obtained_at for t in got] == pytest.approx([1270.0, 1540.0, 1810.0])
    assert len({first.access_token, *(t.access_token for t in got)}) == 4
    assert got[-1] is m.token
    assert gateway.check(got[-1].access_token)[1] == ""
    assert m.renewals == 3


async def test_run_gets_the_first_token_itself(
    client: TokenClient, server: TokenServer, clock: Clock
) -> None:
    m = manager(client, clock)
    got, on_token = collector(1)
    with pytest.raises(Enough):
        await asyncio.wait_for(m.run(on_token), 5)
    assert server.grants == ["password", "refresh_token"]
    assert clock.sleeps == [pytest.approx(270.0)]
    assert got == [m.token]


async def test_run_falls_back_to_password_when_refresh_tokens_die(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    gateway.refresh_ttl = 200  # shorter than the 270 s renewal delay
    m = manager(client, clock)
    await m.get()
    got, on_token = collector(2)
    with pytest.raises(Enough):
        await asyncio.wait_for(m.run(on_token), 5)
    assert server.grants == ["password", "refresh_token", "password", "refresh_token", "password"]
    assert gateway.check(got[-1].access_token)[1] == ""


async def test_run_survives_a_failed_renewal(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock, max_attempts=2)
    await m.get()
    server.script.extend([unavailable("2"), unavailable("2")])
    got, on_token = collector(1)
    with pytest.raises(Enough):
        await asyncio.wait_for(m.run(on_token), 5)
    # renew: 503, wait Retry-After, 503 -> gives up; run waits 1 s and renews at once.
    assert clock.sleeps == [pytest.approx(270.0), 2.0, 1.0, 0.0]
    assert server.grants == ["password"] + ["refresh_token"] * 3
    assert gateway.check(got[0].access_token)[1] == ""


async def test_run_stops_on_fatal_error(
    client: TokenClient, server: TokenServer, gateway: Gateway, clock: Clock
) -> None:
    m = manager(client, clock)
    await m.get()
    gateway.reject_refresh = True
    gateway.users["GE-A-0001"] = "changed"
    got, on_token = collector(1)
    with pytest.raises(InvalidCredentials):
        await asyncio.wait_for(m.run(on_token), 5)
    assert got == []


async def test_run_can_be_cancelled(client: TokenClient, clock: Clock) -> None:
    m = TokenManager(client, CREDS, clock=clock)  # real sleep: waits ~270 s
    await m.get()
    got, on_token = collector(1)
    task = asyncio.create_task(m.run(on_token))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert got == []
