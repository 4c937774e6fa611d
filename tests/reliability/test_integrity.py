"""Sequence gaps, staleness and verify() against the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

from ertcloud.client.integrity import (
    SILENCE_SLICE,
    Difference,
    IntegrityMonitor,
    SequenceGap,
    StreamFresh,
    StreamStale,
    compare_images,
)
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated
from ertcloud.protocol.image import FieldImage
from ertcloud.protocol.messages import Refresh, Request, State, Update
from ertcloud.protocol.streams import ItemStream, Phase

from .helpers import eventually, session_for

RICS = ["EUR=", "JPY=", "TRI.N", "IBM.N"]


def _stream(view: list[str] | None = None) -> ItemStream:
    return ItemStream(2, Request(id=2, view=view), "X")


def _feed(mon: IntegrityMonitor, s: ItemStream, seqs: list[int]) -> None:
    mon.observe(ItemRefreshed(s, Refresh(id=2, seq_number=seqs[0], state=State("Open", "Ok"))))
    for q in seqs[1:]:
        mon.observe(ItemUpdated(s, Update(id=2, seq_number=q)))


async def test_the_silence_sweep_lets_the_loop_run_between_slices() -> None:
    # 100k streams in one sweep would hold the loop (and the frames) for a long callback
    streams = [ItemStream(3 + i, Request(id=3 + i), f"X{i}") for i in range(2 * SILENCE_SLICE + 7)]
    for s in streams:
        s.phase = Phase.OPEN
    turns = [0]  # iterations of another task: what the loop did meanwhile
    went_stale: list[int] = []
    mon = IntegrityMonitor(stale_after=0.2, on_event=lambda ev: went_stale.append(turns[0]))

    async def other() -> None:
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(other()), asyncio.create_task(mon.watch(lambda: streams))]
    try:
        await eventually(lambda: len(went_stale) == len(streams), what="every stream stale")
    finally:
        for t in tasks:
            t.cancel()
    assert all(mon.health(s).stale for s in streams)
    assert len(set(went_stale)) == 3  # three slices, the other task ran between them


def test_gap_needs_a_learned_step() -> None:
    events: list[Any] = []
    mon = IntegrityMonitor(on_event=events.append)
    s = _stream()
    _feed(mon, s, [100, 116, 132, 148, 164, 212, 228, 228, 200, 216])
    [gap] = events
    assert gap == SequenceGap(s, 180, 212, 2)
    h = mon.health(s)
    assert (h.step, h.gaps, h.missing, h.out_of_order) == (16, 1, 2, 2)


def test_view_streams_count_skips_not_gaps() -> None:
    events: list[Any] = []
    mon = IntegrityMonitor(on_event=events.append)
    s = _stream(view=["BID"])
    _feed(mon, s, [0, 16, 32, 48, 64, 128])
    assert events == [] and mon.health(s).skipped == 3 and mon.gaps == 0


def test_compare_images() -> None:
    assert compare_images({"A": 1, "B": float("nan")}, {"A": 1, "B": float("nan")}) == ()
    assert compare_images({"A": 1}, {"A": 2, "C": None}) == (Difference("A", 1, 2),)
    assert compare_images({"A": 1}, {}) == (Difference("A", 1, None),)


async def test_no_gaps_from_the_simulator_then_gaps_when_it_conflates(make_sim) -> None:
    gaps: list[SequenceGap] = []

    def on_integrity(ev: Any) -> None:
        if isinstance(ev, SequenceGap):
            gaps.append(ev)

    async with (
        make_sim(server={"rate": 50.0}) as sim,
        session_for(sim, on_integrity=on_integrity) as session,
    ):
        sub = session.subscribe(RICS, queue=False, on_update=lambda e: None)
        await sub.wait_complete(timeout=20)
        # another client's refreshes of the same items must not move our sequence
        other = session.subscribe(RICS[:2], snapshot=True, queue=False, on_refresh=lambda e: None)
        await other.wait_complete(timeout=20)
        fx = sub.streams[:2]
        await eventually(lambda: all(s.updates > 30 for s in fx), what="updates")
        assert [g for g in gaps if g.stream in fx] == []
        assert all(session.integrity.health(s).step == 16 for s in fx)
        # a fault that conflates on the server side skips sequence numbers
        await sim.faults.apply("slow_consumer", interval=0.3)
        await eventually(lambda: any(g.stream in fx for g in gaps), what="a gap")
        await sim.faults.clear()
        assert session.integrity.gaps >= 1 and session.integrity.missing >= 1
        sim.streaming.config.rate = 0
        await asyncio.sleep(0.5)
        reports = await session.verify(sub)
        assert [r.name for r in reports] == RICS and all(r.ok for r in reports), reports


async def test_silent_items_go_stale_and_fresh_again(make_sim) -> None:
    events: list[Any] = []
    async with (
        make_sim(server={"rate": 20.0}) as sim,
        session_for(sim, stale_after=0.5, on_integrity=events.append) as session,
    ):
        sub = session.subscribe(["EUR=", "TRI.N"], queue=False, on_update=lambda e: None)
        await sub.wait_complete(timeout=20)
        sim.streaming.config.rate = 0
        await eventually(lambda: len(session.integrity.stale) == 2, what="stale items")
        stale = [e for e in events if isinstance(e, StreamStale)]
        assert {e.stream.name for e in stale} == {"EUR=", "TRI.N"}
        assert all(e.reason == "silent" for e in stale)
        sim.streaming.config.rate = 20.0
        await eventually(lambda: not session.integrity.stale, what="fresh items")
        assert {e.stream.name for e in events if isinstance(e, StreamFresh)} == {"EUR=", "TRI.N"}


async def test_verify_reports_a_corrupted_cache(make_sim) -> None:
    async with make_sim(server={"rate": 0.0}) as sim, session_for(sim) as session:
        sub = session.subscribe(["TRI.N", "EUR="], fields=["BID", "ASK"])
        await sub.wait_complete(timeout=20)
        tri = sub.records["TRI.N"]
        real = tri.fields["BID"]
        corrupted = dict(tri.fields)  # the image itself is read-only: replace it
        corrupted["BID"] = -1.0
        del corrupted["ASK"]
        tri.fields = FieldImage(corrupted)
        tri_report, eur_report = await session.verify(sub)
        assert eur_report.ok
        assert not tri_report.ok
        assert tri_report.differences == (
            Difference("ASK", None, sim.market.get("TRI.N").image["ASK"]),  # type: ignore[union-attr]
            Difference("BID", -1.0, real),
        )
        bad = session.subscribe("NO.SUCH.RIC")
        await bad.wait_complete(timeout=20)
        [report] = await session.verify(bad.streams[0])
        assert not report.ok and report.error
