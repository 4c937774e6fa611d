"""Conformance cases checked on the simulator's side, with a raw WebSocket client over real
sockets: A02 (user-name login), A11 (lenient login), A13 (logout), B07 (views with unknown
names), B17 (the same item on two ids, fan-out and AlreadyOpen), E07 (catchUnknownJsonKeys),
J05 (``expires_in`` shrinking on refresh), the access tokens' JWT form, and the ``ertcloud
sim`` options that switch these modes."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from rawclient import Raw, connect, token

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.cli.sim import add_options, options_from_args
from ertcloud.sim.server import SimServer

Pred = Callable[[dict[str, Any]], bool]

A02_LOGIN = {
    "ID": 1,
    "Domain": "Login",
    "Key": {"Name": "user1", "Elements": {"ApplicationId": "256", "Position": "10.0.0.5"}},
}
ENDED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


def on(sid: int, mtype: str | None = None) -> Pred:
    return lambda m: m.get("ID") == sid and (mtype is None or m.get("Type") == mtype)


async def quiet(raw: Raw) -> None:
    """Wait until the server has answered everything sent so far (a Ping's Pong)."""
    await raw.send({"Type": "Ping"})
    await raw.next(lambda m: m.get("Type") == "Pong")


async def password_grant(
    http: aiohttp.ClientSession, url: str, user: str = "demo", password: str = "demo"
) -> dict[str, Any]:
    form = {
        "username": user,
        "password": password,
        "client_id": "APPKEY",
        "grant_type": "password",
        "scope": "trapi.streaming.pricing.read",
        "takeExclusiveSignOnControl": "True",
    }
    async with http.post(url, data=form) as r:
        assert r.status == 200
        body: dict[str, Any] = await r.json()
    return body


async def refresh_grant(
    http: aiohttp.ClientSession, url: str, refresh_token: str, user: str = "demo"
) -> dict[str, Any]:
    form = {
        "username": user,
        "client_id": "APPKEY",
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    async with http.post(url, data=form) as r:
        assert r.status == 200
        body: dict[str, Any] = await r.json()
    return body


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as h:
        yield h


# -- A02: user-name login and a streaming MarketPrice item -----------------------------------


async def test_a02_user_name_login_then_refresh_and_updates(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"allow_user_login": True, "host_name": "sim01", "rate": 20}) as sim:
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await raw.send(A02_LOGIN)
        login = await raw.next(on(1))
        assert login["Type"] == "Refresh" and login["Domain"] == "Login"
        assert login["State"] == {
            "Stream": "Open",
            "Data": "Ok",
            "Text": "Login accepted by host sim01.",
        }
        assert login["Key"]["Name"] == "user1"
        el = login["Key"]["Elements"]
        assert el["ApplicationId"] == "256" and el["Position"] == "10.0.0.5"
        assert el["SupportBatchRequests"] == 7 and el["SupportViewRequests"] == 1
        assert not {k for k in el if k.startswith("Authentication")}  # no token was used
        assert login["Elements"] == {"MaxMsgSize": 61430, "PingTimeout": 30}

        await raw.send({"ID": 2, "Key": {"Name": "TRI.N", "Service": "ELEKTRON_DD"}})
        ref = await raw.next(on(2))
        assert ref["Type"] == "Refresh"
        assert set(ref) == {"ID", "Type", "Key", "State", "Qos", "PermData", "SeqNumber", "Fields"}
        assert ref["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
        assert ref["State"] == {"Stream": "Open", "Data": "Ok", "Text": "All is well"}
        assert ref["Qos"] == {"Timeliness": "Realtime", "Rate": "TickByTick"}
        assert ref["PermData"] == "AwO9ZWLA"
        fields = ref["Fields"]
        assert {"BID", "ASK", "TRDPRC_1", "DSPLY_NAME"} <= set(fields)
        assert None in fields.values()  # blank fields are sent, as null
        seq = ref["SeqNumber"]
        for _ in range(3):
            upd = await raw.next(on(2, "Update"))
            assert upd["UpdateType"] in ("Quote", "Trade")
            assert upd["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
            assert upd["SeqNumber"] > seq and set(upd["Fields"]) <= set(fields)
            seq = upd["SeqNumber"]
        await raw.ws.close()


async def test_a02_user_name_login_is_refused_unless_allowed(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
    await raw.send(A02_LOGIN)
    m = await raw.next(on(1))
    assert m["Type"] == "Status" and m["Domain"] == "Login"
    assert m["State"]["Stream"] == "Closed" and m["State"]["Code"] == "NotEntitled"
    assert (await raw.ws.receive(timeout=3)).type in ENDED


# -- A11: item request before the Login Refresh, lenient mode ------------------------------


async def test_a11_lenient_login_serves_early_requests_after_the_login_refresh(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"strict_login": False}) as sim:
        t = await token(sim, http)
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        await raw.send({"ID": 3, "Key": {"Name": "BAD.RIC"}})
        await raw.send({"ID": 4, "Key": {"Name": "IBM.N"}})
        await raw.send({"ID": 4, "Type": "Close"})  # withdrawn before the login: never served
        await asyncio.sleep(0.3)
        await raw.drain(quiet=0.3)
        assert raw.received == []  # nothing is answered before the login
        login = await raw.login(t)
        assert login["Type"] == "Refresh"
        ref = await raw.next(on(2))
        assert ref["Type"] == "Refresh" and ref["Key"]["Name"] == "TRI.N"
        bad = await raw.next(on(3))
        assert bad["Type"] == "Status" and bad["State"]["Code"] == "NotFound"
        # the Login Refresh came first, in a frame before (or ahead of) the items
        order = [m.get("ID") for f in raw.frames for m in f if m.get("Type") != "Update"]
        assert order.index(1) < order.index(2) < order.index(3)
        await quiet(raw)
        assert not [m for m in raw.received if m.get("ID") == 4]
        await raw.ws.close()


async def test_a11_lenient_login_drops_early_requests_when_the_login_fails(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"strict_login": False}) as sim:
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        rejected = await raw.login("garbage")
        assert rejected["Type"] == "Status" and rejected["State"]["Stream"] == "Closed"
        assert (await raw.ws.receive(timeout=3)).type in ENDED
        assert not [m for m in raw.received if m.get("ID") == 2]
        assert not sim.streaming.subs


async def test_a11_strict_login_refuses_early_requests(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
    await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
    m = await raw.next(on(2))
    assert m["Type"] == "Status"
    assert m["Key"] == {"Name": "TRI.N"}
    assert m["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Code": "NotOpen",
        "Text": "Login not complete",
    }
    assert (await raw.login(await token(sim, http)))["Type"] == "Refresh"
    await quiet(raw)
    assert not [x for x in raw.received if x.get("ID") == 2]  # the refused one stays refused
    await raw.ws.close()


# -- A13: client logout --------------------------------------------------------------------


async def test_a13_logout_closes_every_item_and_the_connection(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"rate": 20}) as sim:
        raw = await connect(sim, http)
        await raw.send([{"ID": 2, "Key": {"Name": "TRI.N"}}, {"ID": 3, "Key": {"Name": "IBM.N"}}])
        await raw.next(on(2, "Refresh"))
        await raw.next(on(3, "Refresh"))
        await raw.next(lambda m: m.get("Type") == "Update")
        assert len(sim.streaming.subs) == 2
        raw.received.clear()
        await raw.send({"ID": 1, "Domain": "Login", "Type": "Close"})
        t0 = time.monotonic()
        while True:
            msg = await raw.ws.receive(timeout=3)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            raw.received.extend(json.loads(msg.data))
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1000  # a normal close
        assert time.monotonic() - t0 < 2
        # no reply to the Close: at most Updates that were already on their way
        assert all(m.get("Type") == "Update" for m in raw.received)
        assert not sim.streaming.subs and not sim.streaming.sessions


# -- B07: View with an unknown name ----------------------------------------------------------


async def test_b07_unknown_view_names_are_dropped(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"rate": 30}) as sim:
        raw = await connect(sim, http)
        await raw.send(
            [
                {"ID": 9, "Key": {"Name": "TRI.N"}, "View": ["BID", "NOPE"]},
                {"ID": 10, "Key": {"Name": "TRI.N"}, "View": [22, 99999]},
            ]
        )
        for sid in (9, 10):
            ref = await raw.next(on(sid))
            assert ref["Type"] == "Refresh" and list(ref["Fields"]) == ["BID"]
            assert ref["State"]["Stream"] == "Open"
        for sid in (9, 10):
            upd = await raw.next(on(sid, "Update"), timeout=10)
            assert list(upd["Fields"]) == ["BID"]
        await raw.collect(0.5)
        assert all(list(m["Fields"]) == ["BID"] for m in raw.received if m.get("ID") in (9, 10))
        await raw.ws.close()


async def test_b07_view_with_nothing_valid_is_invalid_view(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"rate": 30}) as sim:
        raw = await connect(sim, http)
        await raw.send({"ID": 9, "Key": {"Name": "TRI.N"}, "View": ["NOPE", 99999]})
        m = await raw.next(on(9))
        assert m["Type"] == "Status"
        assert m["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
        assert m["State"] == {
            "Stream": "Closed",
            "Data": "Suspect",
            "Code": "InvalidView",
            "Text": "Requested view has no valid field",
        }
        assert not sim.streaming.subs  # nothing was opened
        # a reissue whose View has nothing valid is refused the same way, and closes the stream
        await raw.send({"ID": 9, "Key": {"Name": "TRI.N"}, "View": ["BID"]})
        assert list((await raw.next(on(9, "Refresh")))["Fields"]) == ["BID"]
        await raw.send({"ID": 9, "Key": {"Name": "TRI.N"}, "View": ["NOPE"]})
        st = await raw.next(on(9, "Status"))
        assert st["State"]["Code"] == "InvalidView" and st["State"]["Stream"] == "Closed"
        await asyncio.sleep(0.3)
        raw.received.clear()
        await raw.collect(0.8)
        assert not [x for x in raw.received if x.get("ID") == 9]
        assert not sim.streaming.subs
        await raw.ws.close()


# -- B17: the same item on two ids --------------------------------------------------------------


async def test_b17_same_item_on_two_ids_gets_the_same_updates(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"rate": 20}) as sim:
        raw = await connect(sim, http)
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        await raw.next(on(2, "Refresh"))
        await raw.send({"ID": 30, "Key": {"Name": "TRI.N"}})
        ref = await raw.next(on(30))
        assert ref["Type"] == "Refresh" and ref["State"]["Stream"] == "Open"  # independent
        u30 = await raw.next(on(30, "Update"))
        u2 = await raw.next(lambda m: on(2, "Update")(m) and m["SeqNumber"] == u30["SeqNumber"])
        assert u2["Fields"] == u30["Fields"]  # fan-out: one update, sent on both ids
        await raw.ws.close()


async def test_b17_already_open_mode_refuses_the_second_id(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"already_open": True, "rate": 20}) as sim:
        raw = await connect(sim, http)
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})
        await raw.next(on(2, "Refresh"))
        await raw.send({"ID": 30, "Key": {"Name": "TRI.N"}})
        m = await raw.next(on(30))
        assert m["Type"] == "Status"
        assert m["Key"] == {"Service": "ELEKTRON_DD", "Name": "TRI.N"}
        assert m["State"]["Stream"] == "Closed" and m["State"]["Data"] == "Suspect"
        assert m["State"]["Code"] == "AlreadyOpen"
        await raw.next(on(2, "Update"))  # the first stream is untouched
        # in a batch too; other items, another domain, snapshots and private streams are served
        await raw.send({"ID": 40, "Key": {"Name": ["TRI.N", "IBM.N"]}})
        assert (await raw.next(on(41)))["State"]["Code"] == "AlreadyOpen"
        assert (await raw.next(on(42)))["Type"] == "Refresh"
        await raw.send(
            [
                {"ID": 50, "Key": {"Name": "TRI.N"}, "Streaming": False},
                {"ID": 51, "Key": {"Name": "TRI.N"}, "Private": True},
                {"ID": 52, "Domain": "MarketByPrice", "Key": {"Name": "TRI.N"}},
            ]
        )
        snap = await raw.next(on(50))
        assert snap["Type"] == "Refresh" and snap["State"]["Stream"] == "NonStreaming"
        assert (await raw.next(on(51)))["Private"] is True
        assert (await raw.next(on(52, "Refresh")))["Domain"] == "MarketByPrice"
        # once stream 2 is closed, the item may be opened on another id
        await raw.send({"ID": 2, "Type": "Close"})
        await raw.send({"ID": 30, "Key": {"Name": "TRI.N"}})
        assert (await raw.next(on(30)))["Type"] == "Refresh"
        await raw.ws.close()


# -- E07: catchUnknownJsonKeys ------------------------------------------------------------------


async def test_e07_catch_unknown_keys_answers_an_error(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(server={"catch_unknown_keys": True}) as sim:
        raw = await connect(sim, http)
        frame = '{"ID":2,"PlaceHolder":"1","Key":{"Name":"TRI.N"}}'
        await raw.send(frame)
        err = await raw.next(on(2))
        assert err["Type"] == "Error"
        assert err["Text"] == "JSON Unexpected Key. Received 'PlaceHolder'"
        assert err["Debug"]["File"] == "Converter/jsonToRwfSimple.C"
        assert err["Debug"]["Message"] == frame
        await quiet(raw)
        assert not [m for m in raw.received if m.get("ID") == 2]
        await raw.send({"ID": 3, "Key": {"Name": "TRI.N"}})  # the connection stays
        assert (await raw.next(on(3)))["Type"] == "Refresh"
        await raw.ws.close()


# -- access tokens and J05 over HTTP ----------------------------------------------------------


async def test_sim_access_token_is_a_jwt_whose_exp_is_the_login_ttreissue(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    body = await password_grant(http, sim.token_url)
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "demo" and claims["client_id"] == "APPKEY"
    assert claims["scope"] == "trapi.streaming.pricing.read"
    assert claims["exp"] - claims["iat"] == int(body["expires_in"]) == 300
    assert abs(claims["exp"] - (time.time() + 300)) < 5
    raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
    login = await raw.login(body["access_token"])
    assert login["Key"]["Elements"]["AuthenticationTTReissue"] == claims["exp"]
    await raw.ws.close()


async def test_j05_refresh_grant_returns_a_shorter_expires_in(
    make_sim: Any, http: aiohttp.ClientSession
) -> None:
    async with make_sim(token_ttl=300, refreshed_ttl=240) as sim:
        first = await password_grant(http, sim.token_url)
        assert first["expires_in"] == "300"
        refreshed = await refresh_grant(http, sim.token_url, first["refresh_token"])
        assert refreshed["expires_in"] == "240"  # shrunk: the refresh-token chain is ending
        claims = pyjwt.decode(refreshed["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 240
        # the shorter token is valid for logins; a password grant gets 300 s again
        raw = Raw(await http.ws_connect(sim.websocket_url, protocols=("tr_json2",)))
        login = await raw.login(refreshed["access_token"])
        assert login["Type"] == "Refresh"
        assert abs(login["Key"]["Elements"]["AuthenticationTTReissue"] - claims["exp"]) <= 1
        await raw.ws.close()
        assert (await password_grant(http, sim.token_url))["expires_in"] == "300"


async def test_j05_short_tokens_fault_switches_on_and_off(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(sim.faults_url, json={"fault": "short_tokens", "seconds": 200}) as r:
        assert r.status == 200
        assert (await r.json())["active"] == {"short_tokens": {"seconds": 200}}
    first = await password_grant(http, sim.token_url)
    assert first["expires_in"] == "300"
    second = await refresh_grant(http, sim.token_url, first["refresh_token"])
    assert second["expires_in"] == "200"
    async with http.post(sim.faults_url, json={"clear": "short_tokens"}) as r:
        assert r.status == 200
    third = await refresh_grant(http, sim.token_url, second["refresh_token"])
    assert third["expires_in"] == "300"
    async with http.post(sim.faults_url, json={"fault": "short_tokens", "seconds": 0}) as r:
        assert r.status == 400
    assert "short_tokens" not in sim.faults.active


async def test_j05_token_manager_falls_back_to_a_password_grant(
    make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_sim(token_ttl=300, refreshed_ttl=240) as sim:
        client = TokenClient(sim.token_url)
        try:
            m = TokenManager(client, PasswordCredentials("demo", "demo", "APPKEY"))
            first = await m.get()
            assert first.expires_in == 300
            issued = sim.gateway.issued
            with caplog.at_level(logging.INFO, logger="ertcloud.auth"):
                renewed = await m.renew()
            # refresh grant (240 s) then, at once, a password grant (300 s)
            assert sim.gateway.issued == issued + 2
            assert renewed.expires_in == 300 and m.renewals == 0
            assert renewed.access_token != first.access_token
            assert "expire time changed from 300 sec to 240 sec" in caplog.text
        finally:
            await client.close()


# -- the ertcloud sim options ---------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_options(p)
    return p.parse_args(list(argv))


def test_sim_options_defaults_and_flags() -> None:
    opts = options_from_args(_parse())
    cfg = opts.server
    assert cfg.strict_login is True and cfg.catch_unknown_keys is False
    assert cfg.already_open is False and cfg.ping_mode == "spec"
    assert opts.refreshed_ttl is None
    opts = options_from_args(
        _parse(
            "--catch-unknown-keys",
            "--no-strict-login",
            "--already-open",
            "--ping-mode",
            "rssl",
            "--refreshed-token-ttl",
            "240",
        )
    )
    cfg = opts.server
    assert cfg.strict_login is False and cfg.catch_unknown_keys is True
    assert cfg.already_open is True and cfg.ping_mode == "rssl"
    assert opts.refreshed_ttl == 240
    assert options_from_args(_parse("--strict-login")).server.strict_login is True
    with pytest.raises(SystemExit):
        _parse("--ping-mode", "sometimes")


async def test_cli_flags_switch_the_modes_of_a_running_simulator(sim_process: Any) -> None:
    sp = sim_process(
        "--catch-unknown-keys",
        "--no-strict-login",
        "--already-open",
        "--refreshed-token-ttl",
        "240",
        "--ping-mode",
        "off",
        "--ping-timeout",
        "1",
        "--rate",
        "0",
    )
    async with aiohttp.ClientSession() as http:
        first = await password_grant(http, sp.info["token_url"])
        refreshed = await refresh_grant(http, sp.info["token_url"], first["refresh_token"])
        assert (first["expires_in"], refreshed["expires_in"]) == ("300", "240")
        raw = Raw(await http.ws_connect(sp.info["websocket_url"], protocols=("tr_json2",)))
        await raw.send({"ID": 2, "Key": {"Name": "TRI.N"}})  # before the login: held back
        assert (await raw.login(refreshed["access_token"]))["Type"] == "Refresh"
        assert (await raw.next(on(2)))["Type"] == "Refresh"
        await raw.send({"ID": 3, "Key": {"Name": "TRI.N"}})
        assert (await raw.next(on(3)))["State"]["Code"] == "AlreadyOpen"
        await raw.send({"ID": 4, "Bogus": 1, "Key": {"Name": "IBM.N"}})
        assert (await raw.next(on(4)))["Text"] == "JSON Unexpected Key. Received 'Bogus'"
        await raw.drain(quiet=1.5)  # silent for > PingTimeout: no Ping, no drop
        assert not [m for m in raw.received if m.get("Type") == "Ping"]
        await quiet(raw)
        await raw.ws.close()
