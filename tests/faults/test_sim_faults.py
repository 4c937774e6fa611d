"""Simulator faults: the HTTP test API, scenario files, the command line, exclusive sign-on,
and the slow-consumer conflation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import TRANSPORTS, SimProcess, run_cli

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.exceptions import ConfigError
from ertcloud.protocol.events import Event, LoginClosed
from ertcloud.protocol.streams import ItemStream
from ertcloud.sim.faults import Conflator, parse_fault
from ertcloud.sim.scenario import load_scenario, parse_scenario, run_scenario
from ertcloud.sim.server import SimOptions, SimServer


def tokens_for(sim: SimServer, **kw: Any) -> TokenManager:
    return TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "t", **kw))


async def test_http_fault_api_switches_faults_on_and_off() -> None:
    async with SimServer(SimOptions(port=0, endpoints=2)) as sim:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                sim.faults_url, json=[{"fault": "no_pings"}, {"fault": "gateway_error"}]
            ) as r:
                assert r.status == 200
                assert set((await r.json())["active"]) == {"no_pings", "gateway_error"}
            assert sim.streaming.config.send_pings is False
            async with http.post(
                sim.token_url, data={"grant_type": "password", "username": "demo"}
            ) as r:
                assert r.status == 503
            async with http.post(sim.faults_url, json={"clear": "gateway_error"}) as r:
                assert set((await r.json())["active"]) == {"no_pings"}
            async with http.post(sim.faults_url, json={"fault": "nope"}) as r:
                assert r.status == 400 and "unknown fault" in (await r.json())["error"]
            async with http.post(sim.faults_url, data=b"{") as r:
                assert r.status == 400
            async with http.delete(sim.faults_url) as r:
                assert (await r.json())["active"] == {}
            assert sim.streaming.config.send_pings is True
            async with http.get(sim.base_url + "/health") as r:
                assert (await r.json())["endpoints"] == {"0": 0, "1": 0}


async def test_duration_switches_a_fault_off_by_itself() -> None:
    async with SimServer(SimOptions(port=0)) as sim:
        await sim.faults.apply("reject_refresh", duration=0.2)
        assert sim.gateway.reject_refresh
        for _ in range(100):
            if not sim.gateway.reject_refresh:
                break
            await asyncio.sleep(0.05)
        assert not sim.gateway.reject_refresh and sim.faults.active == {}


def test_parse_fault_specs() -> None:
    assert parse_fault("drop") == ("drop", {})
    assert parse_fault("closed_recover:rics=TRI.N|EUR=") == (
        "closed_recover",
        {"rics": ["TRI.N", "EUR="]},
    )
    assert parse_fault("gateway_error:status=500") == ("gateway_error", {"status": 500})
    with pytest.raises(ConfigError, match="unknown fault"):
        parse_fault("explode")
    with pytest.raises(ConfigError, match="key=value"):
        parse_fault("drop:endpoint")


def test_scenario_files(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text(
        'loop = 10\n[[step]]\nat = 2\nfault = "refuse"\nendpoint = 1\nduration = 1.5\n'
        '[[step]]\nat = 0.5\nfault = "drop"\n[[step]]\nat = 4\nclear = "refuse"\n'
    )
    steps, loop = load_scenario(str(f))
    assert loop == 10
    assert [(s.at, s.fault, s.clear) for s in steps] == [
        (0.5, "drop", None),
        (2.0, "refuse", None),
        (4.0, None, "refuse"),
    ]
    assert steps[1].params == {"endpoint": 1} and steps[1].duration == 1.5
    for bad, why in [
        ({"step": [{"fault": "drop"}]}, "needs 'at'"),
        ({"step": [{"at": 1}]}, "exactly one"),
        ({"step": [{"at": 1, "fault": "boom"}]}, "unknown fault"),
        ({"step": 3}, "array of tables"),
        ({"loop": -1}, "positive"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_scenario(bad)
    f.write_text("[[step]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(str(f))


async def test_scenario_drives_faults_in_time() -> None:
    steps, _ = parse_scenario(
        {
            "step": [
                {"at": 0.1, "fault": "no_pongs"},
                {"at": 0.3, "clear": "no_pongs"},
                {"at": 0.3, "fault": "gateway_slow", "delay": 0.1},
            ]
        }
    )
    async with SimServer(SimOptions(port=0)) as sim:
        task = asyncio.create_task(run_scenario(sim.faults, steps))
        await asyncio.sleep(0.2)
        assert sim.streaming.config.answer_pings is False
        await task
        assert sim.streaming.config.answer_pings is True
        assert sim.faults.gateway_delay == 0.1
        assert [h[1] for h in sim.faults.history] == ["no_pongs", "gateway_slow"]


async def test_exclusive_sign_on_closes_the_first_sessions_login() -> None:
    async with SimServer(SimOptions(port=0)) as sim:
        seen: list[Event] = []
        first = Session(sim.websocket_url, tokens=tokens_for(sim), reconnect=False)
        first.on_event = seen.append
        async with first:
            sub = first.subscribe("TRI.N")
            await sub.wait_complete(10)
            # exclusive=false while the first session lives: refused
            refused = tokens_for(sim, take_exclusive_sign_on=False)
            with pytest.raises(Exception, match="Session quota is reached"):
                await refused.get()
            await refused.client.close()
            assert first.protocol.login.is_open
            # exclusive (the default): the first session's login is closed
            second = tokens_for(sim)
            await second.get()
            await second.client.close()
            for _ in range(100):
                if any(isinstance(e, LoginClosed) for e in seen):
                    break
                await asyncio.sleep(0.05)
            closed = [e for e in seen if isinstance(e, LoginClosed)]
            assert closed and closed[0].state.stream == "Closed"
            assert "exclusive sign-on" in (closed[0].state.text or "")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_session_rotates_endpoints_and_reports_recovery(transport: str) -> None:
    async with SimServer(SimOptions(port=0, endpoints=3)) as sim:
        recovered: list[str | None] = []
        urls = sim.websocket_urls
        session = Session(
            urls,
            tokens=tokens_for(sim),
            on_recovered=lambda s: recovered.append(s.url),
            transport=transport,
        )
        async with session:
            sub = session.subscribe(["TRI.N", "EUR="])
            await sub.wait_complete(10)
            assert session.url == urls[0]
            await sim.faults.apply("refuse", endpoint=0)
            for _ in range(200):
                if recovered and all(s.refreshes >= 2 for s in session.streams):
                    break
                await asyncio.sleep(0.05)
            assert recovered == [urls[1]] and session.recoveries == 1
            assert sim.endpoint_connections() == {0: 0, 1: 1, 2: 0}
            assert all(s.refreshes >= 2 for s in session.streams)


async def test_first_connect_falls_back_through_the_list() -> None:
    async with SimServer(SimOptions(port=0, endpoints=2)) as sim:
        await sim.faults.apply("refuse", endpoint=1)
        urls = ["ws://127.0.0.1:1/WebSocket", sim.websocket_urls[1], sim.websocket_urls[0]]
        async with Session(urls, tokens=tokens_for(sim), connect_timeout=3) as session:
            assert session.url == sim.websocket_urls[0]


async def test_slow_consumer_conflates_and_keeps_the_image_exact() -> None:
    opts = SimOptions(port=0)
    opts.server.rate = 40
    async with SimServer(opts) as sim:
        counts: list[int] = []

        def on_update(ev: Any) -> None:
            info = ev.message.conflation_info
            counts.append(info["Count"] if info else 1)

        async with Session(sim.websocket_url, tokens=tokens_for(sim)) as session:
            sub = session.subscribe(["TRI.N", ".DJI"], fields=None, on_update=on_update)
            await sub.wait_complete(10)
            await sim.faults.apply("slow_consumer", interval=0.3)
            await asyncio.sleep(0.35)  # updates already in flight have landed
            counts.clear()
            await asyncio.sleep(1.5)
            during = list(counts)
            await sim.faults.clear()
            sim.streaming.config.rate = 0
            for _ in range(500):  # the updates in flight land
                if all(s.fields == getattr(sim.market.get(s.name), "image", None)
                       for s in session.streams):  # fmt: skip
                    break
                await asyncio.sleep(0.02)
            for s in session.streams:
                inst = sim.market.get(s.name)
                assert inst is not None and s.fields == inst.image
        # At most one merged update per stream per interval, and they say how many they merge
        assert 0 < len(during) <= 2 * (1.5 / 0.3 + 1)
        assert sum(during) > len(during) and max(during) > 1


@settings(deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"TRDPRC_1": st.integers(1, 9), "BID": st.integers(1, 9)}, optional={}
        ),
        min_size=1,
        max_size=12,
    )
)
def test_conflated_updates_equal_the_updates_applied_one_by_one(
    updates: list[dict[str, Any]],
) -> None:
    from ertcloud.protocol.messages import Refresh, Update
    from ertcloud.protocol.streams import ripple

    image: dict[str, Any] = {"TRDPRC_1": 0, "TRDPRC_2": 0, "TRDPRC_3": 0, "BID": 0}
    one_by_one = ItemStream(2, None, "X.N")  # type: ignore[arg-type]
    one_by_one.apply_refresh(Refresh(id=2, fields=dict(image)))
    conflated = ItemStream(2, None, "X.N")  # type: ignore[arg-type]
    conflated.apply_refresh(Refresh(id=2, fields=dict(image)))
    c = Conflator(lambda _: image, lambda _: None)
    for n, f in enumerate(updates):
        ripple(image, f)
        image.update(f)
        one_by_one.apply_update(Update(id=2, fields=dict(f), seq_number=n))
        frame = json.dumps([{"ID": 2, "Type": "Update", "Key": {"Name": "X.N"}, "Fields": f}])
        assert c.feed(frame.encode()) is None
    out = c.drain()
    assert out is not None
    for m in json.loads(out):
        conflated.apply_update(Update(id=2, fields=m["Fields"], do_not_ripple=m.get("DoNotRipple")))
    assert conflated.fields == one_by_one.fields == image


def test_sim_cli_lists_faults_and_serves_several_endpoints(sim_process: Any) -> None:
    r = run_cli("sim", "--list-faults")
    assert r.returncode == 0 and "closed_recover" in r.stdout and "slow_consumer" in r.stdout
    sp: SimProcess = sim_process("--endpoints", "3", "--fault", "no_pings")
    assert len(sp.info["ports"]) == 3 and len(set(sp.info["ports"])) == 3
    assert sp.info["websocket_urls"][0] == sp.info["websocket_url"]
    import urllib.request

    with urllib.request.urlopen(sp.info["faults_url"]) as resp:
        assert "no_pings" in json.loads(resp.read())["active"]
    bad = run_cli("sim", "--fault", "explode")
    assert bad.returncode == 2 and "unknown fault" in bad.stderr
