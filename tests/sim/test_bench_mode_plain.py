"""The simulator's own bench sender (no benchmark machinery installed), over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.sim import bench
from ertcloud.sim.bench import BENCH_DOMAIN, BenchSpec, Progress
from ertcloud.sim.server import SimServer


@pytest.fixture(autouse=True)
def _plain_sender() -> Iterator[None]:
    bench.set_sender(None)
    yield
    bench.set_sender(None)


async def _until(cond: Callable[[], bool]) -> None:
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def _bench(
    sim: SimServer, rics: list[str], elements: dict[str, Any], *, delivered: bool = True
) -> tuple[dict[str, Any], list[Any]]:
    """Subscribe ``rics``, ask for a bench stream; the reply and the updates received
    (with ``delivered``, once as many arrived as the reply says were sent)."""
    sim.streaming.config.rate = 0  # bench traffic only
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    async with Session(sim.websocket_url, tokens=tokens) as session:
        replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        session.on_generic = lambda g: replies.put_nowait(dict(g.elements or {}))
        updates: list[Any] = []
        sub = session.subscribe(rics, queue=False, on_update=updates.append)
        await asyncio.wait_for(_until(lambda: all(s.refreshes for s in sub.streams)), 10)
        session.send_generic(session.protocol.login.id, domain=BENCH_DOMAIN, elements=elements)
        reply = await asyncio.wait_for(replies.get(), 30)
        if delivered:
            await asyncio.wait_for(_until(lambda: len(updates) >= reply.get("Sent", 0)), 10)
        else:
            await asyncio.sleep(0.3)
        return reply, updates


async def test_streams_the_messages_asked_for_in_frames(sim: SimServer) -> None:
    reply, updates = await _bench(
        sim, ["TRI.N", "IBM.N", "EUR="], {"Messages": 503, "PerFrame": 10, "Seconds": 20}
    )
    assert reply["Sent"] == len(updates) == 503
    assert reply["Bytes"] > 503 * 50
    assert {u.stream.name for u in updates} == {"TRI.N", "IBM.N", "EUR="}
    assert all(u.message.update_type == "Quote" for u in updates if u.stream.name == "EUR=")


async def test_paces_and_stamps(sim: SimServer) -> None:
    reply, updates = await _bench(
        sim, ["TRI.N"], {"Rate": 1000, "Messages": 300, "PerFrame": 5, "Stamp": True}
    )
    assert reply["Sent"] == len(updates) == 300
    assert reply["Seconds"] >= 0.25  # 300 messages at 1000/s: not sent in one burst
    stamps = [u.message.sim_ts for u in updates]
    assert all(isinstance(t, int) and t > 0 for t in stamps)
    assert stamps[-1] - stamps[0] >= 200_000_000  # ns


async def test_stops_when_the_seconds_are_up(sim: SimServer) -> None:
    reply, updates = await _bench(sim, ["TRI.N"], {"Rate": 100, "Seconds": 0.5})
    assert 1 <= reply["Sent"] <= 60
    assert reply["Sent"] == len(updates)
    assert reply["Seconds"] < 5


async def test_an_installed_sender_writes_the_stream(sim: SimServer) -> None:
    calls: list[tuple[BenchSpec, int]] = []

    async def sender(cs: Any, spec: BenchSpec, msgs: list[bytes], progress: Progress) -> None:
        calls.append((spec, len(msgs)))
        progress.sent, progress.bytes = 7, 70

    bench.set_sender(sender)
    reply, updates = await _bench(sim, ["TRI.N"], {"Messages": 7, "PerFrame": 2}, delivered=False)
    assert calls and calls[0][0].per_frame == 2 and calls[0][1] > 0
    assert (reply["Sent"], reply["Bytes"]) == (7, 70)
    assert updates == []  # it wrote nothing


def test_frame_size_counts_the_websocket_header() -> None:
    assert [bench.frame_size(n) for n in (0, 125, 126, 65535, 65536)] == [
        2,
        127,
        130,
        65539,
        65546,
    ]
