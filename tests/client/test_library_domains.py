"""The library against the simulator for every domain: order books, symbol lists, yield
curves, the source directory, private streams and posts, over real sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ertcloud import PasswordCredentials, PostRejected, Session, TokenClient, TokenManager
from ertcloud.protocol.book import OrderBook, symbols
from ertcloud.sim.server import SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)


def session_for(sim: SimServer) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens)


async def quiesce(sim: SimServer) -> None:
    sim.streaming.config.rate = 0
    await asyncio.sleep(0.4)


@pytest.mark.parametrize("domain", ["MarketByPrice", "MarketByOrder"])
async def test_order_book_follows_updates_and_matches_the_quote(
    sim: SimServer, domain: str
) -> None:
    sim.streaming.config.rate = 40
    async with session_for(sim) as session:
        book_sub = session.subscribe("TRI.N", domain=domain)
        quote_sub = session.subscribe("TRI.N", fields=["BID", "ASK"])
        await book_sub.wait_complete(timeout=10)
        stream = book_sub.streams[0]
        # updates arrive on top of the (multi-part) refresh
        await asyncio.wait_for(_until(lambda: stream.updates >= 3), 10)
        assert stream.map is not None
        await quiesce(sim)
        fresh = session.subscribe("TRI.N", domain=domain, snapshot=True)
        await fresh.wait_complete(timeout=10)
        assert fresh.streams[0].map is not None
        assert stream.map.entries == fresh.streams[0].map.entries
        book = book_sub.books["TRI.N"]
        assert isinstance(book, OrderBook) and book.bids and book.asks
        assert book.best_bid is not None and book.best_ask is not None
        assert book.best_bid.price < book.best_ask.price
        quote = quote_sub.streams[0].fields
        assert (book.best_bid.price, book.best_ask.price) == (quote["BID"], quote["ASK"])


async def test_symbol_list_and_chain(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe([".AV.N", "0#.SPX"], domain="SymbolList")
        await sub.wait_complete(timeout=10)
        most_active = symbols(sub.records[".AV.N"].map)  # type: ignore[arg-type]
        chain = symbols(sub.records["0#.SPX"].map)  # type: ignore[arg-type]
        assert len(most_active) == 5 and all(r.endswith(".N") for r in most_active)
        assert {"TRI.N", "IBM.N", "MSFT.O"} <= set(chain)


async def test_yield_curve_vectors_are_updated_in_place(sim: SimServer) -> None:
    sim.streaming.config.rate = 20
    async with session_for(sim) as session:
        sub = session.subscribe("USD.SWAP", domain="YieldCurve")
        await sub.wait_complete(timeout=10)
        stream = sub.streams[0]
        await asyncio.wait_for(_until(lambda: stream.updates >= 3), 15)
        await quiesce(sim)
        fresh = session.subscribe("USD.SWAP", domain="YieldCurve", snapshot=True)
        await fresh.wait_complete(timeout=10)
        vectors = [k for k, v in stream.fields.items() if isinstance(v, dict) and "Entries" in v]
        assert vectors
        for name in vectors:
            assert stream.fields[name]["Entries"] == fresh.streams[0].fields[name]["Entries"]
        # TIMACT is the time the image was built, so a fresh image carries a later one
        fresh_fields = {k: v for k, v in fresh.streams[0].fields.items() if k != "TIMACT"}
        assert {k: v for k, v in stream.fields.items() if k != "TIMACT"} == fresh_fields


async def test_source_directory(sim: SimServer) -> None:
    async with session_for(sim) as session:
        got: list[Any] = []
        session.subscribe("", domain="Source", on_refresh=got.append, snapshot=True)
        await asyncio.wait_for(_until(lambda: bool(got)), 10)
        text = repr(got[0].message)
        assert "ELEKTRON_DD" in text and "257" in text


async def test_private_stream_and_posts(sim: SimServer) -> None:
    async with session_for(sim) as session:
        other = session.subscribe("IBM.N")
        mine = session.subscribe("IBM.N", private=True)
        await other.wait_complete(timeout=5)
        await mine.wait_complete(timeout=5)
        refreshes: list[Any] = []
        mine.on_refresh = refreshes.append
        ack = await session.post(mine.streams[0], {"BID": 12.5, "ASK": 12.6})
        assert ack is not None and not ack.nak_code
        await asyncio.wait_for(_until(lambda: other.streams[0].fields.get("BID") == 12.5), 5)
        with pytest.raises(PostRejected) as ei:
            await session.post("NO.SUCH.RIC", {"BID": 1.0})
        assert ei.value.nak_code == "SymbolUnknown"


async def _until(cond: Any) -> None:
    """Poll a condition on objects that offer no event to wait on."""
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def test_pause_resume_and_view_change(make_sim: Any) -> None:
    async with (
        make_sim(server={"pause_resume": True, "rate": 30}) as sim,
        session_for(sim) as session,
    ):
        assert session.protocol.login.supports("PauseResume")
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(timeout=5)
        s = sub.streams[0]
        await asyncio.wait_for(_until(lambda: s.updates >= 2), 5)
        sub.pause()
        await asyncio.sleep(0.3)  # in-flight updates drain
        n = s.updates
        await asyncio.sleep(0.4)  # some 12 updates at 30 a second, were it not paused
        assert s.updates == n
        sub.resume()
        await asyncio.wait_for(_until(lambda: s.refreshes >= 2 and s.updates > n), 5)
        sub.change(fields=["BID", "ASK"])
        await asyncio.wait_for(_until(lambda: s.refreshes >= 3), 5)
        assert set(s.fields) == {"BID", "ASK"}


async def test_pause_is_emulated_when_the_server_cannot_pause(sim: SimServer) -> None:
    sim.streaming.config.rate = 30
    async with session_for(sim) as session:
        assert not session.protocol.login.supports("PauseResume")
        delivered: list[Any] = []
        sub = session.subscribe("TRI.N", on_update=delivered.append, on_refresh=delivered.append)
        await sub.wait_complete(timeout=5)
        s = sub.streams[0]
        await asyncio.wait_for(_until(lambda: len(delivered) >= 3), 5)
        sub.pause()
        n, cached = len(delivered), s.updates
        await asyncio.sleep(0.4)  # some 12 updates at 30 a second
        assert len(delivered) == n and s.updates > cached  # cache follows, delivery held
        sub.resume()
        await asyncio.wait_for(_until(lambda: s.refreshes >= 2 and len(delivered) > n), 5)


async def test_c01_service_down_then_unsolicited_refresh(sim: SimServer) -> None:
    async with session_for(sim) as session:
        statuses: list[Any] = []
        refreshes: list[Any] = []
        sub = session.subscribe("TRI.N", on_status=statuses.append, on_refresh=refreshes.append)
        await sub.wait_complete(timeout=5)
        s = sub.streams[0]
        await sim.faults.apply("service_down", seconds=0.5)
        await asyncio.wait_for(_until(lambda: bool(statuses)), 5)
        st = statuses[0].message.state
        assert (st.stream, st.data, st.text) == ("Open", "Suspect", "**F10: Service Down")
        assert s.is_open and not s.data_ok  # stale, not closed, not re-requested
        await asyncio.wait_for(_until(lambda: len(refreshes) >= 2), 5)
        assert refreshes[1].message.solicited is False
        assert s.data_ok and session.protocol.streams.get(s.id) is s
        assert sub.streams[0] is s  # the same stream: the server recovered it


async def test_c03_redirected_stream_closes_with_the_new_name(sim: SimServer) -> None:
    async with session_for(sim) as session:
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(timeout=5)
        await sim.faults.apply("redirect_items", rics=["TRI.N"], to="TRI.TO")
        closed = None
        async for ev in sub:
            if type(ev).__name__ == "StreamClosed":
                closed = ev
                break
        assert closed is not None and closed.state.stream == "Redirected"
        assert closed.state.text == "Stream redirect for item: TRI.N"
        assert session.protocol.streams.get(closed.stream.id) is None
        assert not sim.streaming.subs


async def test_i02_update_between_refresh_parts_is_applied(make_sim: Any) -> None:
    async with make_sim(
        server={"interleave_refresh": True, "rate": 0, "max_msg_size": 4000}
    ) as sim:
        seen: list[tuple[str, bool | None]] = []

        def trace(kind: str, detail: Any) -> None:
            if kind == "received":
                for m in json.loads(detail):
                    if m.get("Domain") == "MarketByOrder":
                        seen.append((m["Type"], m.get("Complete")))

        tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "a"))
        async with Session(sim.websocket_url, tokens=tokens, trace=trace) as session:
            sub = session.subscribe("TRI.N", domain="MarketByOrder")
            await asyncio.wait_for(_until(lambda: sub.streams[0].refreshes >= 2), 10)
            await asyncio.wait_for(_until(lambda: seen and seen[-1] == ("Refresh", None)), 10)
            kinds = [k for k, _ in seen]
            first_update = kinds.index("Update")
            assert kinds[0] == "Refresh" and 0 < first_update < len(kinds) - 1
            assert "Refresh" in kinds[first_update:]  # parts came after the update
            await asyncio.sleep(0.3)
            fresh = session.subscribe("TRI.N", domain="MarketByOrder", snapshot=True)
            await fresh.wait_complete(timeout=10)
            await asyncio.wait_for(_until(lambda: not fresh.streams[0].is_open), 10)
            assert sub.streams[0].map is not None and fresh.streams[0].map is not None
            assert sub.streams[0].map.entries == fresh.streams[0].map.entries
