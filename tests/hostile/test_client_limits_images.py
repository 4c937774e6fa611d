"""Caps on what the server can make the client cache: fields per image, entries per Map,
streams per session; and a server that repeats an over-limit message after every login is
not hammered with reconnects."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ertcloud import Session
from ertcloud.exceptions import LimitExceeded
from ertcloud.protocol.events import Event, ProtocolViolation
from ertcloud.protocol.messages import Refresh, Request, State, Update
from ertcloud.protocol.streams import MAX_FIELDS_PER_IMAGE, ItemStream, Phase, StreamTable

from .client_limits_server import Conn, HostileServer

TRANSPORTS = ["aiohttp", "picows"]
OK = State(stream="Open", data="Ok")


def table_stream(max_fields: int = 50, max_map_entries: int = 20, domain: str = "MarketPrice"):
    table = StreamTable()
    table.max_fields, table.max_map_entries = max_fields, max_map_entries
    s = ItemStream(2, Request(id=2), "X.N", domain)
    table.add(s)
    return s


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=30))
def test_updates_adding_new_names_stop_at_the_cap(batches: list[int]) -> None:
    s = table_stream(max_fields=50)
    s.apply_refresh(Refresh(id=2, state=OK, fields={"BID": 1.0}))
    n = 0
    for size in batches:
        fields = {f"F{n + i}": i for i in range(size)}
        n += size
        if len(s.fields) + size > 50:
            with pytest.raises(LimitExceeded) as exc:
                s.apply_update(Update(id=2, fields=fields))
            assert exc.value.limit == 50
            assert len(s.fields) <= 50 + size  # never more than one message past the cap
            return
        s.apply_update(Update(id=2, fields=fields))
        assert len(s.fields) <= 50


def test_refresh_over_the_field_cap_is_refused() -> None:
    s = table_stream(max_fields=100)
    with pytest.raises(LimitExceeded, match=r"fields in the image of X\.N: 101 > limit 100"):
        s.apply_refresh(Refresh(id=2, state=OK, fields={f"F{i}": i for i in range(101)}))
    assert table_stream().max_fields == 50 and ItemStream(3, Request(id=3), "Y").max_fields == (
        MAX_FIELDS_PER_IMAGE
    )


def test_map_entries_and_entry_fields_are_capped() -> None:
    s = table_stream(max_fields=5, max_map_entries=20, domain="MarketByOrder")
    add = [{"Key": f"K{i}", "Action": "Add", "Fields": {"P": i}} for i in range(20)]
    s.apply_refresh(Refresh(id=2, state=OK, map={"Entries": add}))
    assert len(s.map.entries) == 20  # type: ignore[union-attr]
    with pytest.raises(LimitExceeded, match="entries in a map"):
        s.apply_update(
            Update(id=2, map={"Entries": [{"Key": "K99", "Action": "Add", "Fields": {}}]})
        )
    wide = {f"F{i}": i for i in range(6)}
    with pytest.raises(LimitExceeded, match="fields in a map entry"):
        s.apply_update(
            Update(id=2, map={"Entries": [{"Key": "K1", "Action": "Update", "Fields": wide}]})
        )
    with pytest.raises(LimitExceeded, match="fields in a map summary"):
        s.apply_update(Update(id=2, map={"Summary": {"Fields": wide}, "Entries": []}))


def test_vector_entries_inserted_one_by_one_stop_at_the_cap() -> None:
    s = table_stream(max_map_entries=20, domain="YieldCurve")
    s.apply_refresh(Refresh(id=2, state=OK, fields={"CURVE": {"Entries": []}}))
    for i in range(20):
        entry = {"Index": 0, "Action": "Insert", "Fields": {"R": i}}
        s.apply_update(Update(id=2, fields={"CURVE": {"Entries": [entry]}}))
    assert len(s.fields["CURVE"]["Entries"]) == 20
    with pytest.raises(LimitExceeded, match="entries in vector CURVE: 21 > limit 20"):
        s.apply_update(Update(id=2, fields={"CURVE": {"Entries": [entry]}}))


async def test_streams_per_session_are_capped() -> None:
    session = Session("ws://127.0.0.1:9/WebSocket", max_streams=3)  # never started
    session.subscribe(["A.N", "B.N"])
    with pytest.raises(LimitExceeded, match="more than max_streams") as exc:
        session.subscribe(["C.N", "D.N"])
    assert exc.value.limit == 3
    session.subscribe("C.N")
    assert len(session.streams) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            Session("ws://127.0.0.1:9/WebSocket", max_fields_per_image=bad)  # type: ignore[arg-type]


async def wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_new_field_names_stop_at_the_cap_then_the_session_resubscribes(
    transport: str,
) -> None:
    seen: list[int] = []  # largest image seen by the update callback

    async def grow(conn: Conn, ids: list[int]) -> None:
        if conn.number != 1:
            return
        for k in range(40):  # 40 x 500 new names = 20,000 > the 10,000 cap
            fields = {f"NEW_{k}_{i}": i for i in range(500)}
            await conn.send_json([{"Type": "Update", "ID": ids[0], "Fields": fields}])

    events: list[Event] = []
    async with (
        HostileServer(grow) as server,
        Session(server.url, transport=transport, on_event=events.append) as session,
    ):
        sub = session.subscribe(
            "HOSTILE.N", queue=False, on_update=lambda ev: seen.append(len(ev.stream.fields))
        )
        [stream] = sub.streams
        await wait_for(lambda: session.recoveries >= 1 and stream.refreshes >= 2)
        assert stream.phase is Phase.OPEN
        assert "NEW_0_0" not in stream.fields  # a fresh image from the new connection
        assert len(server.conns) == 2
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    assert [v.limit for v in violations] == [MAX_FIELDS_PER_IMAGE]
    assert "fields in the image of HOSTILE.N" in violations[0].reason
    assert max(seen) <= MAX_FIELDS_PER_IMAGE
    assert len(seen) < 20  # the updates past the cap were not applied
    names = [m.get("Key", {}).get("Name") for m in server.conns[1].messages]
    assert "HOSTILE.N" in names


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_breach_found_by_the_session_closes_with_1000_on_either_transport(
    transport: str,
) -> None:
    """The session's handler refuses the image (over ``max_fields_per_image``): the
    connection ends with a CLOSE frame of code 1000 on both transports (picows aborts
    right after it, aiohttp waits for the server's CLOSE)."""

    async def wide(conn: Conn, ids: list[int]) -> None:
        if conn.number == 1:
            await conn.send_frame(refresh_frame(ids[0], 20))

    events: list[Event] = []
    async with (
        HostileServer(wide) as server,
        Session(
            server.url, transport=transport, max_fields_per_image=10, on_event=events.append
        ) as session,
    ):
        session.subscribe("HOSTILE.N", queue=False, on_refresh=lambda ev: None)
        await wait_for(lambda: len(server.conns) >= 2)
    assert [e.limit for e in events if isinstance(e, ProtocolViolation)] == [10]
    assert server.conns[0].close_code == 1000


def refresh_frame(sid: int, n_fields: int) -> bytes:
    fields = ",".join(f'"F{i}":{i}' for i in range(n_fields))
    return (
        f'[{{"ID":{sid},"Type":"Refresh","State":{{"Stream":"Open","Data":"Ok"}},'
        f'"Fields":{{{fields}}}}}]'
    ).encode()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("n_fields", [1_000_000, 20_000])
async def test_a_repeated_oversized_refresh_does_not_make_the_client_hammer(
    transport: str, n_fields: int
) -> None:
    """A 1M-field Refresh (about 12 MB: over the size limit) or a 20k-field one (within
    it, over the field cap), sent again after every login: the session reports each
    breach and reconnects, but ever more slowly."""
    frames: dict[int, bytes] = {}
    sent_at: list[float] = []  # when each connection got the poison

    async def poison(conn: Conn, ids: list[int]) -> None:
        frame = frames.get(ids[0]) or frames.setdefault(ids[0], refresh_frame(ids[0], n_fields))
        sent_at.append(time.monotonic())
        await conn.send_frame(frame)

    events: list[Event] = []

    def violations() -> list[ProtocolViolation]:
        return [e for e in events if isinstance(e, ProtocolViolation) and e.limit is not None]

    async with (
        HostileServer(poison) as server,
        Session(server.url, transport=transport, on_event=events.append) as session,
    ):
        session.subscribe("HOSTILE.N", queue=False, on_refresh=lambda ev: None)
        # three connections, each breached: the next one is 3-4 s away
        await wait_for(lambda: len(violations()) >= 3, timeout=30)
        connections = len(server.conns)
    # Waits of 0.75-1 s, then 1.5-2 s (1 and 2 s, jittered) before the second and third
    # connections: at least 2.25 s from the first poison to the third, where an unthrottled
    # loop makes a connection every half second or faster.
    assert connections == 3, connections
    assert sent_at[2] - sent_at[0] >= 2.2, sent_at
    assert len(violations()) == 3
    assert server.logins == 3
    assert session.limit_breaches == 3
    json.dumps([v.reason for v in violations()])  # plain strings
