"""The simulator's answers to requests a conformant client does not send: invalid reissues,
a second login, posts it must refuse, and the end of service after a closed login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from rawclient import Raw, connect, token

from ertcloud.sim.server import SimServer


@pytest.fixture
async def raw(sim: SimServer) -> AsyncIterator[Raw]:
    async with aiohttp.ClientSession() as http:
        r = await connect(sim, http)
        yield r
        await r.ws.close()


def on(sid: int, mtype: str | None = None) -> Any:
    return lambda m: m.get("ID") == sid and (mtype is None or m.get("Type") == mtype)


async def quiet(raw: Raw) -> None:
    """Wait until the server has answered everything sent so far (a Ping's Pong)."""
    await raw.send({"Type": "Ping"})
    await raw.next(lambda m: m.get("Type") == "Pong")


async def test_b16_key_change_closes_the_stream(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send({"ID": 2, "Key": {"Name": "IBM.N"}})
    m = await raw.next(on(2, "Status"))
    assert m["Key"] == {"Name": "IBM.N"}
    assert m["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Code": "UsageError",
        "Text": "Key change not allowed on reissue",
    }
    await quiet(raw)
    raw.received.clear()
    await asyncio.sleep(1.2)  # the simulator ticks each item about twice a second
    await quiet(raw)
    assert not [x for x in raw.received if x.get("ID") == 2]
    # the id is free again: a request on it is a new stream
    await raw.send({"ID": 2, "Key": {"Name": "IBM.N"}})
    assert (await raw.next(on(2, "Refresh")))["Key"]["Name"] == "IBM.N"


async def test_item_request_on_the_login_id_is_refused_and_the_login_stays(raw: Raw) -> None:
    await raw.send({"ID": 1, "Key": {"Name": "IBM.N"}})
    m = await raw.next(on(1, "Status"))
    assert m["State"]["Code"] == "UsageError" and m["State"]["Stream"] == "Closed"
    await raw.send({"ID": 3, "Key": {"Name": "TRI.N"}})
    assert (await raw.next(on(3)))["Type"] == "Refresh"


async def test_second_login_on_another_id_is_refused(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        t = await token(sim, http)
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        assert (await raw.login(t))["Type"] == "Refresh"
        m = await raw.login(t, login_id=5)
        assert m["Type"] == "Status" and m["Domain"] == "Login"
        assert m["State"]["Stream"] == "Closed" and m["State"]["Code"] == "UsageError"
        await raw.send({"ID": 3, "Key": {"Name": "TRI.N"}})
        assert (await raw.next(on(3)))["Type"] == "Refresh"  # the first login still serves
        await raw.ws.close()


async def test_login_must_be_streaming(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        t = await token(sim, http)
        ws = await http.ws_connect(sim.websocket_url, protocols=("tr_json2",))
        raw = Raw(ws)
        await raw.send(
            {
                "ID": 1,
                "Domain": "Login",
                "Streaming": False,
                "Key": {"NameType": "AuthnToken", "Elements": {"AuthenticationToken": t}},
            }
        )
        m = await raw.next(on(1))
        assert m["Type"] == "Status" and m["State"]["Stream"] == "Closed"
        await ws.close()


async def test_snapshot_reissue_ends_the_stream(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}, "Streaming": False})
    m = await raw.next(lambda x: x.get("ID") == 2 and x["Type"] == "Refresh")
    assert m["State"]["Stream"] == "NonStreaming"
    await quiet(raw)
    raw.received.clear()
    await asyncio.sleep(1.2)
    await quiet(raw)
    assert not [x for x in raw.received if x.get("ID") == 2]


async def test_nothing_is_served_after_the_login_was_closed(make_sim: Any) -> None:
    async with make_sim() as sim, aiohttp.ClientSession() as http:
        raw = await connect(sim, http)
        t = await token(sim, http)  # exclusive sign-on: the first login is taken over
        for session in list(sim.streaming.sessions):
            session.close_login("Login stream was closed: taken over.")
        m = await raw.next(on(1, "Status"))
        assert m["State"]["Stream"] == "Closed"
        await raw.send(
            [
                {"ID": 1, "Domain": "Login", "Key": {"Elements": {"AuthenticationToken": t}}},
                {"ID": 2, "Key": {"Name": "TRI.N"}},
            ]
        )
        msg = await raw.ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert not [x for x in raw.received if x.get("Type") == "Refresh"]


def _post(sid: int, fields: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"ID": sid, "Type": "Post", "Ack": True, "PostID": 4}
    if fields is not None:
        msg["Message"] = {"ID": 0, "Type": "Update", "Fields": fields}
    msg.update(kw)
    return msg


async def test_f01_ack_comes_before_the_update(raw: Raw) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "KO.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send(_post(2, {"BID": 11.5}))
    ack = await raw.next(on(2, "Ack"))
    upd = await raw.next(lambda m: m.get("ID") == 2 and m.get("Fields", {}).get("BID") == 11.5)
    frames = [[m.get("Type") for m in f] for f in raw.frames]
    flat = [t for f in frames for t in f]
    assert ack["AckID"] == 4 and upd["Type"] == "Update"
    assert flat.index("Ack") < len(flat) - flat[::-1].index("Update")
    frame = next(f for f in raw.frames if any(m.get("Type") == "Ack" for m in f))
    types = [m["Type"] for m in frame if m.get("ID") == 2]
    assert types.index("Ack") < types.index("Update")


@pytest.mark.parametrize(
    ("post", "nak"),
    [
        (_post(1, {"BID": 1.0}, Key={"Service": "NO_SUCH", "Name": "TRI.N"}), "SourceUnknown"),
        (_post(1, None, Key={"Service": "ELEKTRON_DD", "Name": "TRI.N"}), "InvalidContent"),
    ],
)
async def test_posts_that_are_nacked(raw: Raw, post: dict[str, Any], nak: str) -> None:
    await raw.send(post)
    m = await raw.next(on(1, "Ack"))
    assert m["NakCode"] == nak and m["Text"]


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"BID": "abc"}, "Expected 'PRIMITIVE' for key 'BID' Received 'STRING'"),
        ({"DSPLY_NAME": 5}, "Expected 'STRING' for key 'DSPLY_NAME' Received 'PRIMITIVE'"),
        ({"RDNDISPLAY": 1.5}, "JSON Unexpected Value. Received '1.5' for key 'RDNDISPLAY'"),
    ],
)
async def test_posted_value_of_the_wrong_type_is_an_error(
    raw: Raw, fields: dict[str, Any], text: str
) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "KO.N"}})
    await raw.next(on(2, "Refresh"))
    await raw.send(_post(2, fields))
    m = await raw.next(on(2, "Error"))
    assert text in m["Text"]
    await quiet(raw)
    assert not [x for x in raw.received if x.get("Type") == "Ack"]


async def test_g02_generic_echo_keeps_payload_and_numbers(raw: Raw) -> None:
    sent = {
        "ID": 51,
        "Type": "Generic",
        "Domain": 200,
        "Key": {"Name": "chan"},
        "PartNumber": 0,
        "SeqNumber": 5,
        "Map": {"Entries": [{"Action": "Add", "Key": "a", "Fields": {"X": 1}}]},
    }
    await raw.send(sent)
    assert await raw.next(on(51)) == sent


# -- stream ids a client may not use ---------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "mid", "received"),
    [
        ('{"ID":-2,"Key":{"Name":"TRI.N"}}', -2, "-2"),
        ('{"ID":0,"Key":{"Name":"TRI.N"}}', 0, "0"),
        ('{"ID":-3,"Key":{"Name":["TRI.N","IBM.N"]}}', -3, "-3"),
        ('{"ID":-4,"Domain":"MarketByPrice","Key":{"Name":"TRI.N"}}', -4, "-4"),
        ('{"ID":-5,"Type":"Post","Ack":true,"PostID":1,"Key":{"Name":"TRI.N"},'
         '"Message":{"ID":0,"Type":"Update","Fields":{"BID":1}}}', -5, "-5"),
        ('{"ID":-6,"Type":"Generic","Domain":200,"Key":{"Name":"chan"}}', -6, "-6"),
        ('[{"ID":-7,"Key":{"Name":"TRI.N"}}]', -7, "-7"),
    ],
)  # fmt: skip
async def test_non_positive_stream_id_is_an_error(
    raw: Raw, sim: SimServer, frame: str, mid: int, received: str
) -> None:
    await raw.send(frame)
    m = await raw.next(lambda x: x.get("Type") == "Error")
    assert m["ID"] == mid
    assert m["Text"] == f"JSON Unexpected Value. Received '{received}' for key 'ID'"
    assert m["Debug"]["File"] == "Converter/jsonToRwfSimple.C"
    assert isinstance(m["Debug"]["Line"], int)
    if frame.startswith("{"):
        assert m["Debug"]["Message"] == frame
        assert m["Debug"]["Offset"] == frame.index('"ID"') + 5
    await quiet(raw)
    assert not [x for x in raw.received if x.get("Type") in ("Refresh", "Status", "Ack")]
    assert not sim.streaming.subs  # nothing was opened
    # the connection stays; a positive id is served
    await raw.send({"ID": 3, "Key": {"Name": "TRI.N"}})
    assert (await raw.next(on(3)))["Type"] == "Refresh"


async def test_negative_ids_in_a_packed_frame_are_refused_one_by_one(raw: Raw) -> None:
    await raw.send([{"ID": 2, "Key": {"Name": "TRI.N"}}, {"ID": -2, "Key": {"Name": "IBM.N"}}])
    assert (await raw.next(on(2)))["Type"] == "Refresh"
    err = await raw.next(on(-2))
    assert err["Type"] == "Error" and err["Debug"]["Message"].startswith('{"ID":-2')


async def test_batch_close_with_no_id_is_an_error(raw: Raw, sim: SimServer) -> None:
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    await raw.next(on(2, "Refresh"))
    frame = '{"ID":[],"Type":"Close"}'
    await raw.send(frame)
    m = await raw.next(lambda x: x.get("Type") in ("Error", "Status"))
    assert m["Type"] == "Error" and m["ID"] == 0  # no id to answer on
    assert m["Text"] == "JSON Unexpected Value. Received '[]' for key 'ID'"
    assert m["Debug"]["Message"] == frame
    await quiet(raw)
    assert not [x for x in raw.received if x.get("Type") == "Status"]
    assert len(sim.streaming.subs) == 1  # nothing was closed
    # a batch close naming ids still works, answered on its first id
    await raw.send({"ID": [2], "Type": "Close"})
    st = await raw.next(on(2, "Status"))
    assert st["State"]["Stream"] == "Closed" and st["State"]["Data"] == "Ok"
    assert not sim.streaming.subs


async def test_the_server_assigned_login_id_minus_1_stays_usable(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url + "/getToken", data={"username": "demo", "password": "demo"}
        ) as r:
            cookie = r.cookies["AuthToken"].value
        ws = await http.ws_connect(
            sim.websocket_url,
            protocols=("tr_json2",),
            headers={"Cookie": f"AuthToken={cookie};AuthPosition=10.0.0.5;applicationId=555;"},
        )
        raw = Raw(ws)
        assert (await raw.next(on(-1)))["Type"] == "Refresh"
        # a Login reissue on the server's id -1 is no client-opened stream: no Error
        await raw.send(
            {"ID": -1, "Domain": "Login", "Refresh": False, "Key": {"NameType": "Cookie",
             "Elements": {"ApplicationId": "555", "AuthenticationToken": cookie}}}
        )  # fmt: skip
        await quiet(raw)
        assert not [x for x in raw.received if x.get("Type") == "Error"]
        # an item on -2 is refused
        await raw.send({"ID": -2, "Key": {"Name": "TRI.N"}})
        assert (await raw.next(on(-2)))["Type"] == "Error"
        await raw.send({"ID": -1, "Domain": "Login", "Type": "Close"})
        assert (await ws.receive(timeout=5)).type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
        )
