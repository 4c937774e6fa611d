"""A chain record's unsolicited Refresh (a new image, as after a posted Refresh or the
service's recovery) changes the chain's constituents as an Update would."""

from __future__ import annotations

import asyncio

from ertcloud import connect
from ertcloud.chains import ChainChanged, ChainSubscription
from ertcloud.sim.server import SimServer


async def test_a_chain_records_new_image_changes_the_constituents(sim: SimServer) -> None:
    sim.streaming.config.chain_churn = 0.0
    session = connect(
        sim.websocket_url, token_url=sim.token_url, user="demo", password="demo", client_id="t"
    )
    async with session:
        cs = ChainSubscription(session, "0#.DJI", open_members=False)
        await cs.start(10)
        try:
            first = await asyncio.wait_for(cs.__anext__(), 10)
            assert isinstance(first, ChainChanged) and first.removed == ()
            last = sim.streaming.chains.records["0#.DJI"].names[-1]
            old = session.streams[-1].fields["LINK_1"]
            assert [s.name for s in session.streams][-1] == last and old in cs.constituents()
            inst = sim.market.get(last)
            assert inst is not None
            sim.streaming.publish_refresh(inst, {"LINK_1": "VOD.L"})  # not an Update
            ev = await asyncio.wait_for(cs.__anext__(), 10)
            assert isinstance(ev, ChainChanged)
            assert ev.added == ("VOD.L",) and ev.removed == (old,)
            assert "VOD.L" in cs.constituents() and old not in cs.constituents()
            assert not cs.members  # names only: no constituent stream opened
        finally:
            await cs.close()
