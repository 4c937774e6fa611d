"""The simulator's warm standby: SupportStandby in the Login Refresh and the
ConsumerConnectionStatus Generic, per connection, over a raw WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rawclient import Raw, connect, token

from ertcloud.protocol import codec
from ertcloud.protocol.messages import Generic, Key
from ertcloud.protocol.standby import ACTIVE, STANDBY, connection_status, warm_standby_mode
from ertcloud.sim.server import SimOptions, SimServer


@pytest.fixture
async def warm_sim() -> AsyncIterator[SimServer]:
    opts = SimOptions(port=0)
    opts.server.support_standby = True
    opts.server.rate = 40.0
    async with SimServer(opts) as s:
        yield s


def _mode(raw: Raw, mode: int) -> Any:
    return raw.send(codec.encode_one(connection_status(1, mode)).decode())


def _updates(raw: Raw) -> list[dict[str, Any]]:
    return [m for m in raw.received if m.get("Type") == "Update"]


async def test_login_refresh_advertises_warm_standby(warm_sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await connect(warm_sim, http)
        login = raw.frames[0][0]
        assert login["Key"]["Elements"]["SupportStandby"] == 1
        assert login["Key"]["Elements"]["SupportStandbyMode"] == 1
        await raw.ws.close()


async def test_without_the_knob_the_server_says_no_standby(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await connect(sim, http)
        elements = raw.frames[0][0]["Key"]["Elements"]
        assert elements["SupportStandby"] == 0 and "SupportStandbyMode" not in elements
        await raw.ws.close()


async def test_standby_gets_blank_refreshes_and_no_updates_until_made_active(
    warm_sim: SimServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await connect(warm_sim, http)
        await _mode(raw, STANDBY)
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        refresh = await raw.next(lambda m: m.get("ID") == 2)
        assert refresh["Type"] == "Refresh" and refresh["State"]["Stream"] == "Open"
        assert "Fields" not in refresh  # header only
        await raw.collect(0.6)  # at 40 ticks/s an active connection gets about 24 Updates
        assert _updates(raw) == []
        assert not [m for m in raw.received if m.get("Type") == "Generic"]  # no reply
        await _mode(raw, ACTIVE)
        image = await raw.next(lambda m: m.get("ID") == 2 and m.get("Type") == "Refresh")
        assert image["Solicited"] is False and image["Fields"]["BID"] is not None
        update = await raw.next(lambda m: m.get("ID") == 2 and m.get("Type") == "Update")
        assert update["SeqNumber"] > image["SeqNumber"]
        await raw.ws.close()


async def test_an_active_made_standby_stops_getting_updates(warm_sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        raw = await connect(warm_sim, http)
        await _mode(raw, ACTIVE)
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        refresh = await raw.next(lambda m: m.get("ID") == 2)
        assert refresh["Fields"]
        await raw.next(lambda m: m.get("Type") == "Update")
        await _mode(raw, STANDBY)
        await raw.collect(0.3)  # what was already on its way
        raw.received.clear()
        await raw.collect(0.6)
        assert _updates(raw) == []
        await raw.ws.close()


async def test_the_mode_is_per_connection(warm_sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        t = await token(warm_sim, http)  # one token for both: a new grant signs the other out
        standby, active = [
            Raw(await http.ws_connect(warm_sim.websocket_url, protocols=("tr_json2",)))
            for _ in range(2)
        ]
        for raw in (standby, active):
            assert (await raw.login(t))["Type"] == "Refresh"
        await _mode(standby, STANDBY)
        await _mode(active, ACTIVE)
        for raw in (standby, active):
            await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        await active.next(lambda m: m.get("Type") == "Update")
        await active.next(lambda m: m.get("Type") == "Update")
        await standby.collect(0.3)
        assert _updates(standby) == []
        await standby.ws.close()
        await active.ws.close()


def test_mode_parsing_of_the_reference_message() -> None:
    (msg,) = codec.decode(
        b'{"ID":1,"Type":"Generic","Domain":"Login","Key":{"Name":"ConsumerConnectionStatus"},'
        b'"Complete":false,"Map":{"KeyType":"AsciiString","Entries":[{"Action":"Add",'
        b'"Key":"WarmStandbyInfo","Elements":{"WarmStandbyMode":1}}]}}'
    )
    assert isinstance(msg, Generic) and warm_standby_mode(msg) == STANDBY
    typed = Generic(
        id=1,
        map={
            "Entries": [
                {
                    "Key": "WarmStandbyInfo",
                    "Elements": {"WarmStandbyMode": {"Type": "UInt", "Data": 0}},
                }
            ]
        },
    )
    assert warm_standby_mode(typed) == ACTIVE


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        # small collections: the parser looks at each entry alone, and generating big
        # nested ones took seconds
        st.lists(
            st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=4), max_size=4),
            max_size=4,
        ),
        st.dictionaries(st.text(max_size=8), st.integers() | st.none(), max_size=4),
    )
)
def test_mode_parsing_never_fails_and_only_accepts_0_or_1(payload: Any) -> None:
    msg = Generic(id=1, key=Key(name="ConsumerConnectionStatus"), map={"Entries": payload})
    assert warm_standby_mode(msg) in (None, ACTIVE, STANDBY)
    bad = Generic(
        id=1, map={"Entries": [{"Key": "WarmStandbyInfo", "Elements": {"WarmStandbyMode": 2}}]}
    )
    assert warm_standby_mode(bad) is None
