"""Hot standby: two sessions on two endpoints of one simulator, each update delivered once,
user code that fails, and token renewal refused. Real client, real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ertcloud import PasswordCredentials, TokenClient, TokenManager
from ertcloud.client.standby import HotStandby
from ertcloud.exceptions import InvalidCredentials
from ertcloud.protocol.events import ItemUpdated
from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)


async def until(cond: Callable[[], object], timeout: float = 10) -> None:
    async def wait() -> None:
        while not cond():  # noqa: ASYNC110 (polls state that other code changes)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def sim2() -> AsyncIterator[SimServer]:
    # 10 updates a second per item (not 2): the tests that wait for a few updates wait less
    opts = SimOptions(port=0, endpoints=2, token_ttl=4, server=ServerConfig(rate=10))
    async with SimServer(opts) as s:
        yield s


def standby_for(sim: SimServer, **kw: Any) -> HotStandby:
    tokens = TokenManager(
        TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"), **kw
    )
    base = sim.websocket_url.rsplit(":", 1)[0]
    return HotStandby([f"{base}:{p}/WebSocket" for p in sim.ports[:2]], tokens=tokens)


async def test_each_update_is_delivered_once(sim2: SimServer) -> None:
    async with standby_for(sim2) as hs:
        raw: list[int] = []
        hs.on_raw = lambda i, ev: raw.append(i) if isinstance(ev, ItemUpdated) else None
        sub = hs.subscribe("TRI.N")
        await sub.wait_complete(5)
        seqs: list[int] = []
        async for ev in sub:
            if isinstance(ev, ItemUpdated):
                assert ev.message.seq_number is not None
                seqs.append(ev.message.seq_number)
            if len(seqs) >= 6:
                break
        assert set(raw) == {0, 1}  # both sessions carried the item
        assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
        assert sub.duplicates >= len(seqs) - 1


async def test_a_failing_callback_does_not_stop_delivery(sim2: SimServer) -> None:
    seen: list[Any] = []

    def bad(ev: Any) -> None:
        seen.append(ev)
        raise RuntimeError("bug in user code")

    async with standby_for(sim2) as hs:
        hs.subscribe("TRI.N", on_update=bad)
        await until(lambda: len(seen) >= 4, 10)
        sessions = [s for s in hs.sessions if s is not None]
        assert len(sessions) == 2
        assert all(s.connects == 1 and s.reconnects == 0 for s in sessions)


async def test_renewal_refused_ends_iteration_with_the_error(sim2: SimServer) -> None:
    async with standby_for(sim2, renew_fraction=0.25) as hs:  # renewed after 1 s
        sub = hs.subscribe("TRI.N")
        await sub.wait_complete(5)
        sim2.gateway.reject_refresh = True
        sim2.gateway.users["demo"] = "changed elsewhere"

        async def drain() -> None:
            async for _ in sub:
                pass

        with pytest.raises(InvalidCredentials):
            await asyncio.wait_for(drain(), 10)
        assert isinstance(hs.fatal, InvalidCredentials)
        sessions = [s for s in hs.sessions if s is not None]
        await until(lambda: all(s.closed_by_itself for s in sessions), 5)
        assert all(s.fatal is hs.fatal for s in sessions)


async def test_wait_closed_waits_for_both_sessions(sim2: SimServer) -> None:
    from ertcloud.exceptions import ErtcloudError

    async with standby_for(sim2) as hs:
        waiter = asyncio.ensure_future(hs.wait_closed())
        first, second = hs.sessions
        assert first is not None and second is not None
        first.end(ErtcloudError("first gone"))
        await asyncio.sleep(0.5)
        assert not waiter.done()  # the other session carries on
        second.end(ErtcloudError("second gone"))
        with pytest.raises(ErtcloudError):
            await asyncio.wait_for(waiter, 10)
    async with standby_for(sim2) as hs:
        waiter = asyncio.ensure_future(hs.wait_closed())
        await hs.close()
        await asyncio.wait_for(waiter, 10)  # closed: no error
        assert hs.closing
