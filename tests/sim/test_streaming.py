"""The simulated streaming server, driven by a raw WebSocket client (conformance cases)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from rawclient import Raw, token

from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The simulator in this process at 20 updates a second per item (not 2): the tests
    that wait for a few updates, or for none, wait a tenth as long."""
    async with SimServer(SimOptions(port=0, server=ServerConfig(rate=20))) as s:
        yield s


@pytest.fixture
async def raw(sim: SimServer) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as http:
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        refresh = await r.login(t)
        assert refresh["Type"] == "Refresh"
        yield r
        await ws.close()


async def test_login_refresh_elements(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        m = await r.login(t)
        await ws.close()
    assert m["Domain"] == "Login" and m["State"]["Stream"] == "Open" and m["State"]["Data"] == "Ok"
    assert m["State"]["Text"].startswith("Login accepted by host ")
    assert m["Elements"] == {"MaxMsgSize": 61430, "PingTimeout": 30}
    el = m["Key"]["Elements"]
    assert el["SupportBatchRequests"] == 7 and el["SupportViewRequests"] == 1
    assert el["SupportOMMPost"] == 1 and el["SupportPauseResume"] == 0
    assert el["AuthenticationErrorCode"] == 0
    assert el["AuthenticationErrorText"] == {"Type": "AsciiString", "Data": None}
    assert abs(el["AuthenticationTTReissue"] - (time.time() + 300)) < 5
    assert "AuthenticationToken" not in el


async def test_bad_token_closes_login(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        m = await r.login("garbage")
        assert m["Type"] == "Status"
        assert m["State"] == {
            "Stream": "Closed",
            "Data": "Suspect",
            "Code": "NotEntitled",
            "Text": "Login rejected: invalid token",
        }
        assert m["Key"]["Elements"]["AuthenticationErrorCode"] == 1
        end = await ws.receive(timeout=3)
        assert end.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )


async def test_item_before_login_is_refused(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        await r.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        m = await r.next()
        await ws.close()
    assert m["ID"] == 2 and m["State"]["Code"] == "NotOpen"


async def test_refresh_then_updates_with_key(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N", "Service": "ELEKTRON_DD"}})
    ref = await raw.next(lambda m: m.get("ID") == 2)
    assert ref["Type"] == "Refresh" and "Domain" not in ref
    assert ref["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
    assert ref["Qos"] == {"Timeliness": "Realtime", "Rate": "TickByTick"}
    assert isinstance(ref["SeqNumber"], int) and ref["PermData"]
    upd = await raw.next(lambda m: m.get("Type") == "Update")
    assert upd["ID"] == 2 and upd["UpdateType"] in ("Quote", "Trade")
    assert upd["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
    assert upd["SeqNumber"] > ref["SeqNumber"]
    assert set(upd["Fields"]) <= set(ref["Fields"])


async def test_service_by_id_answers_with_name(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "IBM.N", "Service": 257}})
    ref = await raw.next(lambda m: m.get("ID") == 2)
    assert ref["Key"]["Service"] == "ELEKTRON_DD"


async def test_unknown_service(raw: Raw) -> None:
    await raw.send({"ID": 4, "Key": {"Name": "TRI.N", "Service": "NO_SUCH_SVC"}})
    m = await raw.next(lambda m: m.get("ID") == 4)
    assert m["Type"] == "Status"
    assert m["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Code": "SourceUnknown",
        "Text": "A18: Unknown service.",
    }


async def test_snapshot_is_non_streaming(raw: Raw) -> None:
    await raw.send({"ID": 6, "Key": {"Name": "TRI.N"}, "Streaming": False})
    m = await raw.next(lambda m: m.get("ID") == 6)
    assert m["State"]["Stream"] == "NonStreaming"
    await asyncio.sleep(0.3)  # six ticks of a streaming item at 20 updates a second
    await raw.send({"Type": "Ping"})
    await raw.next(lambda m: m.get("Type") == "Pong")
    assert not [x for x in raw.received if x.get("ID") == 6]


async def test_view_by_names_and_fids(raw: Raw) -> None:
    await raw.send(
        [
            {"ID": 7, "Key": {"Name": "TRI.N"}, "View": ["BID", "ASK", "BIDSIZE", "NOPE"]},
            {"ID": 8, "Key": {"Name": "TRI.N"}, "View": [22, 25, 30]},
        ]
    )
    a = await raw.next(lambda m: m.get("ID") == 7)
    b = await raw.next(lambda m: m.get("ID") == 8)
    assert set(a["Fields"]) == set(b["Fields"]) == {"BID", "ASK", "BIDSIZE"}
    for _ in range(3):
        u = await raw.next(lambda m: m.get("Type") == "Update" and m["ID"] in (7, 8))
        assert set(u["Fields"]) <= {"BID", "ASK", "BIDSIZE"}


async def test_batch_with_a_bad_name(raw: Raw) -> None:
    await raw.send({"ID": 10, "Key": {"Name": ["TRI.N", "BAD.RIC", "IBM.N"]}})
    st = await raw.next(lambda m: m.get("ID") == 10)
    assert (
        st["Type"] == "Status" and st["State"]["Stream"] == "Closed" and st["State"]["Data"] == "Ok"
    )
    assert st["State"]["Text"].startswith("Processed 3 total items from Batch Request.")
    assert (await raw.next(lambda m: m.get("ID") == 11))["Key"]["Name"] == "TRI.N"
    bad = await raw.next(lambda m: m.get("ID") == 12)
    assert bad["Type"] == "Status" and bad["State"]["Code"] == "NotFound"
    assert (await raw.next(lambda m: m.get("ID") == 13))["Key"]["Name"] == "IBM.N"


async def test_batch_close(raw: Raw, sim: SimServer) -> None:
    await raw.send({"ID": 10, "Key": {"Name": ["TRI.N", "IBM.N"]}})
    await raw.next(lambda m: m.get("ID") == 12)
    await raw.send({"ID": [11, 12], "Type": "Close"})
    st = await raw.next(lambda m: m.get("Type") == "Status" and m.get("ID") == 11)
    assert st["State"]["Text"].startswith("Processed 2 total stream ids from Batch Close Request.")
    assert not sim.streaming.subs


async def test_reissue_with_other_key_is_refused(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(lambda m: m.get("ID") == 2)
    await raw.send({"ID": 2, "Key": {"Name": "IBM.N"}})
    m = await raw.next(lambda m: m.get("ID") == 2 and m["Type"] == "Status")
    assert m["State"]["Code"] == "UsageError"


async def test_same_item_on_two_ids_fans_out(raw: Raw) -> None:
    await raw.send([{"ID": 2, "Key": {"Name": "TRI.N"}}, {"ID": 30, "Key": {"Name": "TRI.N"}}])
    await raw.next(lambda m: m.get("ID") == 2)
    await raw.next(lambda m: m.get("ID") == 30)
    await raw.next(lambda m: m.get("Type") == "Update" and m["ID"] == 2)
    await raw.next(lambda m: m.get("Type") == "Update" and m["ID"] == 30)


async def test_delayed_ric(raw: Raw) -> None:
    await raw.send({"ID": 33, "Key": {"Name": "/TRI.N", "Service": "ELEKTRON_DD"}})
    m = await raw.next(lambda m: m.get("ID") == 33)
    assert m["Qos"]["Timeliness"] == "Delayed" and m["Key"]["Name"] == "/TRI.N"


@pytest.mark.parametrize(
    ("frame", "mid", "text"),
    [
        ('{"ID":2,"Key":{"Name":"TRI.N"}', 0, "JSON parser error: "),
        (
            '{"ID":"2","Key":{"Name":"TRI.N"}}',
            0,
            "JSON Converter Token Type error: Expected 'PRIMITIVE' for key 'ID' Received 'STRING'",
        ),
        ('{"Key":{"Name":"TRI.N"}}', 0, "JSON Missing required key 'ID'"),
        ('{"ID":2}', 2, "JSON Missing required key 'Key'"),
        (
            '{"ID":2,"Type":"ExtraInfo","Key":{"Name":"TRI.N"}}',
            2,
            "JSON Unexpected Value. Received 'ExtraInfo' for key 'Type'",
        ),
        (
            '{"ID":2,"Domain":"MarketByMagic","Key":{"Name":"TRI.N"}}',
            2,
            "JSON Unexpected Value. Received 'MarketByMagic' for key 'Domain'",
        ),
        (
            '{"ID":2,"Key":{"Name":"TRI.N"},"View":"BID"}',
            2,
            "JSON Converter Token Type error: Expected 'ARRAY' for key 'View' Received 'STRING'",
        ),
    ],
)
async def test_malformed_requests_get_error_and_connection_stays(
    raw: Raw, frame: str, mid: int, text: str
) -> None:
    await raw.send(frame)
    m = await raw.next(lambda m: m.get("Type") == "Error")
    assert m["ID"] == mid and m["Text"].startswith(text)
    assert m["Debug"]["File"] == "Converter/jsonToRwfSimple.C"
    assert m["Debug"]["Message"] == frame
    await raw.send({"ID": 3, "Key": {"Name": "IBM.N"}})
    assert (await raw.next(lambda m: m.get("ID") == 3))["Type"] == "Refresh"


async def test_unknown_key_is_ignored_by_default(raw: Raw) -> None:
    await raw.send({"ID": 2, "PlaceHolder": "1", "Key": {"Name": "TRI.N"}})
    assert (await raw.next(lambda m: m.get("ID") == 2))["Type"] == "Refresh"


async def test_client_ping_gets_pong(raw: Raw) -> None:
    await raw.send({"Type": "Ping"})
    assert await raw.next() == {"Type": "Pong"}


async def test_oversized_message_drops_connection(raw: Raw) -> None:
    names = [f"X{i:06d}.N" for i in range(8000)]
    await raw.send({"ID": 5, "Key": {"Name": names}})
    end = await raw.ws.receive(timeout=5)
    assert end.type in (
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.CLOSING,
    )


async def test_post_on_stream_acks_and_updates_subscribers(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(lambda m: m.get("ID") == 2)
    await raw.send(
        {
            "ID": 2,
            "Type": "Post",
            "Domain": "MarketPrice",
            "Ack": True,
            "PostID": 1,
            "PostUserInfo": {"Address": "127.0.0.1", "UserID": 42},
            "Message": {
                "ID": 0,
                "Type": "Update",
                "Domain": "MarketPrice",
                "Fields": {"BID": 45.55, "BIDSIZE": 18},
            },
        }
    )
    ack = await raw.next(lambda m: m.get("Type") == "Ack")
    assert ack["ID"] == 2 and ack["AckID"] == 1 and "NakCode" not in ack
    upd = await raw.next(lambda m: m.get("Type") == "Update" and m["Fields"].get("BID") == 45.55)
    assert upd["Fields"]["BIDSIZE"] == 18


async def test_post_unknown_field_is_an_error(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(lambda m: m.get("ID") == 2)
    await raw.send(
        {
            "ID": 2,
            "Type": "Post",
            "Ack": True,
            "PostID": 2,
            "Message": {"ID": 0, "Type": "Update", "Fields": {"BID_CUSTOM": 1}},
        }
    )
    err = await raw.next(lambda m: m.get("Type") == "Error")
    assert err["Text"] == "JSON Unexpected FID. Received 'BID_CUSTOM' for key 'Fields'"


async def test_client_that_never_pongs_is_dropped(make_sim: Any) -> None:
    async with (
        make_sim(server={"ping_timeout": 2, "rate": 0}) as sim,
        aiohttp.ClientSession() as http,
    ):
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        await r.login(t)
        t0 = time.monotonic()
        assert await r.next(timeout=5) == {"Type": "Ping"}
        end = await ws.receive(timeout=6)  # we never answer
        elapsed = time.monotonic() - t0
        assert end.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
        assert 1.0 < elapsed < 4.5
        assert not sim.streaming.sessions


async def test_client_that_pongs_stays(make_sim: Any) -> None:
    async with (
        make_sim(server={"ping_timeout": 1, "rate": 0}) as sim,
        aiohttp.ClientSession() as http,
    ):
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        await r.login(t)
        for _ in range(3):
            assert await r.next(timeout=5) == {"Type": "Ping"}
            await r.send({"Type": "Pong"})
        assert len(sim.streaming.sessions) == 1
        await ws.close()


async def test_token_not_renewed_closes_login(make_sim: Any) -> None:
    async with make_sim(token_ttl=1) as sim, aiohttp.ClientSession() as http:
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        r = Raw(ws)
        await r.login(t)
        m = await r.next(lambda m: m.get("ID") == 1, timeout=4)
        assert m["Type"] == "Status"
        assert m["State"] == {
            "Stream": "Closed",
            "Data": "Suspect",
            "Code": "NotEntitled",
            "Text": "Login stream was closed.",
        }


async def test_e09_mixed_type_omm_array_is_an_error(raw: Raw) -> None:
    frame = (
        '{"ID":2,"Type":"Post","Ack":true,"PostID":1,"Key":{"Name":"TRI.N"},'
        '"Message":{"ID":0,"Type":"Update","Map":{"KeyType":"Int","Entries":[{"Action":"Add",'
        '"Key":{"Type":"Int","Length":3,"Data":[1,2,"3"]}}]}}}'
    )
    await raw.send(frame)
    m = await raw.next(lambda m: m.get("Type") == "Error")
    assert m["ID"] == 2
    assert m["Text"] == (
        "JSON Mixed Types in OMM Array: Received 'PRIMITIVE' and 'STRING' for key 'Data'"
    )
    assert m["Debug"]["Message"] == frame


async def test_b07_view_with_nothing_valid_is_invalid_view(raw: Raw) -> None:
    await raw.send({"ID": 9, "Key": {"Name": "TRI.N"}, "View": ["NOPE", "NADA"]})
    m = await raw.next(lambda m: m.get("ID") == 9)
    assert m["Type"] == "Status"
    assert m["State"]["Stream"] == "Closed" and m["State"]["Code"] == "InvalidView"


async def test_e06_unknown_numeric_domain_is_usage_error(raw: Raw) -> None:
    await raw.send({"ID": 2, "Domain": 200, "Key": {"Name": "TRI.N"}})
    m = await raw.next(lambda m: m.get("ID") == 2)
    assert m["Type"] == "Status"
    assert m["State"]["Stream"] == "Closed" and m["State"]["Code"] == "UsageError"


async def _raw_on(sim: SimServer, http: aiohttp.ClientSession, user: str = "demo") -> Raw:
    async with http.post(
        sim.token_url,
        data={"username": user, "password": "demo", "client_id": "x", "grant_type": "password"},
    ) as r:
        t = (await r.json())["access_token"]
    r2 = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
    refresh = await r2.login(t)
    r2.received.insert(0, refresh)  # keep the Login Refresh for the test to look at
    return r2


async def test_f03_denied_by_source_and_access_denied(make_sim: Any) -> None:
    async with make_sim(server={"support_post": False}) as sim, aiohttp.ClientSession() as http:
        r = await _raw_on(sim, http)
        login = await r.next(lambda m: m.get("ID") == 1)
        assert login["Key"]["Elements"]["SupportOMMPost"] == 0
        await r.send(
            {
                "ID": 1,
                "Type": "Post",
                "Key": {"Name": "TRI.N"},
                "Ack": True,
                "PostID": 3,
                "Message": {"ID": 0, "Type": "Update", "Fields": {"BID": 1}},
            }
        )
        ack = await r.next(lambda m: m.get("Type") == "Ack")
        assert ack["AckID"] == 3 and ack["NakCode"] == "DeniedBySrc"
    entitlements = {"demo": frozenset({"VOD.L"})}
    async with (
        make_sim(server={"entitlements": entitlements}) as sim,
        aiohttp.ClientSession() as http,
    ):
        r = await _raw_on(sim, http)
        await r.send(
            {
                "ID": 1,
                "Type": "Post",
                "Key": {"Name": "VOD.L"},
                "Ack": True,
                "PostID": 4,
                "Message": {"ID": 0, "Type": "Update", "Fields": {"BID": 1}},
            }
        )
        ack = await r.next(lambda m: m.get("Type") == "Ack")
        assert ack["AckID"] == 4 and ack["NakCode"] == "AccessDenied"


async def test_g01_strict_generic_is_an_error(make_sim: Any) -> None:
    async with make_sim(server={"strict_generic": True}) as sim, aiohttp.ClientSession() as http:
        r = await _raw_on(sim, http)
        await r.send(
            {
                "ID": 2,
                "Type": "Generic",
                "Domain": "MarketPrice",
                "Key": {"Name": "TRI.N"},
                "Elements": {"X": 1},
            }
        )
        err = await r.next(lambda m: m.get("Type") == "Error")
        assert err["ID"] == 2 and err["Text"] == "Unsupported Message Type"


async def test_a10_cookie_auto_login(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url + "/getToken", data={"username": "demo", "password": "bad"}
        ) as r:
            assert (await r.json()) == {"success": False}
        async with http.post(
            sim.base_url + "/getToken", data={"username": "demo", "password": "demo"}
        ) as r:
            assert (await r.json()) == {"success": True}
            token = r.cookies["AuthToken"].value
        ws = await http.ws_connect(
            sim.websocket_url,
            protocols=("tr_json2",),
            headers={"Cookie": f"AuthToken={token};AuthPosition=10.0.0.5;applicationId=555;"},
        )
        raw = Raw(ws)
        login = await raw.next(lambda m: m.get("Domain") == "Login")  # no Login sent by us
        assert login["ID"] == -1 and login["Type"] == "Refresh"
        assert login["State"]["Stream"] == "Open"
        assert login["Key"]["Elements"]["ApplicationId"] == "555"
        assert login["Key"]["Elements"]["Position"] == "10.0.0.5"
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        assert (await raw.next(lambda m: m.get("ID") == 2))["Type"] == "Refresh"
        await raw.send({"ID": -1, "Domain": "Login", "Type": "Close"})
        end = await ws.receive(timeout=5)
        assert end.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not sim.streaming.subs


async def test_a07_reissue_without_refresh_false_gets_a_login_refresh(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        t = await token(sim, http)
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        assert (await raw.login(t))["Type"] == "Refresh"
        # a reissue without Refresh:false asks for (and gets) a new Login Refresh
        assert (await raw.login(t))["Type"] == "Refresh"
        # with Refresh:false nothing comes back
        await raw.send(
            {"ID": 1, "Domain": "Login", "Refresh": False, "Key": {"NameType": "AuthnToken",
             "Elements": {"ApplicationId": "256", "AuthenticationToken": t}}}
        )  # fmt: skip
        await raw.send({"Type": "Ping"})
        assert await raw.next() == {"Type": "Pong"}
        await raw.ws.close()


# -- H05: a busy stream and a silent client, in each ping mode --------------------------------

ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def _busy(sim: SimServer, http: aiohttp.ClientSession) -> Raw:
    """A logged-in connection with a fast-updating item; its last message sent is the
    item request."""
    t = await token(sim, http)
    r = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
    await r.login(t)
    await r.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await r.next(lambda m: m.get("ID") == 2 and m["Type"] == "Refresh")
    return r


async def _read_until_closed(r: Raw, timeout: float) -> aiohttp.WSMessage:
    """Collect messages until the server ends the connection; returns the last WS message."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await r.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return msg
        r.received.extend(json.loads(msg.data))


async def test_h05_spec_mode_pings_a_silent_client_of_a_busy_stream_then_drops_it(
    make_sim: Any,
) -> None:
    async with (
        make_sim(server={"ping_timeout": 2, "rate": 20}) as sim,
        aiohttp.ClientSession() as http,
    ):
        r = await _busy(sim, http)
        t0 = time.monotonic()
        end = await _read_until_closed(r, 6)
        elapsed = time.monotonic() - t0
        assert end.type in ENDED
        types = [m.get("Type") for m in r.received]
        assert types.count("Ping") == 1  # though the server itself was never silent
        ping_at = types.index("Ping")
        assert "Update" in types[:ping_at] and "Update" in types[ping_at:]
        assert 2.4 < elapsed < 4.5  # ~PingTimeout/3 until the Ping + PingTimeout after it


@pytest.mark.parametrize("mode", ["spec", "rssl"])
async def test_h05_client_that_pings_every_third_of_ping_timeout_passes_both_modes(
    make_sim: Any, mode: str
) -> None:
    async with (
        make_sim(server={"ping_timeout": 1, "rate": 20, "ping_mode": mode}) as sim,
        aiohttp.ClientSession() as http,
    ):
        r = await _busy(sim, http)
        for _ in range(8):  # 2.4 s: more than twice PingTimeout
            await r.collect(0.3)
            await r.send({"Type": "Ping"})
        await r.next(lambda m: m.get("Type") == "Pong")
        assert len(sim.streaming.sessions) == 1
        assert [m for m in r.received if m.get("ID") == 2 and m["Type"] == "Update"]
        if mode == "rssl":  # the server was never silent: it had no reason to ping
            assert not [m for m in r.received if m.get("Type") == "Ping"]
        await r.ws.close()


async def test_h05_rssl_mode_drops_a_silent_client_of_a_busy_stream_without_pinging(
    make_sim: Any,
) -> None:
    async with (
        make_sim(server={"ping_timeout": 2, "rate": 20, "ping_mode": "rssl"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        r = await _busy(sim, http)
        t0 = time.monotonic()
        end = await _read_until_closed(r, 6)
        elapsed = time.monotonic() - t0
        assert end.type in ENDED
        assert 1.8 < elapsed < 3.0  # PingTimeout of inbound silence
        assert not [m for m in r.received if m.get("Type") == "Ping"]
        assert len([m for m in r.received if m.get("Type") == "Update"]) > 10
        assert not sim.streaming.sessions


async def test_rssl_mode_pings_on_its_own_silence_and_a_pong_keeps_the_client(
    make_sim: Any,
) -> None:
    async with (
        make_sim(server={"ping_timeout": 2, "rate": 0, "ping_mode": "rssl"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        t = await token(sim, http)
        r = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await r.login(t)
        t0 = time.monotonic()
        for _ in range(4):  # a Ping every PingTimeout/3 of server silence, answered
            assert await r.next(timeout=3) == {"Type": "Ping"}
            await r.send({"Type": "Pong"})
        assert 2.0 < time.monotonic() - t0 < 4.0  # 4 x 2/3 s
        assert len(sim.streaming.sessions) == 1
        # a client that keeps sending (Pings of its own) still gets the server's Pings,
        # because in rssl mode they depend on what the server sent, not on what it got
        r.received.clear()
        for _ in range(4):  # 2 s: three Pings due
            await r.send({"Type": "Pong"})
            await r.collect(0.5)
        assert len([m for m in r.received if m.get("Type") == "Ping"]) >= 2
        await r.ws.close()


async def test_rssl_mode_drops_a_client_that_never_answers(make_sim: Any) -> None:
    async with (
        make_sim(server={"ping_timeout": 3, "rate": 0, "ping_mode": "rssl"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        t = await token(sim, http)
        r = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await r.login(t)
        t0 = time.monotonic()
        end = await _read_until_closed(r, 6)
        assert end.type in ENDED
        assert 2.8 < time.monotonic() - t0 < 4.0
        # pings at 1/3 and 2/3 of PingTimeout of server silence, the drop at PingTimeout
        assert r.received == [{"Type": "Ping"}, {"Type": "Ping"}]


async def test_ping_mode_off_neither_pings_nor_drops(make_sim: Any) -> None:
    async with (
        make_sim(server={"ping_timeout": 1, "rate": 0, "ping_mode": "off"}) as sim,
        aiohttp.ClientSession() as http,
    ):
        t = await token(sim, http)
        r = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await r.login(t)
        await r.drain(quiet=2.5)  # silent for 2.5 times PingTimeout
        assert r.received == []
        await r.send({"Type": "Ping"})  # still served, and Pings are still answered
        assert await r.next() == {"Type": "Pong"}
        await r.ws.close()


def test_unknown_ping_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="ping_mode"):
        ServerConfig(ping_mode="sometimes")
