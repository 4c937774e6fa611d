"""Warm standby: two sessions, only the active one streams, the standby one takes over when
the active connection is lost. Real client, real simulator (two endpoints of one market,
so SeqNumbers can be compared across the switch), real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from support import SimProcess

from ertcloud import ActiveChanged, PasswordCredentials, TokenClient, TokenManager, WarmStandby
from ertcloud.exceptions import ConfigError
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)

#: the bound on a failover in these tests (it takes well under a second here)
FAILOVER_BOUND = 10.0


async def until(cond: Callable[[], object], timeout: float = 10) -> None:
    async def wait() -> None:
        while not cond():  # noqa: ASYNC110 (polls state that other code changes)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


def warm_options(**server: Any) -> SimOptions:
    opts = SimOptions(port=0, endpoints=2)
    opts.server.support_standby = True
    opts.server.rate = 20.0
    for k, v in server.items():
        setattr(opts.server, k, v)
    return opts


@pytest.fixture
async def warm2() -> AsyncIterator[SimServer]:
    async with SimServer(warm_options()) as s:
        yield s


def warm_for(sim: SimServer, **kw: Any) -> WarmStandby:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    base = sim.websocket_url.rsplit(":", 1)[0]
    return WarmStandby([f"{base}:{p}/WebSocket" for p in sim.ports[:2]], tokens=tokens, **kw)


def test_it_needs_two_endpoints() -> None:
    with pytest.raises(ConfigError, match="warm standby needs two endpoints"):
        WarmStandby(["ws://127.0.0.1:1/WebSocket"])


async def test_only_the_active_server_sends_updates(warm2: SimServer) -> None:
    changes: list[ActiveChanged] = []
    async with warm_for(warm2, on_active=changes.append) as ws:
        raw: list[tuple[int, str]] = []
        ws.on_raw = lambda i, ev: raw.append((i, type(ev).__name__))
        sub = ws.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(5)
        updates = 0
        async for ev in sub:
            updates += isinstance(ev, ItemUpdated)
            if updates >= 10:
                break
        assert [(c.index, c.previous, c.reason) for c in changes] == [(0, None, "start")]
        assert changes[0].url == ws.urls[0] == ws.active_url
        assert (0, "ItemUpdated") in raw
        assert (1, "ItemRefreshed") in raw  # the standby has its (header-only) images
        assert (1, "ItemUpdated") not in raw  # and no Updates: its server holds them
        assert sub.suppressed == 0 and sub.duplicates == 0
        standby_images = [s for s in sub.legs[1].streams if s.refreshes]
        assert len(standby_images) == 2 and all(not s.fields for s in standby_images)


@pytest.mark.parametrize("transport", ["aiohttp", "picows"])
async def test_losing_the_active_promotes_the_standby_without_loss(
    warm2: SimServer, transport: str
) -> None:
    changes: list[ActiveChanged] = []
    async with warm_for(warm2, on_active=changes.append, transport=transport) as ws:
        sub = ws.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(5)
        seen: list[tuple[str, str, int]] = []  # (ric, kind, seq) as delivered

        async def consume() -> None:
            async for ev in sub:
                if isinstance(ev, (ItemRefreshed, ItemUpdated)):
                    seq = ev.message.seq_number
                    assert seq is not None
                    seen.append((ev.stream.name, type(ev).__name__, seq))

        reader = asyncio.create_task(consume())
        try:
            await until(lambda: sum(k == "ItemUpdated" for _, k, _ in seen) >= 6)
            await warm2.faults.apply("refuse", endpoint=0)  # it stays down: no reconnect
            await warm2.faults.apply("drop", endpoint=0)
            lost = time.monotonic()
            await until(lambda: ws.active == 1, FAILOVER_BOUND)
            before = len(seen)
            await until(
                lambda: {r for r, k, _ in seen[before:] if k == "ItemUpdated"}
                == {"TRI.N", "IBM.N"},
                FAILOVER_BOUND,
            )
            assert time.monotonic() - lost < FAILOVER_BOUND
        finally:
            reader.cancel()
        assert [(c.index, c.previous, c.reason) for c in changes][-1] == (1, 0, "lost")
        assert changes[-1].url == ws.urls[1]
        assert ws.promotions == 1 and len(ws.gaps) == 1 and ws.gaps[0] < FAILOVER_BOUND
        for ric in ("TRI.N", "IBM.N"):
            mine = [(k, q) for r, k, q in seen if r == ric]
            # one market behind both endpoints, so SeqNumbers compare across the switch:
            # they never go back, and no Update was delivered twice
            seqs = [q for _, q in mine]
            assert seqs == sorted(seqs)
            updates = [q for k, q in mine if k == "ItemUpdated"]
            assert len(updates) == len(set(updates))
            # the new active's unsolicited full image comes first and carries every change
            # since the last Update of the old one; its Updates follow it
            switch = [k for k, _ in mine].index("ItemRefreshed", 1)
            last_old, image, first_new = mine[switch - 1], mine[switch], mine[switch + 1]
            assert last_old[0] == "ItemUpdated" and first_new[0] == "ItemUpdated"
            assert last_old[1] <= image[1] < first_new[1]
            assert sub.records[ric].fields.get("BID") is not None
        assert all(s.is_open for s in sub.streams)  # no subscription lost
        assert sub.suppressed == 0


async def test_the_lost_session_comes_back_as_the_standby(warm2: SimServer) -> None:
    async with warm_for(warm2) as ws:
        sub = ws.subscribe("TRI.N")
        await sub.wait_complete(5)
        first = ws.sessions[0]
        assert first is not None
        await warm2.faults.apply("drop", endpoint=0)
        await until(lambda: ws.active == 1 and first.recoveries == 1, FAILOVER_BOUND)
        server_side = warm2.streaming.sessions
        await until(lambda: len(server_side) == 2 and any(cs.standby for cs in server_side))
        (standby,) = [cs for cs in server_side if cs.standby]
        assert standby.peer != ""  # the re-logged-in first session, told it is the standby
        raw: list[int] = []
        ws.on_raw = lambda i, ev: raw.append(i) if isinstance(ev, ItemUpdated) else None
        await until(lambda: raw.count(1) >= 5)
        assert 0 not in raw


async def test_promote_switches_the_servers_roles(warm2: SimServer) -> None:
    changes: list[ActiveChanged] = []
    async with warm_for(warm2, on_active=changes.append) as ws:
        sub = ws.subscribe("TRI.N")
        await sub.wait_complete(5)
        raw: list[int] = []
        ws.on_raw = lambda i, ev: raw.append(i) if isinstance(ev, ItemUpdated) else None
        ws.promote(1)
        assert ws.active == 1 and changes[-1].reason == "switch"
        await until(lambda: raw.count(1) >= 3)
        raw.clear()
        await until(lambda: raw.count(1) >= 10)
        assert 0 not in raw  # the old active's server was told it is the standby now
        assert ws.promotions == 1
        with pytest.raises(ValueError, match="0 or 1"):
            ws.promote(2)


async def test_a_server_without_warm_standby_is_filtered_by_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with SimServer(warm_options(support_standby=False)) as sim, warm_for(sim) as ws:
        sub = ws.subscribe("TRI.N")
        await sub.wait_complete(5)
        await until(lambda: sub.suppressed >= 3)  # the standby's server streams anyway
        delivered = sub.delivered
        await until(lambda: sub.delivered >= delivered + 3)
        assert sub.duplicates == 0
        assert "does not support warm standby" in caplog.text


@pytest.mark.serial
async def test_two_simulator_processes_kill_the_active_one(
    sim_process: Callable[..., SimProcess],
) -> None:
    """Two servers of their own (the same signing key, so one token works on both): the
    active one is killed, the standby one takes over and its Updates flow."""
    flags = ("--support-standby", "--key-from-seed", "--rate", "20")
    first, second = sim_process(*flags), sim_process(*flags)
    tokens = TokenManager(
        TokenClient(first.info["token_url"]), PasswordCredentials("demo", "demo", "app")
    )
    urls = [first.info["websocket_url"], second.info["websocket_url"]]
    changes: list[ActiveChanged] = []
    async with WarmStandby(urls, tokens=tokens, on_active=changes.append) as ws:
        raw: list[int] = []
        ws.on_raw = lambda i, ev: raw.append(i) if isinstance(ev, ItemUpdated) else None
        sub = ws.subscribe(["TRI.N", "IBM.N"])
        await sub.wait_complete(10)
        await until(lambda: sub.delivered >= 8)
        assert set(raw) == {0}  # updates only from the active server
        first.proc.kill()
        first.proc.wait()
        killed = time.monotonic()
        await until(lambda: ws.active == 1, FAILOVER_BOUND)
        delivered = {name: rec.updates for name, rec in sub.records.items()}
        await until(
            lambda: all(sub.records[n].updates >= delivered[n] + 3 for n in delivered),
            FAILOVER_BOUND,
        )
        assert time.monotonic() - killed < 2 * FAILOVER_BOUND
        assert changes[-1] == ActiveChanged(1, urls[1], 0, "lost")
        assert all(s.is_open for s in sub.streams)  # no subscription lost
        assert sub.duplicates == 0 and sub.suppressed == 0
