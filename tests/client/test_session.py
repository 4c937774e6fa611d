"""The asyncio Session against the in-process simulator, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from support import TRANSPORTS, websocket_server

from ertcloud import LoginRejected, PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.exceptions import ConnectError, InvalidCredentials
from ertcloud.protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The simulator in this process at 20 updates a second per item (not 2): the tests
    that wait for a few updates wait a tenth as long."""
    async with SimServer(SimOptions(port=0, server=ServerConfig(rate=20))) as s:
        yield s


def session_for(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens, **kw)


async def test_subscribe_iterates_refresh_then_updates(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe(["TRI.N", "IBM.N"], service="ELEKTRON_DD")
        seen: dict[str, list[str]] = {"TRI.N": [], "IBM.N": []}
        async for ev in sub:
            seen[ev.stream.name].append(type(ev).__name__)
            if all(len(v) >= 3 for v in seen.values()):
                break
        for kinds in seen.values():
            assert kinds[0] == "ItemRefreshed"
            assert set(kinds[1:]) == {"ItemUpdated"}
        rec = sub.records["TRI.N"]
        # once the market stops, the live record equals the simulator's image of the item
        sim.streaming.config.rate = 0
        inst = sim.market.get("TRI.N")
        assert inst is not None
        await asyncio.wait_for(_until(lambda: rec.fields == inst.image), 10)  # in-flight land
        assert rec.fields == inst.image
        await sub.close()
    assert sub.closed


async def test_batch_request_and_view(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe(["TRI.N", "IBM.N", "T.N"], fields=["BID", "ASK", "BIDSIZE"])
        await sub.wait_complete(timeout=5)
        ids = sorted(s.id for s in sub.streams)
        assert ids == [ids[0], ids[0] + 1, ids[0] + 2]  # batch id + 1..3
        for s in sub.streams:
            assert set(s.fields) == {"BID", "ASK", "BIDSIZE"}
            assert s.state is not None and s.state.stream == "Open"


async def test_snapshot_ends_the_iteration(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe("TRI.N", snapshot=True)
        events = [ev async for ev in sub]
        assert [type(e) for e in events] == [ItemRefreshed, StreamClosed]
        assert events[0].message.state.stream == "NonStreaming"  # type: ignore[union-attr]
        assert session.protocol.streams.get(events[0].stream.id) is None


async def test_unknown_ric_closes_with_not_found(sim: SimServer) -> None:
    async with session_for(sim) as session:
        got: list[Any] = []
        sub = session.subscribe("BAD.RIC", on_status=got.append)
        await asyncio.wait_for(_until(lambda: len(got) >= 2), 5)
        assert isinstance(got[0], ItemStatus)
        assert got[0].message.state.code == "NotFound"
        assert isinstance(got[1], StreamClosed)
        assert not sub.streams[0].is_open


async def test_callbacks(sim: SimServer) -> None:
    refreshes: list[Any] = []
    updates: list[Any] = []
    async with session_for(sim) as session:
        session.subscribe("EUR=", on_refresh=refreshes.append, on_update=updates.append)
        await asyncio.wait_for(_until(lambda: len(updates) >= 2), 10)
    assert len(refreshes) == 1 and isinstance(updates[0], ItemUpdated)
    assert "BID" in refreshes[0].message.fields


async def test_wrong_password(sim: SimServer) -> None:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "nope", "app"))
    with pytest.raises(InvalidCredentials):
        async with Session(sim.websocket_url, tokens=tokens):
            pass


async def test_login_rejected_for_unknown_token(make_sim: Any) -> None:
    async with make_sim() as a, make_sim() as b:
        tokens = TokenManager(TokenClient(a.token_url), PasswordCredentials("demo", "demo", "app"))
        with pytest.raises(LoginRejected, match="invalid token"):
            async with Session(b.websocket_url, tokens=tokens, reconnect=False):
                pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_dead_server_is_connect_error(transport: str) -> None:
    with pytest.raises(ConnectError):
        async with Session("ws://127.0.0.1:1/WebSocket", connect_timeout=3, transport=transport):
            pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reconnects_and_resubscribes_after_a_drop(sim: SimServer, transport: str) -> None:
    async with session_for(sim, transport=transport) as session:
        sub = session.subscribe(["TRI.N", "IBM.N"], fields=["BID", "ASK"])
        await sub.wait_complete(timeout=5)
        await sim.streaming.drop_all()
        await asyncio.wait_for(_until(lambda: session.reconnects >= 1), 10)
        await asyncio.wait_for(_until(lambda: all(s.refreshes >= 2 for s in sub.streams)), 10)
        assert {s.name for s in sub.streams} == {"TRI.N", "IBM.N"}
        assert all(set(s.fields) == {"BID", "ASK"} for s in sub.streams)
        assert len(sim.streaming.subs) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_token_reissue_keeps_the_session(make_sim: Any, transport: str) -> None:
    async with make_sim(token_ttl=2) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url),
            PasswordCredentials("demo", "demo", "app"),
            renew_fraction=0.5,  # at 1 s (the shortest interval): a second to spare
        )
        async with Session(sim.websocket_url, tokens=tokens, transport=transport) as session:
            sub = session.subscribe("TRI.N")
            await asyncio.wait_for(_until(lambda: session.tokens.renewals >= 2), 10)  # type: ignore[union-attr]
            assert session.reconnects == 0
            n = sub.streams[0].updates
            await asyncio.wait_for(_until(lambda: sub.streams[0].updates > n), 10)


async def test_server_requires_tr_json2(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as ei:
            await http.ws_connect(sim.websocket_url, protocols=("foo",))
        assert ei.value.status == 400
        ws = await http.ws_connect(sim.websocket_url, protocols=("rssl.json.v2",))
        assert ws.protocol == "rssl.json.v2"
        await ws.close()
        async with http.get(sim.base_url + "/ws") as r:
            assert r.status == 404


async def _until(cond: Any) -> None:
    """Poll a condition on objects that offer no event to wait on."""
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_permessage_deflate_is_negotiated_when_offered(sim: SimServer) -> None:
    """Only aiohttp offers permessage-deflate: asking for it makes the default transport
    ("auto") aiohttp."""
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    async with Session(sim.websocket_url, tokens=tokens, compression=True) as session:
        assert session.transport_name == "aiohttp"
        assert session._ws is not None and session._ws.compress == 15  # type: ignore[union-attr]
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(timeout=5)
        await asyncio.wait_for(_until(lambda: sub.streams[0].updates >= 2), 10)
    async with session_for(sim, transport="aiohttp") as plain:
        assert plain._ws is not None and plain._ws.compress == 0  # type: ignore[union-attr]


async def test_a_failing_callback_does_not_drop_the_connection(sim: SimServer) -> None:
    calls: list[Any] = []

    def bad(ev: Any) -> None:
        calls.append(ev)
        raise RuntimeError("user bug")

    async with session_for(sim) as session:
        sub = session.subscribe("TRI.N", on_update=bad)
        await asyncio.wait_for(_until(lambda: len(calls) >= 3), 10)
        assert session.connects == 1 and session.reconnects == 0
        assert sub.streams[0].updates >= 3


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a01_a_server_that_accepts_no_sub_protocol_is_refused(transport: str) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # accepts, but without echoing tr_json2
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    async with websocket_server(handler) as url:
        with pytest.raises(ConnectError, match="did not accept the tr_json2 sub-protocol"):
            async with Session(url, reconnect=False, transport=transport):
                pass


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_handshake_says_the_http_status_alike_on_each_transport(
    transport: str,
) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    async with websocket_server(handler) as url:
        with pytest.raises(ConnectError) as info:
            async with Session(url, reconnect=False, transport=transport):
                pass
    assert str(info.value) == f"WebSocket handshake with {url} failed: HTTP 503 Service Unavailable"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_d06_fragmented_frames_are_reassembled(sim: SimServer, transport: str) -> None:
    from ertcloud.sim.server import fragmented

    assert fragmented(b"abcdefg", 3) == b"\x01\x03abc\x00\x03def\x80\x01g"
    async with session_for(sim, transport=transport) as session:
        await sim.faults.apply("fragment", parts=4)
        sub = session.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(timeout=5)
        await asyncio.wait_for(_until(lambda: all(s.updates >= 2 for s in sub.streams)), 10)
        sim.streaming.config.rate = 0
        await asyncio.sleep(0.3)
        for s in sub.streams:
            assert s.fields == sim.market.get(s.name).image  # type: ignore[union-attr]
        assert session.reconnects == 0


async def test_a09_already_pending_login_backs_off_then_recovers(make_sim: Any) -> None:
    async with make_sim(server={"login_limit": 1, "login_window": 1.5}) as sim:
        seen: list[str] = []
        delays: list[float] = []

        def trace(kind: str, detail: Any) -> None:
            if kind == "received" and b"Already pending login" in detail:
                seen.append(kind)
            elif kind == "reconnecting":
                delays.append(detail)

        tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "a"))
        async with Session(sim.websocket_url, tokens=tokens, trace=trace) as session:
            # jittered to 1.5-3 s: the second try comes after the 1.5 s window, never into
            # it (a refused try would double the wait)
            session.throttled_delay = 3.0
            sub = session.subscribe("TRI.N")
            await sub.wait_complete(timeout=5)
            await sim.streaming.drop_all()
            await asyncio.wait_for(_until(lambda: session.recoveries >= 1), 20)
            assert seen, "the simulator refused the quick re-login"
            assert max(delays) >= 1.0  # throttled: waited, not hammered
            await asyncio.wait_for(_until(lambda: sub.streams[0].refreshes >= 2), 5)
