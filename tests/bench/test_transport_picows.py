"""The picows transport of Session against the in-process simulator, over real sockets."""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import TRANSPORTS

from benchmarks.fast_sender import fine_timers, install
from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.exceptions import ConnectError
from ertcloud.sim.bench import BENCH_DOMAIN, set_sender
from ertcloud.sim.server import SimServer

_PR_SET_TIMERSLACK, _PR_GET_TIMERSLACK = 29, 30


@pytest.fixture(autouse=True)
def _fast_bench_sender() -> Iterator[None]:
    """Bench streams as the benchmarks' simulator writes them."""
    install()
    yield
    set_sender(None)


def session_for(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    kw.setdefault("transport", "picows")
    return Session(sim.websocket_url, tokens=tokens, **kw)


async def _until(cond: Callable[[], bool]) -> None:
    """Poll a condition on objects that offer no event to wait on."""
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_refresh_updates_and_records(sim: SimServer) -> None:
    async with session_for(sim) as session:
        assert session.transport_name == "picows"
        sub = session.subscribe(["TRI.N", "IBM.N"])
        kinds: list[str] = []
        async for ev in sub:
            kinds.append(type(ev).__name__)
            if kinds.count("ItemUpdated") >= 4:
                break
        assert kinds[:2] == ["ItemRefreshed", "ItemRefreshed"]
        sim.streaming.config.rate = 0
        await asyncio.sleep(0.3)
        assert sub.records["TRI.N"].fields == sim.market.get("TRI.N").image  # type: ignore[union-attr]
        await sub.close()


async def test_reconnects_and_resubscribes(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe(["TRI.N", "IBM.N"], fields=["BID", "ASK"])
        await sub.wait_complete(timeout=5)
        await sim.streaming.drop_all()
        await asyncio.wait_for(_until(lambda: session.reconnects >= 1), 15)
        await asyncio.wait_for(_until(lambda: all(s.refreshes >= 2 for s in sub.streams)), 15)
        assert all(set(s.fields) == {"BID", "ASK"} for s in sub.streams)


@pytest.mark.serial  # a Pong late by a second is a drop
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_answers_server_pings(make_sim: Any, transport: str) -> None:
    async with make_sim(server={"ping_timeout": 1, "rate": 0}) as sim:
        async with session_for(sim, transport=transport) as session:
            await asyncio.sleep(2.5)  # the server pings after 1/3 s of silence, drops at 1 s
            assert session.reconnects == 0
            assert not session._ws.closed  # type: ignore[union-attr]


async def test_bench_stream_of_ten_per_frame_is_cached(sim: SimServer) -> None:
    sim.streaming.config.rate = 0
    async with session_for(sim) as session:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.on_generic = lambda g: replies.put_nowait(dict(g.elements or {}))
        sub = session.subscribe(["TRI.N", "IBM.N", "EUR="], queue=False, on_update=lambda e: None)
        await asyncio.wait_for(_until(lambda: all(s.refreshes for s in sub.streams)), 10)
        session.send_generic(
            session.protocol.login.id,
            domain=BENCH_DOMAIN,
            elements={"Messages": 5000, "PerFrame": 10, "Seconds": 30},
        )
        reply = await asyncio.wait_for(replies.get(), 30)
        assert reply["Sent"] == 5000
        assert sum(s.updates for s in sub.streams) == 5000


async def test_unreachable_host_and_unknown_transport() -> None:
    with pytest.raises(ConnectError):
        async with Session("ws://127.0.0.1:1/WebSocket", transport="picows", connect_timeout=3):
            pass
    with pytest.raises(ValueError, match="unknown transport"):
        Session("ws://127.0.0.1:1/WebSocket", transport="carrier-pigeon")


async def test_paced_stamped_stream_and_bad_request(sim: SimServer) -> None:
    sim.streaming.config.rate = 0
    async with session_for(sim) as session:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.on_generic = lambda g: replies.put_nowait(dict(g.elements or {}))
        stamps: list[int | None] = []
        sub = session.subscribe(
            ["TRI.N", "EUR="], queue=False, on_update=lambda e: stamps.append(e.message.sim_ts)
        )
        await asyncio.wait_for(_until(lambda: all(s.refreshes for s in sub.streams)), 10)
        login = session.protocol.login.id
        session.send_generic(login, domain=BENCH_DOMAIN, elements={"Rate": -1})
        assert "Rate" in (await asyncio.wait_for(replies.get(), 10))["Error"]
        elements = {"Rate": 20000, "Messages": 2001, "PerFrame": 10, "Stamp": True}
        session.send_generic(login, domain=BENCH_DOMAIN, elements=elements)
        reply = await asyncio.wait_for(replies.get(), 30)
        assert reply["Sent"] == len(stamps) == 2001
        assert all(isinstance(t, int) and t > 0 for t in stamps)


@pytest.mark.serial  # measures the gaps between frames
async def test_paced_stream_sends_frames_one_by_one_not_in_bursts(sim: SimServer) -> None:
    sim.streaming.config.rate = 0
    async with session_for(sim) as session:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.on_generic = lambda g: replies.put_nowait(dict(g.elements or {}))
        stamps: list[int] = []
        sub = session.subscribe(
            ["TRI.N"], queue=False, on_update=lambda e: stamps.append(e.message.sim_ts)
        )
        await asyncio.wait_for(_until(lambda: all(s.refreshes for s in sub.streams)), 10)
        # one second: a stall of the machine makes the sender catch up with frames back to
        # back (two per ms of stall), which a 0.2 s stream could not tell from bursts
        elements = {"Rate": 2000, "Messages": 2000, "Stamp": True}
        session.send_generic(session.protocol.login.id, domain=BENCH_DOMAIN, elements=elements)
        assert (await asyncio.wait_for(replies.get(), 30))["Sent"] == 2000
        await asyncio.wait_for(_until(lambda: len(stamps) == 2000), 10)
    gaps = sorted(b - a for a, b in itertools.pairwise(stamps))
    # 2000/s is one frame every 500 us; a millisecond pacing tick would send pairs
    # (half the gaps near zero).
    assert gaps[len(gaps) // 2] > 250_000, gaps[len(gaps) // 2]
    assert gaps[len(gaps) // 4] > 100_000


async def test_bench_updates_keep_to_the_fields_each_record_holds(sim: SimServer) -> None:
    # Bench traffic goes to clones of an equity and to whatever else is open (an FX rate
    # here): each gets price changes of its own kind, in fields its record has.
    sim.streaming.config.rate = 0  # only bench traffic: the ticker would add EUR= updates
    async with session_for(sim) as session:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.on_generic = lambda g: replies.put_nowait(dict(g.elements or {}))
        login = session.protocol.login.id
        session.send_generic(login, domain=BENCH_DOMAIN, elements={"Universe": 20})
        await asyncio.wait_for(replies.get(), 10)
        names = [f"BENCH{i}.BX" for i in range(20)] + ["EUR="]
        updates: list[Any] = []
        sub = session.subscribe(names, queue=False, on_update=updates.append)
        await asyncio.wait_for(_until(lambda: all(s.refreshes for s in sub.streams)), 10)
        before = {s.name: set(s.fields) for s in sub.streams}
        session.send_generic(login, domain=BENCH_DOMAIN, elements={"Messages": 2000})
        assert (await asyncio.wait_for(replies.get(), 30))["Sent"] == 2000
        await asyncio.wait_for(_until(lambda: len(updates) == 2000), 10)
    assert {s.name: set(s.fields) for s in sub.streams} == before
    for ev in updates:
        assert ev.message.fields and set(ev.message.fields) <= before[ev.stream.name]
    fx = [ev for ev in updates if ev.stream.name == "EUR="]
    assert fx and all(ev.message.update_type == "Quote" for ev in fx)
    assert {ev.message.update_type for ev in updates} == {"Quote", "Trade"}  # equities trade


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timer slack is Linux's")
def test_paced_sender_asks_for_fine_timers() -> None:
    # Linux pads each short sleep by 50 us by default, which would send 20k/s in pairs.
    libc = ctypes.CDLL(None)
    seen: list[int] = []

    def in_thread() -> None:  # the setting is per thread: keep it off the test runner's
        libc.prctl(_PR_SET_TIMERSLACK, 50_000, 0, 0, 0)  # Linux's default, in ns
        before = libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)
        fine_timers()
        seen.extend([before, libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0)])

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert seen == [50_000, 1]
