"""Chains over real sockets: the simulator's chain records (short and long templates,
several linked records), the library's walk and its errors, and a chain subscription
that opens and closes constituents as the chain changes during the run."""

from __future__ import annotations

import asyncio

import pytest

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.chains import ChainChanged, ChainError, parse_chain_record
from ertcloud.sim.server import SimServer


def session_for(sim: SimServer) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens)


@pytest.mark.parametrize(("chain", "records"), [("0#.DJI", 3), ("0#.FTSE", 2), ("0#.SPX", 3)])
async def test_chain_walk_matches_the_simulator(sim: SimServer, chain: str, records: int) -> None:
    sim.streaming.config.chain_churn = 0.0
    async with session_for(sim) as session:
        got = await session.chain(chain)
    assert got == sim.streaming.chains.constituents(chain)
    assert len(got) == len(set(got)) > 14 * (records - 1)
    assert all(r in sim.market.instruments for r in got)
    assert len(sim.streaming.chains.records[chain].names) == records


async def test_chain_record_shape_on_the_wire(sim: SimServer) -> None:
    """No Domain on MarketPrice; all 14 links, REF_COUNT, prev and next on every record,
    null when empty; a snapshot is NonStreaming."""
    async with session_for(sim) as session:
        sub = session.subscribe(["0#.FTSE", "1#.FTSE", "2#.DJI"], snapshot=True)
        await sub.wait_complete(10)
        by = {s.name: s for s in sub.streams}
    first = by["0#.FTSE"].fields
    assert [k for k in first if k.startswith("LONGLINK")] == [f"LONGLINK{i}" for i in range(1, 15)]
    assert first["REF_COUNT"] == 14 and first["LONGPREVLR"] is None
    assert first["LONGNEXTLR"] == "1#.FTSE"
    last = by["1#.FTSE"].fields
    assert last["LONGPREVLR"] == "0#.FTSE" and last["LONGNEXTLR"] is None
    assert all(last[f"LONGLINK{i}"] is None for i in range(last["REF_COUNT"] + 1, 15))
    dji = by["2#.DJI"].fields
    assert all(f"LINK_{i}" in dji for i in range(1, 15)) and dji["NEXT_LR"] is None
    for s in by.values():
        assert s.state is not None and s.state.stream == "NonStreaming"


async def test_a_chain_that_does_not_exist_or_is_not_a_chain_is_a_clear_error(
    sim: SimServer,
) -> None:
    async with session_for(sim) as session:
        with pytest.raises(ChainError, match=r"0#NOPE.*not available"):
            await session.chain("0#NOPE")
        with pytest.raises(ChainError, match=r"TRI\.N is not a chain record"):
            await session.chain("TRI.N")


async def test_a_looping_chain_is_an_error_not_a_hang(sim: SimServer) -> None:
    links = {f"LINK_{i}": None for i in range(1, 15)}
    sim.market.create(
        "0#LOOPA",
        {"REF_COUNT": 1, **links, "LINK_1": "TRI.N", "PREV_LR": None, "NEXT_LR": "1#LOOPA"},
    )
    sim.market.create(
        "1#LOOPA",
        {"REF_COUNT": 1, **links, "LINK_1": "IBM.N", "PREV_LR": "0#LOOPA", "NEXT_LR": "0#LOOPA"},
    )
    async with session_for(sim) as session:
        with pytest.raises(ChainError, match="loops back to 0#LOOPA"):
            await asyncio.wait_for(session.chain("0#LOOPA"), 20)


def test_parse_chain_record_rules() -> None:
    links = {f"LINK_{i}": None for i in range(1, 15)}
    rec = parse_chain_record(
        {
            **links,
            "REF_COUNT": 3,
            "LINK_1": "A",
            "LINK_2": "",
            "LINK_3": "C",
            "LINK_4": "D",
            "NEXT_LR": "",
        }
    )
    assert rec is not None and rec.links == ("A", "C") and rec.next is None  # "" is blank
    assert parse_chain_record({**links, "NEXT_LR": None}) is None  # no REF_COUNT
    assert parse_chain_record({"REF_COUNT": 1, "LINK_1": "A", "NEXT_LR": None}) is None
    big = parse_chain_record({**links, "REF_COUNT": 99, "LINK_14": "Z", "PREV_LR": None})
    assert big is not None and big.links == ("Z",)  # clamped to 14 links


async def test_chain_subscription_follows_adds_and_removes(sim: SimServer) -> None:
    cfg = sim.streaming.config
    cfg.chain_churn = 0.0
    changes: list[ChainChanged] = []
    async with session_for(sim) as session:
        cs = await session.subscribe_chain("0#.DJI", fields=["BID", "ASK"])
        try:
            initial = cs.constituents()
            assert initial == sim.streaming.chains.constituents("0#.DJI")
            cfg.chain_churn = 1.0
            cfg.rate = 30

            async def follow() -> None:
                async for ev in cs:
                    if isinstance(ev, ChainChanged):
                        changes.append(ev)
                        kinds = {(bool(c.added), bool(c.removed)) for c in changes[1:]}
                        if (True, False) in kinds and (False, True) in kinds:
                            return

            await asyncio.wait_for(follow(), 60)
            cfg.chain_churn = 0.0
            await asyncio.sleep(0.5)  # updates in flight
            want = sim.streaming.chains.constituents("0#.DJI")

            def member_streams() -> list[str]:
                # constituents' streams carry the view; the chain records' do not
                return sorted(s.name for s in session.streams if s.is_open and s.request.view)

            async def settled() -> None:
                while cs.constituents() != want or member_streams() != sorted(want):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(settled(), 10)
            assert sorted(cs.members) == sorted(want) == member_streams()
            assert any(c.removed for c in changes[1:]) and any(c.added for c in changes[1:])
        finally:
            await cs.close()
    assert changes[0].added == tuple(initial) and changes[0].removed == ()


async def test_subscribe_chain_errors_close_what_they_opened(sim: SimServer) -> None:
    links = {f"LINK_{i}": None for i in range(1, 15)}
    sim.market.create(
        "0#LOOPB",
        {"REF_COUNT": 1, **links, "LINK_1": "TRI.N", "PREV_LR": None, "NEXT_LR": "0#LOOPB"},
    )
    async with session_for(sim) as session:
        with pytest.raises(ChainError, match="loops back to 0#LOOPB"):
            await asyncio.wait_for(session.subscribe_chain("0#LOOPB"), 20)
        with pytest.raises(ChainError, match="not an available chain record"):
            await asyncio.wait_for(session.subscribe_chain("0#NOPE"), 20)
        assert not [s for s in session.streams if s.is_open and s.streaming]
