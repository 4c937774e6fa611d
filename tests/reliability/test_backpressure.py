"""Bounded subscription queues under a slow consumer, against the simulator at a high rate."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ertcloud.protocol.events import ItemRefreshed, ItemUpdated
from ertcloud.protocol.streams import RIPPLES
from ertcloud.sim.server import SimServer

from .helpers import eventually, session_for

RIPPLED = {name for chain in RIPPLES.values() for name in chain}
RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", "GBP=", "VOD.L", "T.N", "MSFT.O"]


async def _stop_market(sim: SimServer) -> None:
    sim.streaming.config.rate = 0
    await asyncio.sleep(0.5)


async def test_conflate_keeps_queue_bounded_and_image_exact(
    make_sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ertcloud.client")
    async with make_sim(server={"rate": 300.0}) as sim, session_for(sim) as session:
        sub = session.subscribe(RICS, max_queue=50)
        assert sub.overflow == "conflate"
        await sub.wait_complete(timeout=20)
        consumed = 0
        last_seen: dict[str, dict[str, object]] = {}
        # A deliberately slow consumer: 20 ms per event while ~2400 updates/s arrive.
        async for ev in sub:
            consumed += 1
            fields = ev.message.fields if isinstance(ev, (ItemRefreshed, ItemUpdated)) else None
            last_seen.setdefault(ev.stream.name, {}).update(fields or {})
            assert sub.pending <= sub.max_queue + len(RICS)
            await asyncio.sleep(0.02)
            if sub.conflated > 500 and consumed > 60:
                break
        assert sub.high_water <= sub.max_queue + len(RICS)
        assert sub.dropped == 0
        assert sub.overflows >= 1
        warnings = [r for r in caplog.records if "subscription queue full" in r.getMessage()]
        assert 1 <= len(warnings) <= sub.overflows
        await _stop_market(sim)
        # drain what is left: the merged events bring the consumer to the current image
        while sub.pending:
            ev = await sub.__anext__()
            fields = ev.message.fields if isinstance(ev, (ItemRefreshed, ItemUpdated)) else None
            last_seen.setdefault(ev.stream.name, {}).update(fields or {})
        for ric in RICS:
            image = sim.market.get(ric).image  # type: ignore[union-attr]
            assert sub.records[ric].fields == image
            # every field the consumer was told about has its final value
            for name, value in last_seen[ric].items():
                if name not in RIPPLED:  # ripple targets are the cache's work, not the wire's
                    assert image.get(name) == value, (ric, name)


async def test_drop_oldest_counts_drops(make_sim) -> None:
    async with make_sim(server={"rate": 300.0}) as sim, session_for(sim) as session:
        sub = session.subscribe(RICS, max_queue=20, overflow="drop_oldest")
        await eventually(lambda: sub.dropped > 200, what="drops")
        assert sub.pending <= 20
        assert sub.high_water <= 20
        assert sub.conflated == 0
        await _stop_market(sim)
        for ric in RICS:
            assert sub.records[ric].fields == sim.market.get(ric).image  # type: ignore[union-attr]


@pytest.mark.parametrize("transport", ["aiohttp", "picows"])
async def test_block_holds_the_reader(make_sim, transport: str) -> None:
    async with (
        make_sim(server={"rate": 300.0}) as sim,
        session_for(sim, transport=transport) as session,
    ):
        sub = session.subscribe(RICS, max_queue=30, overflow="block")
        await eventually(lambda: sub.blocked, what="the queue to fill")
        received = session.protocol.messages_received
        await asyncio.sleep(0.5)
        # nothing more is read while the consumer does not make room
        assert session.protocol.messages_received == received
        assert sub.pending <= 30 + 40  # one frame's worth at most past the bound
        assert sub.dropped == 0 and sub.conflated == 0
        for _ in range(sub.pending):
            await sub.__anext__()
        await eventually(lambda: session.protocol.messages_received > received, what="reading")
        await _stop_market(sim)
        while sub.blocked or sub.pending:
            await sub.__anext__()
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        for ric in RICS:
            assert sub.records[ric].fields == sim.market.get(ric).image  # type: ignore[union-attr]


async def test_bad_overflow_policy_is_refused(sim: SimServer) -> None:
    async with session_for(sim) as session:
        with pytest.raises(ValueError, match="overflow must be one of"):
            session.subscribe("TRI.N", overflow="spill")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_queue"):
            session.subscribe("TRI.N", max_queue=0)
