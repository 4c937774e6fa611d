"""Every domain of the simulated streaming server, driven by a raw WebSocket client:
order books (MarketByPrice, MarketByOrder, MarketMaker), multi-part refreshes, SymbolList,
YieldCurve, the Source directory, posting, pause/resume, private streams, Qos and
entitlements (conformance sections B, D, F, G, I)."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rawclient import Raw, connect, token

from ertcloud.protocol import codec
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.sim.depth import ASK, BID, Book, level_key
from ertcloud.sim.domains import split_refresh
from ertcloud.sim.server import SimServer

Pred = Callable[[dict[str, Any]], bool]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(key: str) -> str:
    return base64.b64decode(key).decode()


def on(sid: int, mtype: str | None = None) -> Pred:
    return lambda m: m.get("ID") == sid and (mtype is None or m.get("Type") == mtype)


def apply_map(book: dict[str, dict[str, Any]], cmap: dict[str, Any]) -> None:
    """A consumer cache: apply Map entries in order; deletes must name existing keys."""
    for e in cmap["Entries"]:
        act, key = e["Action"], e["Key"]
        if act == "Add":
            book[key] = dict(e["Fields"])
        elif act == "Update":
            assert key in book, f"update of unknown key {key}"
            book[key].update(e["Fields"])
        else:
            assert act == "Delete"
            assert key in book, f"delete of unknown key {key}"
            del book[key]


async def read_image(raw: Raw, sid: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Every part of a (possibly multi-part) refresh on ``sid``."""
    parts = [await raw.next(on(sid, "Refresh"), timeout)]
    while parts[-1].get("Complete") is False:
        parts.append(await raw.next(on(sid, "Refresh"), timeout))
    return parts


def best(book: dict[str, dict[str, Any]]) -> tuple[float, float]:
    bids = [f["ORDER_PRC"] for f in book.values() if f["ORDER_SIDE"] == "BID"]
    asks = [f["ORDER_PRC"] for f in book.values() if f["ORDER_SIDE"] == "ASK"]
    return max(bids), min(asks)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as h:
        yield h


@pytest.fixture
async def raw(sim: SimServer, http: aiohttp.ClientSession) -> AsyncIterator[Raw]:
    r = await connect(sim, http)
    yield r
    await r.ws.close()


# -- the book itself (no I/O) ------------------------------------------------------------


def _clock() -> tuple[str, int]:
    return "2024-05-06", 36_000_000


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ops=st.lists(
        st.tuples(st.sampled_from(["quote", "churn"]), st.integers(-3, 3), st.integers(1, 5)),
        max_size=60,
    ),
)
def test_book_deltas_replay_to_the_book_and_follow_the_quote(
    seed: int, ops: list[tuple[str, int, int]]
) -> None:
    rng = random.Random(seed)
    book = Book("X.N", tick=0.01, dec=2, lot=100, rng=rng, clock=_clock, depth=10)
    bid_t, spread = 5000, 2
    book.sync(bid_t / 100, (bid_t + spread) / 100, 300, 400)
    mbp: dict[str, dict[str, Any]] = {}
    mbo: dict[str, dict[str, Any]] = {}
    apply_map(mbp, {"Entries": book.mbp_entries()})
    apply_map(mbo, {"Entries": book.mbo_entries()})
    for op, move, n in ops:
        if op == "quote":
            bid_t += move
            spread = 1 + (spread + move) % 3
            bid, ask = bid_t / 100, (bid_t + spread) / 100
            delta = book.sync(bid, ask, 100 * n, 100 * (6 - n))
            assert book.best(BID) == round(bid, 6) and book.best(ASK) == round(ask, 6)
            assert book.level_size(BID, round(bid, 6)) == 100 * n
        else:
            delta = book.churn(n)
        apply_map(mbp, {"Entries": delta.mbp})
        apply_map(mbo, {"Entries": delta.mbo})
        assert {e["Key"]: e["Fields"] for e in book.mbp_entries()} == mbp
        assert {e["Key"]: e["Fields"] for e in book.mbo_entries()} == mbo
        hi_bid, lo_ask = best(mbp)
        assert hi_bid < lo_ask, "crossed book"
        # MBP is the aggregation of MBO
        agg: dict[str, list[float]] = {}
        for f in mbo.values():
            side = "B" if f["ORDER_SIDE"] == "BID" else "A"
            agg.setdefault(level_key(f["ORDER_PRC"], side), []).append(f["ORDER_SIZE"])
        assert {k: (len(v), sum(v)) for k, v in agg.items()} == {
            k: (f["NO_ORD"], f["ACC_SIZE"]) for k, f in mbp.items()
        }


def test_level_key_is_price_with_six_decimals_and_side() -> None:
    assert level_key(50.51, ASK) == "NTAuNTEwMDAwQQ=="
    assert unb64(level_key(50.49, BID)) == "50.490000B"


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=120),
    max_size=st.integers(300, 4000),
)
def test_split_refresh_parts_fit_and_keep_every_entry(sizes: list[int], max_size: int) -> None:
    entries = [
        {"Action": "Add", "Key": b64(f"K{i}"), "Fields": {"X": "y" * n}}
        for i, n in enumerate(sizes)
    ]
    first = Refresh(
        id=5,
        domain="MarketByPrice",
        key=Key(name="TRI.TO", service="ELEKTRON_DD"),
        state=State(stream="Open", data="Ok", text="All is well"),
        map={"KeyType": "Buffer", "CountHint": len(entries), "Summary": {"Fields": {"A": 1}}},
    )
    parts = split_refresh(first, entries, max_size)
    assert [e for p in parts for e in (p.map or {})["Entries"]] == entries
    if len(parts) == 1:
        assert parts[0].complete is None and parts[0].part_number is None
        return
    for i, p in enumerate(parts):
        assert p.part_number == i
        assert p.complete is (None if i == len(parts) - 1 else False)
        assert (p.clear_cache is False) == (i > 0)
        assert ("Summary" in (p.map or {})) == (i == 0)
        if len((p.map or {})["Entries"]) > 1:
            assert len(codec.encode_one(p)) + 2 <= max_size


# -- I01 / D04: MarketByPrice ------------------------------------------------------------


async def test_mbp_multi_part_refresh_then_consistent_updates(make_sim: Any) -> None:
    async with (
        make_sim(server={"max_msg_size": 4000, "rate": 20}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = await connect(sim, http)
        await raw.send({"ID": 40, "Domain": "MarketByPrice", "Key": {"Name": "TRI.TO"}})
        parts = await read_image(raw, 40)
        assert len(parts) >= 2
        p0 = parts[0]
        assert p0["Domain"] == "MarketByPrice" and p0["PartNumber"] == 0
        assert p0["Complete"] is False and p0["Key"]["Name"] == "TRI.TO"
        assert p0["Map"]["KeyType"] == "Buffer" and p0["Map"]["Summary"]["Fields"]["CURRENCY"]
        for i, p in enumerate(parts[1:], 1):
            assert p["PartNumber"] == i and p["ClearCache"] is False
            assert "Summary" not in p["Map"]
        assert "Complete" not in parts[-1]
        assert max(raw.frame_sizes) <= 4000
        book: dict[str, dict[str, Any]] = {}
        for p in parts:
            apply_map(book, p["Map"])
        assert len(book) == p0["Map"]["CountHint"]
        for key, f in book.items():
            side = "A" if f["ORDER_SIDE"] == "ASK" else "B"
            assert unb64(key) == f"{f['ORDER_PRC']:.6f}{side}"
            assert f["NO_ORD"] >= 1 and f["ACC_SIZE"] > 0
        actions: set[str] = set()
        for _ in range(15):
            u = await raw.next(on(40, "Update"), timeout=10)
            assert u["Domain"] == "MarketByPrice" and u["UpdateType"] == "Unspecified"
            assert "TIMACT_MS" in u["Map"]["Summary"]["Fields"]
            actions |= {e["Action"] for e in u["Map"]["Entries"]}
            apply_map(book, u["Map"])
            hi, lo = best(book)
            assert hi < lo
        assert "Update" in actions
        await raw.ws.close()


async def test_marketprice_bid_ask_equal_mbp_and_mbo_best_levels(make_sim: Any) -> None:
    async with (
        make_sim(server={"rate": 40}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = await connect(sim, http)
        await raw.send(
            [
                {"ID": 2, "Key": {"Name": "IBM.N"}},
                {"ID": 3, "Domain": "MarketByPrice", "Key": {"Name": "IBM.N"}},
                {"ID": 4, "Domain": "MarketByOrder", "Key": {"Name": "IBM.N"}},
            ]
        )
        mp = dict((await raw.next(on(2, "Refresh")))["Fields"])
        mbp: dict[str, dict[str, Any]] = {}
        mbo: dict[str, dict[str, Any]] = {}
        for p in await read_image(raw, 3):
            apply_map(mbp, p["Map"])
        for p in await read_image(raw, 4):
            apply_map(mbo, p["Map"])
        await asyncio.sleep(0.5)  # let the books move (some 20 steps of each item)
        sim.streaming.config.rate = 0
        await raw.drain(quiet=0.3)
        quotes = 0
        for m in raw.received:
            if m.get("Type") != "Update":
                continue
            if m["ID"] == 2:
                mp.update(m["Fields"])
                quotes += "BID" in m["Fields"]
            else:
                apply_map(mbp if m["ID"] == 3 else mbo, m["Map"])
        assert quotes > 0, "the quote never moved"
        bid, ask = best(mbp)
        assert (bid, ask) == (mp["BID"], mp["ASK"])
        assert best(mbo) == (bid, ask)
        assert mbp[level_key(bid, "B")]["ACC_SIZE"] == mp["BIDSIZE"]
        assert mbp[level_key(ask, "A")]["ACC_SIZE"] == mp["ASKSIZE"]
        # and a fresh image agrees as well
        raw.received.clear()
        await raw.send(
            [
                {"ID": 5, "Key": {"Name": "IBM.N"}, "Streaming": False},
                {"ID": 6, "Domain": "MarketByPrice", "Key": {"Name": "IBM.N"}, "Streaming": False},
            ]
        )
        snap = (await raw.next(on(5, "Refresh")))["Fields"]
        book2: dict[str, dict[str, Any]] = {}
        for p in await read_image(raw, 6):
            assert p["State"]["Stream"] == "NonStreaming"
            apply_map(book2, p["Map"])
        assert best(book2) == (snap["BID"], snap["ASK"]) == (bid, ask)
        assert book2 == mbp
        await raw.ws.close()


async def test_mbo_refresh_is_multi_part_at_default_max_msg_size(raw: Raw) -> None:
    await raw.send({"ID": 41, "Domain": "MarketByOrder", "Key": {"Name": "TRI.TO"}})
    parts = await read_image(raw, 41)
    assert len(parts) >= 2
    assert max(raw.frame_sizes) <= 61430
    orders: dict[str, dict[str, Any]] = {}
    for p in parts:
        apply_map(orders, p["Map"])
    assert len(orders) >= 200
    f = next(iter(orders.values()))
    assert set(f) >= {"ORDER_ID", "ORDER_PRC", "ORDER_SIDE", "ORDER_SIZE", "PR_TIM_MS"}


async def test_market_maker_quotes_come_from_the_book(raw: Raw) -> None:
    await raw.send(
        [
            {"ID": 2, "Domain": "MarketMaker", "Key": {"Name": "MSFT.O"}},
            {"ID": 3, "Domain": "MarketByPrice", "Key": {"Name": "MSFT.O"}, "Streaming": False},
        ]
    )
    mm: dict[str, dict[str, Any]] = {}
    for p in await read_image(raw, 2):
        assert p["Domain"] == "MarketMaker"
        apply_map(mm, p["Map"])
    book: dict[str, dict[str, Any]] = {}
    for p in await read_image(raw, 3):
        apply_map(book, p["Map"])
    for key, f in mm.items():
        assert unb64(key) == f["MMID"]
    bids = [f["BID"] for f in mm.values() if f["BID"] is not None]
    asks = [f["ASK"] for f in mm.values() if f["ASK"] is not None]
    assert (max(bids), min(asks)) == best(book)
    u = await raw.next(on(2, "Update"), timeout=10)
    apply_map(mm, u["Map"])


async def test_depth_of_a_non_equity_is_not_found(raw: Raw) -> None:
    await raw.send(
        [
            {"ID": 2, "Domain": "MarketByPrice", "Key": {"Name": "EUR="}},
            {"ID": 3, "Domain": "MarketByOrder", "Key": {"Name": "BAD.RIC"}},
        ]
    )
    a = await raw.next(on(2))
    b = await raw.next(on(3))
    assert a["Type"] == b["Type"] == "Status"
    assert a["State"]["Code"] == b["State"]["Code"] == "NotFound"
    assert b["State"]["Text"] == "**The record could not be found"
    assert a["Domain"] == "MarketByPrice"


# -- I03: SymbolList ---------------------------------------------------------------------


async def test_symbol_list_most_active_and_chain(raw: Raw, sim: SimServer) -> None:
    await raw.send(
        [
            {"ID": 60, "Domain": "SymbolList", "Key": {"Name": ".AV.N"}},
            {"ID": 61, "Domain": "SymbolList", "Key": {"Name": "0#.SPX"}},
            {"ID": 62, "Domain": "SymbolList", "Key": {"Name": "0#.NOPE"}},
        ]
    )
    av = await raw.next(on(60, "Refresh"))
    assert av["Domain"] == "SymbolList" and av["Map"]["KeyType"] == "Buffer"
    members = {unb64(e["Key"]): e["Fields"]["RANK_POS"] for e in av["Map"]["Entries"]}
    assert len(members) == 5 and sorted(members.values()) == [1, 2, 3, 4, 5]
    assert all(r.endswith(".N") for r in members)
    chain = await raw.next(on(61, "Refresh"))
    rics = {unb64(e["Key"]) for e in chain["Map"]["Entries"]}
    assert {"TRI.N", "IBM.N", "MSFT.O"} <= rics
    bad = await raw.next(on(62))
    assert bad["Type"] == "Status" and bad["State"]["Code"] == "NotFound"
    # a heavy volume on an outsider moves it to the top: Delete + Add + rank Updates
    outsider = next(r for r in sim.market.instruments if r.endswith(".N") and r not in members)
    await raw.send({"ID": 70, "Key": {"Name": outsider}})
    await raw.next(on(70, "Refresh"))
    await raw.send(
        {
            "ID": 70,
            "Type": "Post",
            "Message": {"ID": 0, "Type": "Update", "Fields": {"ACVOL_1": 10**12}},
        }
    )
    u = await raw.next(on(60, "Update"))
    acts = {(e["Action"], unb64(e["Key"])) for e in u["Map"]["Entries"]}
    assert ("Add", outsider) in acts
    assert any(a == "Delete" for a, _ in acts)
    add = next(e for e in u["Map"]["Entries"] if unb64(e["Key"]) == outsider)
    assert add["Fields"]["RANK_POS"] == 1
    assert u["Map"]["Summary"]["Fields"]["NUM_MOVES"] >= 1


# -- YieldCurve --------------------------------------------------------------------------


async def test_yield_curve_vectors(raw: Raw) -> None:
    await raw.send({"ID": 6, "Domain": "YieldCurve", "Key": {"Name": "USD.SWAP"}})
    ref = await raw.next(on(6, "Refresh"))
    f = ref["Fields"]
    assert ref["Domain"] == "YieldCurve" and f["CRV_NAME"] == "USD.SWAP"
    cash = f["CASH_RATES"]
    tenors = cash["Summary"]["Fields"]["TENORS"]
    assert tenors["Type"] == "AsciiString" and len(tenors["Data"]) == len(cash["Entries"])
    assert [e["Index"] for e in cash["Entries"]] == list(range(len(cash["Entries"])))
    assert all(e["Action"] == "Set" and "CASH_RATE" in e["Fields"] for e in cash["Entries"])
    u = await raw.next(on(6, "Update"), timeout=10)
    e = u["Fields"]["CASH_RATES"]["Entries"][0]
    assert e["Action"] == "Update" and set(e["Fields"]) == {"CASH_RATE"}
    assert 0 <= e["Index"] < len(cash["Entries"])


# -- View on the other domains ------------------------------------------------------------


async def test_view_on_a_yield_curve_selects_its_top_level_fields(raw: Raw, sim: SimServer) -> None:
    sim.streaming.config.rate = 20  # the three updates awaited come in 0.15 s
    # names (a curve's fields are matched as written), a FID (5 = TIMACT), an unknown name
    view = ["CRV_NAME", "CASH_RATES", 5, "NOPE"]
    await raw.send({"ID": 6, "Domain": "YieldCurve", "Key": {"Name": "USD.SWAP"}, "View": view})
    ref = await raw.next(on(6, "Refresh"))
    assert set(ref["Fields"]) == {"CRV_NAME", "CASH_RATES", "TIMACT"}
    assert ref["Fields"]["CASH_RATES"]["Entries"]  # the Vector comes whole
    for _ in range(3):
        u = await raw.next(on(6, "Update"), timeout=10)
        assert set(u["Fields"]) == {"CASH_RATES", "TIMACT"}  # YLD_CURVE is not in the view
    # a reissue changes the view; one with no field of the curve is InvalidView
    await raw.send(
        {"ID": 6, "Domain": "YieldCurve", "Key": {"Name": "USD.SWAP"}, "View": ["YLD_CURVE"]}
    )
    assert set((await raw.next(on(6, "Refresh")))["Fields"]) == {"YLD_CURVE"}
    await raw.send({"ID": 7, "Domain": "YieldCurve", "Key": {"Name": "EUR.SWAP"}, "View": ["BID"]})
    m = await raw.next(on(7))
    assert m["Type"] == "Status" and m["Domain"] == "YieldCurve"
    assert m["State"]["Stream"] == "Closed" and m["State"]["Code"] == "InvalidView"


@pytest.mark.parametrize(
    ("domain", "name"),
    [
        ("MarketByPrice", "TRI.N"),
        ("MarketByOrder", "TRI.N"),
        ("MarketMaker", "MSFT.O"),
        ("SymbolList", ".AV.N"),
    ],
)
async def test_view_on_a_map_domain_is_unsupported(
    raw: Raw, sim: SimServer, domain: str, name: str
) -> None:
    await raw.send({"ID": 8, "Domain": domain, "Key": {"Name": name}, "View": ["BID", "ASK"]})
    m = await raw.next(on(8))
    assert m["Type"] == "Status" and m["Domain"] == domain
    assert m["Key"] == {"Service": "ELEKTRON_DD", "Name": name}
    assert m["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Code": "UnsupportedViewType",
        "Text": f"View is not supported on the {domain} domain",
    }
    assert not sim.streaming.subs and not sim.streaming.list_subs
    # without a View the same request is served; a reissue adding one is refused and closes it
    await raw.send({"ID": 8, "Domain": domain, "Key": {"Name": name}})
    await read_image(raw, 8)
    await raw.send({"ID": 8, "Domain": domain, "Key": {"Name": name}, "View": [22]})
    st = await raw.next(on(8, "Status"))
    assert st["State"]["Code"] == "UnsupportedViewType" and st["State"]["Stream"] == "Closed"
    assert not sim.streaming.subs and not sim.streaming.list_subs


async def test_view_on_a_map_domain_batch_refuses_every_item(raw: Raw) -> None:
    await raw.send(
        {"ID": 20, "Domain": "MarketByPrice", "Key": {"Name": ["TRI.N", "IBM.N"]}, "View": [22]}
    )
    assert (await raw.next(on(20)))["State"]["Data"] == "Ok"  # the batch itself is processed
    for sid in (21, 22):
        assert (await raw.next(on(sid)))["State"]["Code"] == "UnsupportedViewType"


# -- Source directory --------------------------------------------------------------------


async def test_source_directory(raw: Raw) -> None:
    await raw.send({"ID": 2, "Domain": "Source", "Key": {}})
    m = await raw.next(on(2))
    assert m["Type"] == "Refresh" and m["Domain"] == "Source"
    assert m["State"]["Stream"] == "Open" and m["State"]["Data"] == "Ok"
    (svc,) = m["Map"]["Entries"]
    assert svc["Key"] == 257
    filters = {f["ID"]: f["Elements"] for f in svc["FilterList"]["Entries"]}
    info, state = filters[1], filters[2]
    assert info["Name"] == "ELEKTRON_DD"
    assert {6, 7, 8, 10} <= set(info["Capabilities"]["Data"])
    assert info["QoS"]["Type"] == "Qos" and info["QoS"]["Data"][0]["Timeliness"] == "Realtime"
    assert state["ServiceState"] == 1 and state["AcceptingRequests"] == 1
    await raw.send({"ID": 3, "Domain": "Source", "Key": {"Filter": 2}, "Streaming": False})
    m = await raw.next(on(3))
    ids = [f["ID"] for f in m["Map"]["Entries"][0]["FilterList"]["Entries"]]
    assert ids == [2] and m["State"]["Stream"] == "NonStreaming"


# -- B: item requests --------------------------------------------------------------------


async def test_b03_not_entitled(make_sim: Any) -> None:
    deny = {"demo": frozenset({"VOD.L"})}
    async with (
        make_sim(server={"entitlements": deny}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = await connect(sim, http)
        await raw.send(
            [
                {"ID": 5, "Key": {"Name": "VOD.L", "Service": "ELEKTRON_DD"}},
                {"ID": 6, "Domain": "MarketByPrice", "Key": {"Name": "VOD.L"}},
                {"ID": 7, "Key": {"Name": "BARC.L"}},
            ]
        )
        m = await raw.next(on(5))
        assert m == {
            "ID": 5,
            "Type": "Status",
            "Key": {"Service": "ELEKTRON_DD", "Name": "VOD.L"},
            "State": {
                "Stream": "Closed",
                "Data": "Suspect",
                "Code": "NotEntitled",
                "Text": "Access denied",
            },
        }
        assert (await raw.next(on(6)))["State"]["Code"] == "NotEntitled"
        assert (await raw.next(on(7)))["Type"] == "Refresh"
        await raw.ws.close()


async def test_b09_batch_view_snapshot(raw: Raw) -> None:
    await raw.send(
        {"ID": 20, "Key": {"Name": ["TRI.N", "IBM.N"]}, "View": ["BID", "ASK"], "Streaming": False}
    )
    st_ = await raw.next(on(20))
    assert st_["State"]["Text"].startswith("Processed 2 total items from Batch Request.")
    for sid, ric in ((21, "TRI.N"), (22, "IBM.N")):
        m = await raw.next(on(sid))
        assert m["Key"]["Name"] == ric and m["State"]["Stream"] == "NonStreaming"
        assert set(m["Fields"]) == {"BID", "ASK"}


async def test_b10_close_stops_updates(raw: Raw, sim: SimServer) -> None:
    sim.streaming.config.rate = 20  # an open stream would update within 0.05 s
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.next(on(2, "Update"))
    await raw.send({"ID": 2, "Type": "Close"})
    await asyncio.sleep(0.3)
    raw.received.clear()
    await raw.drain(quiet=0.4)
    assert not [m for m in raw.received if m.get("ID") == 2]


async def test_b12_pause_resume_when_supported(make_sim: Any) -> None:
    async with (
        make_sim(server={"pause_resume": True, "rate": 20}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        login = await raw.login(await token(sim, http))
        assert login["Key"]["Elements"]["SupportPauseResume"] == 1
        await raw.send([{"ID": 2, "Key": {"Name": "TRI.N"}}, {"ID": 3, "Key": {"Name": "IBM.N"}}])
        await raw.next(on(2, "Refresh"))
        await raw.next(on(3, "Refresh"))
        await raw.next(on(2, "Update"))
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}, "Pause": True, "Refresh": False})
        await asyncio.sleep(0.3)  # in-flight updates
        await raw.collect(0.1)
        seen = max(m["SeqNumber"] for f in raw.frames for m in f if m.get("ID") == 2)
        raw.received.clear()
        await raw.collect(0.5)  # some 10 updates of each open stream
        # nothing on the paused stream (not even a reply to the pause), while the other
        # stream of the same connection keeps updating: the market did move
        assert not [m for m in raw.received if m.get("ID") == 2]
        assert len([m for m in raw.received if m.get("ID") == 3 and m["Type"] == "Update"]) >= 3
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})  # resume
        ref = await raw.next(on(2))
        assert ref["Type"] == "Refresh" and "Solicited" not in ref and "ClearCache" not in ref
        assert ref["State"] == {"Stream": "Open", "Data": "Ok", "Text": "All is well"}
        # the new image includes what changed during the pause
        assert set(ref["Fields"]) == set(sim.market.get("TRI.N").image)
        assert ref["SeqNumber"] > seen
        upd = await raw.next(on(2, "Update"))
        assert upd["SeqNumber"] > ref["SeqNumber"]
        await raw.ws.close()


async def test_b13_pause_ignored_by_default(make_sim: Any) -> None:
    """RTO (SupportPauseResume 0): the Pause flag is ignored and Updates continue; a later
    reissue without Pause is an ordinary reissue (solicited Refresh)."""
    async with make_sim(server={"rate": 20}) as sim, aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        login = await raw.login(await token(sim, http))
        assert login["Key"]["Elements"]["SupportPauseResume"] == 0
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        ref = await raw.next(on(2, "Refresh"))
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}, "Pause": True, "Refresh": False})
        await raw.send({"Type": "Ping"})
        await raw.next(lambda m: m.get("Type") == "Pong")
        raw.received.clear()
        await raw.collect(0.5)  # some 10 updates
        mine = [m for m in raw.received if m.get("ID") == 2]
        assert mine and all(m["Type"] == "Update" for m in mine)  # no reply to the pause
        assert len(mine) >= 3
        seqs = [ref["SeqNumber"], *(m["SeqNumber"] for m in mine)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert not any(s.paused for cs in sim.streaming.sessions for s in cs.streams.values())
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        again = await raw.next(on(2, "Refresh"))
        assert again["State"]["Stream"] == "Open" and "Solicited" not in again
        await raw.next(on(2, "Update"))
        await raw.ws.close()


async def test_b14_priority_change_has_no_reply_b15_reissue_has(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "EUR="}})
    await raw.next(on(2, "Refresh"))
    await raw.send(
        {"ID": 2, "Key": {"Name": "EUR="}, "Priority": {"Class": 1, "Count": 2}, "Refresh": False}
    )
    await asyncio.sleep(0.5)
    await raw.drain(quiet=0.5)
    assert not [m for m in raw.received if m.get("ID") == 2 and m["Type"] != "Update"]
    await raw.send({"ID": 2, "Key": {"Name": "EUR="}})
    ref = await raw.next(on(2, "Refresh"))
    assert ref["State"]["Stream"] == "Open" and "Solicited" not in ref


async def test_b18_exact_qos_unavailable_b19_private(raw: Raw) -> None:
    await raw.send(
        [
            {
                "ID": 31,
                "Key": {"Name": "/TRI.N"},
                "Qos": {"Timeliness": "Realtime", "Rate": "TickByTick"},
            },
            {"ID": 32, "Key": {"Name": "TRI.N"}, "Private": True},
            {"ID": 33, "Domain": "MarketByPrice", "Key": {"Name": "TRI.N"}, "Private": True},
        ]
    )
    m = await raw.next(on(31))
    assert m["Type"] == "Status"
    assert m["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Text": "Requested QoS not available",
    }
    assert m["Key"] == {"Service": "ELEKTRON_DD", "Name": "/TRI.N"}
    p = await raw.next(on(32))
    assert p["Type"] == "Refresh" and p["Private"] is True
    assert (await raw.next(on(33, "Refresh")))["Private"] is True


async def test_d01_several_messages_per_frame(raw: Raw) -> None:
    await raw.send({"ID": 10, "Key": {"Name": ["TRI.N", "IBM.N", "T.N"]}})
    for sid in (10, 11, 12, 13):
        await raw.next(on(sid))
    assert any(len(f) > 1 for f in raw.frames)


# -- F: posting --------------------------------------------------------------------------


def _post(sid: int, post_id: int, fields: dict[str, Any], **kw: Any) -> dict[str, Any]:
    msg = {
        "ID": sid,
        "Type": "Post",
        "Domain": "MarketPrice",
        "PostID": post_id,
        "PostUserInfo": {"Address": "127.0.0.1", "UserID": 42},
        "Message": {"ID": 0, "Type": kw.pop("inner", "Update"), "Fields": fields},
    }
    msg.update(kw)
    return msg


async def test_f01_f02_posts_reach_every_subscriber(make_sim: Any) -> None:
    async with (
        make_sim(users={"demo": "demo", "other": "pw"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = await connect(sim, http)
        other = await connect(sim, http, "other", "pw")
        await _post_flow(raw, other)


async def _post_flow(raw: Raw, other: Raw) -> None:
    await other.send({"ID": 9, "Key": {"Name": "KO.N"}})
    await other.next(on(9, "Refresh"))
    await raw.send({"ID": 2, "Key": {"Name": "KO.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send(_post(2, 1, {"BID": 11.11, "ASK": 11.13, "BIDSIZE": 7}, Ack=True))
    ack = await raw.next(on(2, "Ack"))
    assert ack["AckID"] == 1 and "NakCode" not in ack
    seen = await other.next(lambda m: m.get("ID") == 9 and m["Fields"].get("BID") == 11.11)
    assert seen["Fields"]["BIDSIZE"] == 7
    # F02: off-stream through the login stream, with a Key; acked with that Key
    key = {"Service": "ELEKTRON_DD", "Name": "KO.N"}
    await raw.send(_post(1, 7, {"ASK": 11.15}, Key=key, Ack=True, inner="Update"))
    ack = await raw.next(on(1, "Ack"))
    assert ack["AckID"] == 7 and ack["Key"] == key and "NakCode" not in ack
    await other.next(lambda m: m.get("ID") == 9 and m["Fields"].get("ASK") == 11.15)
    # the book follows the posted quote
    await other.send(
        {"ID": 10, "Domain": "MarketByPrice", "Key": {"Name": "KO.N"}, "Streaming": False}
    )
    book: dict[str, dict[str, Any]] = {}
    for p in await read_image(other, 10):
        apply_map(book, p["Map"])
    assert best(book) == (11.11, 11.15)
    await other.ws.close()


async def test_f03_nacks_and_f05_no_ack(raw: Raw) -> None:
    key = {"Service": "ELEKTRON_DD", "Name": "NO.SUCH"}
    await raw.send(_post(1, 8, {"BID": 1.0}, Key=key, Ack=True, inner="Refresh"))
    nak = await raw.next(on(1, "Ack"))
    assert nak["AckID"] == 8 and nak["NakCode"] == "SymbolUnknown" and nak["Text"]
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send({"ID": 2, "Type": "Close"})
    await raw.send(_post(2, 9, {"BID": 1.0}, Ack=True))
    nak = await raw.next(on(2, "Ack"))
    assert nak["AckID"] == 9 and nak["NakCode"] == "NotOpen"
    await raw.send({"ID": 3, "Key": {"Name": "IBM.N"}})
    await raw.next(on(3, "Refresh"))
    await raw.send(_post(3, 10, {"BIDSIZE": 12345}))
    await raw.next(lambda m: m.get("ID") == 3 and m["Fields"].get("BIDSIZE") == 12345)
    await raw.send({"Type": "Ping"})
    await raw.next(lambda m: m.get("Type") == "Pong")
    assert not [m for m in raw.received if m.get("Type") == "Ack"]


async def test_f06_multi_part_post_acked_once(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "T.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send(_post(2, 5, {"BIDSIZE": 111}, Ack=True, Complete=False, PartNumber=0))
    await raw.send(_post(2, 5, {"ASKSIZE": 222}, Ack=True, PartNumber=1))
    ack = await raw.next(on(2, "Ack"))
    assert ack["AckID"] == 5
    await raw.next(lambda m: m.get("ID") == 2 and m["Fields"].get("ASKSIZE") == 222)
    await raw.send({"Type": "Ping"})
    await raw.next(lambda m: m.get("Type") == "Pong")
    assert not [m for m in raw.received if m.get("Type") == "Ack"]


async def test_posted_refresh_creates_or_overwrites_a_record(make_sim: Any) -> None:
    async with (
        make_sim(server={"post_creates": True, "rate": 0}) as sim,
        aiohttp.ClientSession() as http,
    ):
        raw = await connect(sim, http)
        key = {"Service": "NIPROV", "Name": "UMER.TST"}
        await raw.send(_post(1, 7, {"BID": 22.1, "ASK": 24.5}, Key=key, Ack=True, inner="Refresh"))
        assert "NakCode" not in await raw.next(on(1, "Ack"))
        await raw.send({"ID": 2, "Key": {"Name": "UMER.TST"}})
        ref = await raw.next(on(2, "Refresh"))
        assert ref["Fields"] == {"BID": 22.1, "ASK": 24.5}
        # overwrite: every subscriber gets an unsolicited Refresh
        await raw.send(_post(1, 8, {"BID": 23.0}, Key=key, inner="Refresh"))
        again = await raw.next(on(2, "Refresh"))
        assert again["Solicited"] is False and again["Fields"]["BID"] == 23.0
        await raw.ws.close()


# -- G: generic --------------------------------------------------------------------------


async def test_g01_generic_on_market_price_ignored_g02_custom_domain_echoed(raw: Raw) -> None:
    await raw.send(
        {
            "ID": 2,
            "Type": "Generic",
            "Domain": "MarketPrice",
            "Key": {"Name": "TRI.N"},
            "Elements": {"X": 1},
        }
    )
    await raw.send(
        {
            "ID": 50,
            "Type": "Generic",
            "Domain": 200,
            "Key": {"Name": "chan"},
            "Complete": True,
            "Elements": {"Cmd": "echo"},
        }
    )
    m = await raw.next(on(50))
    assert m == {
        "ID": 50,
        "Type": "Generic",
        "Domain": 200,
        "Key": {"Name": "chan"},
        "Elements": {"Cmd": "echo"},
    }
    assert not [x for x in raw.received if x.get("ID") == 2]


# -- command line ------------------------------------------------------------------------


async def test_cli_deny_and_pause_resume_options(sim_process: Any) -> None:
    sp = sim_process("--deny", "demo:VOD.L,BARC.L", "--pause-resume")

    class _Info:
        token_url = sp.info["token_url"]
        websocket_url = sp.info["websocket_url"]

    async with aiohttp.ClientSession() as http:
        raw = Raw(await http.ws_connect(_Info.websocket_url, protocols=("tr_json2",)))
        login = await raw.login(await token(_Info, http))  # type: ignore[arg-type]
        assert login["Key"]["Elements"]["SupportPauseResume"] == 1
        await raw.send({"ID": 2, "Key": {"Name": ["VOD.L", "BARC.L", "HSBA.L"]}})
        codes = [(await raw.next(on(i)))["State"].get("Code") for i in (3, 4, 5)]
        assert codes == ["NotEntitled", "NotEntitled", None]
        await raw.ws.close()
