"""Proxies: the token endpoint, service discovery and the WebSocket (aiohttp and picows)
through a real HTTP proxy on loopback, from ``proxy=`` or the environment; a proxy's
password never shows."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
from connect_proxy import ConnectProxy

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud import proxy as proxy_mod
from ertcloud.discovery import DiscoveryClient
from ertcloud.exceptions import AuthenticationError, ConfigError, ErtcloudError
from ertcloud.proxy import redact, redact_text, resolve_proxy
from ertcloud.sim.server import SimOptions, SimServer

TRANSPORTS = ("aiohttp", "picows")


@pytest.fixture
async def tls_sim(private_ca: dict[str, str]) -> AsyncIterator[SimServer]:
    async with SimServer(
        SimOptions(port=0, tls_cert=private_ca["cert"], tls_key=private_ca["key"])
    ) as s:
        yield s


@pytest.fixture
def ca(private_ca: dict[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=private_ca["ca"])


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    proxy_mod.use_proxy(None)
    yield
    proxy_mod.use_proxy(None)


async def _no_wait(_: float) -> None:
    await asyncio.sleep(0)


def session_for(
    sim: SimServer, ctx: ssl.SSLContext | None, retry_at_once: bool = False, **kw: object
) -> Session:
    tokens = TokenManager(
        TokenClient(sim.token_url, ssl_context=ctx),
        PasswordCredentials("demo", "demo", "app"),
        # every attempt still made, without the seconds of back-off between them
        sleep=_no_wait if retry_at_once else asyncio.sleep,
    )
    return Session(sim.websocket_url, tokens=tokens, ssl_context=ctx, **kw)  # type: ignore[arg-type]


async def first_refresh(session: Session) -> None:
    sub = session.subscribe("TRI.N")
    await sub.wait_complete(10)
    assert sub.streams[0].fields.get("BID") is not None


@pytest.mark.both_cores
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_token_and_websocket_are_tunnelled(
    tls_sim: SimServer, ca: ssl.SSLContext, transport: str
) -> None:
    target = f"127.0.0.1:{tls_sim.port}"
    async with ConnectProxy("proxyuser", "s3cret!") as proxy:
        async with session_for(tls_sim, ca, proxy=proxy.url, transport=transport) as s:
            await first_refresh(s)
        # one tunnel for the token, one for the WebSocket; nothing went around the proxy
        assert proxy.tunnels == [target, target]
        assert proxy.refused == 0 and proxy.forwarded == []


async def test_discovery_is_tunnelled(tls_sim: SimServer, ca: ssl.SSLContext) -> None:
    async with ConnectProxy("proxyuser", "s3cret!") as proxy:
        tokens = TokenManager(
            TokenClient(tls_sim.token_url, ssl_context=ca, proxy=proxy.url),
            PasswordCredentials("demo", "demo", "app"),
        )
        client = DiscoveryClient(tls_sim.discovery_url, ssl_context=ca, proxy=proxy.url)
        try:
            endpoints = await client.discover(tokens)
        finally:
            await client.close()
            await tokens.client.close()
        assert endpoints and len(proxy.tunnels) == 2


@pytest.mark.both_cores
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_environment_is_honoured(
    tls_sim: SimServer, ca: ssl.SSLContext, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with session_for(tls_sim, ca, transport=transport) as s:
            await first_refresh(s)
        assert len(proxy.tunnels) == 2
        monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
        async with session_for(tls_sim, ca, transport=transport) as s:
            await first_refresh(s)
        assert len(proxy.tunnels) == 2  # NO_PROXY: straight to the server
        async with session_for(tls_sim, ca, transport=transport, proxy=proxy.url) as s:
            await first_refresh(s)
        assert len(proxy.tunnels) == 4  # an explicit proxy is used whatever NO_PROXY says


@pytest.mark.both_cores
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_ws_through_the_proxy(sim: SimServer, transport: str) -> None:
    async with ConnectProxy("u", "pw") as proxy:
        async with session_for(sim, None, proxy=proxy.url, transport=transport) as s:
            await first_refresh(s)
        # aiohttp sends plain http:// and ws:// requests to the proxy in absolute form;
        # picows tunnels its WebSocket with CONNECT whatever the scheme
        assert f"POST {sim.token_url}" in proxy.forwarded
        if transport == "aiohttp":
            assert f"GET {sim.websocket_url}" in proxy.forwarded
        else:
            assert proxy.tunnels == [f"127.0.0.1:{sim.port}"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_wrong_proxy_credentials_are_refused_and_never_shown(
    tls_sim: SimServer, ca: ssl.SSLContext, transport: str
) -> None:
    async with ConnectProxy("proxyuser", "right-one") as proxy:
        wrong = proxy.url.replace("right-one", "wr0ng-pa55")
        s = session_for(tls_sim, ca, proxy=wrong, transport=transport)
        with pytest.raises(AuthenticationError) as info:
            await s.start()
        text = str(info.value)
        assert "407" in text and "wr0ng-pa55" not in text
        assert f"through proxy http://proxyuser:***@127.0.0.1:{proxy.port}" in text
        assert proxy.refused >= 1 and proxy.tunnels == []
        # the WebSocket alone (a token from elsewhere): refused the same way, on each transport
        tokens = TokenManager(
            TokenClient(tls_sim.token_url, ssl_context=ca, proxy=False),
            PasswordCredentials("demo", "demo", "app"),
        )
        s = Session(
            tls_sim.websocket_url, tokens=tokens, ssl_context=ca, proxy=wrong,
            transport=transport, connect_timeout=5,
        )  # fmt: skip
        with pytest.raises(ErtcloudError) as info2:
            await s.start()
        assert "wr0ng-pa55" not in str(info2.value)
        assert "through proxy http://proxyuser:***@" in str(info2.value)


async def test_a_proxy_that_refuses_connections_is_one_clear_error(
    tls_sim: SimServer, ca: ssl.SSLContext
) -> None:
    async with ConnectProxy() as proxy:
        port = proxy.port
    s = session_for(tls_sim, ca, retry_at_once=True, proxy=f"http://me:hidden@127.0.0.1:{port}")
    with pytest.raises(AuthenticationError) as info:
        await s.start()
    text = str(info.value)
    assert "\n" not in text and "hidden" not in text
    assert f"through proxy http://me:***@127.0.0.1:{port}" in text


def test_resolution_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_proxy("wss://h:443/WebSocket", "http://p:1") == "http://p:1"
    assert resolve_proxy("wss://h:443/WebSocket", False) is None
    assert resolve_proxy("wss://h:443/WebSocket", "") is None
    assert resolve_proxy("wss://h:443/WebSocket") is None
    monkeypatch.setenv("HTTPS_PROXY", "secure:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain:80")
    assert resolve_proxy("wss://h/WebSocket") == "http://secure:3128"
    assert resolve_proxy("https://h/token") == "http://secure:3128"
    assert resolve_proxy("ws://h/WebSocket") == "http://plain:80"
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("ALL_PROXY", "http://every:1")
    assert resolve_proxy("ws://h/WebSocket") == "http://every:1"
    monkeypatch.setenv("NO_PROXY", ".corp, other:8443")
    assert resolve_proxy("wss://a.corp/WebSocket") is None
    assert resolve_proxy("wss://corp/WebSocket") is None
    assert resolve_proxy("wss://other:8443/WebSocket") is None
    assert resolve_proxy("wss://other:443/WebSocket") == "http://secure:3128"
    monkeypatch.setenv("NO_PROXY", "*")
    assert resolve_proxy("wss://anything/WebSocket") is None
    proxy_mod.use_proxy("http://cli:9")
    assert resolve_proxy("wss://anything/WebSocket") == "http://cli:9"  # --proxy wins
    proxy_mod.use_proxy(False)
    monkeypatch.setenv("NO_PROXY", "")
    assert resolve_proxy("wss://anything/WebSocket") is None  # --proxy none
    assert resolve_proxy("wss://anything/WebSocket", "http://own:1") == "http://own:1"


def test_bad_proxy_urls_are_config_errors_without_the_password() -> None:
    for bad in ("socks5://u:topsecret@h:1", "http://u:topsecret@h:notaport", "u:topsecret"):
        with pytest.raises(ConfigError) as info:
            resolve_proxy("wss://h/WebSocket", bad)
        assert "topsecret" not in str(info.value)


def test_redaction() -> None:
    assert redact("http://u:p%40ss@h:1") == "http://u:***@h:1"
    assert redact("http://h:1") == "http://h:1"
    assert redact_text("failed for p@ss and p%40ss", "http://u:p%40ss@h:1") == (
        "failed for *** and ***"
    )
