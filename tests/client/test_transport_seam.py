"""Session over the transport interface with no sockets: the in-memory transport wired to
the simulator's per-connection session, and the guarantees every adapter gives."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable

import pytest

from ertcloud import ConfigError, ConnectFailed, Session, TransportError
from ertcloud.client.transport import Connection, ConnectOptions, Transport, pick_transport
from ertcloud.client.transport_memory import Close, MemoryPeer, MemoryTransport, Send
from ertcloud.protocol.events import Event, ProtocolViolation
from ertcloud.protocol.login import LoginParams
from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer


def sim_transport() -> tuple[SimServer, MemoryTransport]:
    sim = SimServer(SimOptions(server=ServerConfig(allow_user_login=True, rate=0)))

    def accept(send: Send, close: Close) -> MemoryPeer:
        return sim.streaming.connect(send, close, "memory")

    return sim, MemoryTransport(accept)


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def test_the_adapters_meet_the_interface() -> None:
    from ertcloud.client.transport_aiohttp import AiohttpConnection, AiohttpTransport
    from ertcloud.client.transport_picows import PicowsTransport, PicowsWebSocket

    transports: list[type[Transport]] = [AiohttpTransport, PicowsTransport, MemoryTransport]
    connections: list[type[Connection]] = [AiohttpConnection, PicowsWebSocket]
    for cls in (*transports, *connections):
        assert cls.__doc__
    for name in ("connect", "aclose"):
        assert all(callable(getattr(t, name)) for t in transports)
    for name in ("send", "close", "pause_reading", "resume_reading", "run"):
        assert all(callable(getattr(c, name)) for c in connections)


@pytest.mark.both_cores
async def test_session_logs_in_and_gets_images_over_the_memory_transport() -> None:
    _, transport = sim_transport()
    async with Session(
        "memory://sim", transport=transport, login=LoginParams(user="demo")
    ) as session:
        assert session.transport_name == "MemoryTransport"
        sub = session.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(timeout=5)
        assert {s.name for s in sub.streams} == {"TRI.N", "IBM.N"}
        assert all(s.fields for s in sub.streams)
        assert len(transport.connections) == 1
    assert transport.connections[0].closed


@pytest.mark.both_cores
async def test_a_lost_memory_connection_is_recovered_with_every_stream() -> None:
    _, transport = sim_transport()
    disconnected: list[str] = []
    async with Session(
        "memory://sim",
        transport=transport,
        login=LoginParams(user="demo"),
        on_disconnected=lambda s, why: disconnected.append(why),
    ) as session:
        sub = session.subscribe("TRI.N", on_refresh=lambda e: None)
        await until(lambda: sub.streams[0].refreshes == 1, "the first image")
        await transport.connections[0].hang_up()
        await until(lambda: session.recoveries == 1, "the recovery")
        await until(lambda: sub.streams[0].refreshes >= 2, "the image again")
        assert len(transport.connections) == 2 and disconnected


@pytest.mark.both_cores
async def test_an_oversized_message_is_a_limit_breach_on_the_memory_transport() -> None:
    _, transport = sim_transport()
    events: list[Event] = []
    async with Session(
        "memory://sim",
        transport=transport,
        login=LoginParams(user="demo"),
        max_message_size=4096,
        on_event=events.append,
    ) as session:
        session.subscribe("TRI.N", on_refresh=lambda e: None)
        await until(lambda: session.protocol.streams.lookup(2) is not None, "the stream")
        await transport.connections[0].push(b"[" + b" " * 5000 + b"]")
        await until(lambda: session.limit_breaches == 1, "the breach")
        breach = [e for e in events if isinstance(e, ProtocolViolation) and e.limit]
        assert breach and breach[0].limit == 4096
        await until(lambda: len(transport.connections) == 2, "a new connection", 15)


async def test_a_refused_first_connection_is_connect_failed() -> None:
    _, transport = sim_transport()
    transport.refusing = True
    session = Session("memory://sim", transport=transport, login=LoginParams(user="demo"))
    with pytest.raises(ConnectFailed) as info:
        await session.start()
    assert isinstance(info.value, TransportError)


async def test_a_transport_without_the_subprotocol_is_refused() -> None:
    _, transport = sim_transport()
    transport.subprotocol = "other"

    class Wrong(MemoryTransport):
        async def connect(self, url: str, options: ConnectOptions) -> Connection:
            conn = await transport.connect(
                url, ConnectOptions(protocols=["other"], max_message_size=1 << 20)
            )
            return conn

    session = Session("memory://sim", transport=Wrong(transport.accept))
    with pytest.raises(ConnectFailed, match="did not accept the tr_json2"):
        await session.start()


def test_auto_is_the_default_and_picks_picows_unless_only_aiohttp_will_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ertcloud.cli import build_parser
    from ertcloud.client.standby import HotStandby

    installed = importlib.util.find_spec("picows") is not None  # a dependency, but not everywhere
    assert Session("ws://x").transport_name == ("picows" if installed else "aiohttp")
    assert HotStandby(["ws://a", "ws://b"]).transport == "auto"
    args = build_parser("subscribe").parse_args(["subscribe", "TRI.N"])
    assert args.transport == "auto"
    assert Session("ws://x", transport="aiohttp").transport_name == "aiohttp"
    # what only aiohttp does: permessage-deflate, a caller's own aiohttp.ClientSession
    assert Session("ws://x", compression=True).transport_name == "aiohttp"
    assert Session("ws://x", http=object()).transport_name == "aiohttp"  # type: ignore[arg-type]
    if installed:  # named, picows is used (it offers no compression)
        assert Session("ws://x", transport="picows", compression=True).transport_name == "picows"
    # picows missing: auto falls back, picows by name is a configuration error
    monkeypatch.setitem(sys.modules, "picows", None)
    assert pick_transport("auto") == "aiohttp"
    assert Session("ws://x").transport_name == "aiohttp"
    with pytest.raises(ConfigError, match="picows"):
        Session("ws://x", transport="picows")


def test_bad_options_are_config_errors_and_value_errors() -> None:
    with pytest.raises(ConfigError):
        Session([])
    with pytest.raises(ValueError, match="unknown transport"):
        Session("ws://x", transport="carrier-pigeon")


@pytest.mark.both_cores
async def test_event_hooks_by_kind_and_the_shorthand_keywords_both_fire() -> None:
    _, transport = sim_transport()
    seen: list[str] = []
    async with Session(
        "memory://sim",
        transport=transport,
        login=LoginParams(user="demo"),
        on_event=lambda ev: seen.append("on_event"),
        event_hooks={
            "event": [lambda ev: seen.append("hook")],
            "trace": [lambda kind, detail: seen.append(f"trace:{kind}")],
            "disconnected": [lambda session, why: seen.append("disconnected")],
            "recovered": [lambda session: seen.append("recovered")],
        },
    ) as session:
        sub = session.subscribe("TRI.N", on_refresh=lambda e: None)
        await until(lambda: sub.streams[0].refreshes == 1, "the first image")
        await transport.connections[0].hang_up()
        await until(lambda: "recovered" in seen, "the recovery hook")
    assert "on_event" in seen and "hook" in seen
    assert seen.index("on_event") < seen.index("hook")  # the shorthand runs first
    assert "trace:connected" in seen and "disconnected" in seen
    with pytest.raises(ConfigError, match="unknown event hook"):
        Session("ws://x", event_hooks={"connectd": []})


@pytest.mark.both_cores
async def test_unsubscribe_is_public_on_session_and_subscription() -> None:
    _, transport = sim_transport()
    async with Session(
        "memory://sim", transport=transport, login=LoginParams(user="demo")
    ) as session:
        a = session.subscribe("TRI.N", on_refresh=lambda e: None)
        b = session.subscribe("IBM.N", on_refresh=lambda e: None)
        await until(lambda: a.streams[0].refreshes == 1 == b.streams[0].refreshes, "images")
        await a.unsubscribe()
        session.unsubscribe(b.streams)
        assert a.closed and not a.streams[0].is_open and not b.streams[0].is_open
        assert len(session.protocol.streams) == 0
