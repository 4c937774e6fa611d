"""Service discovery: endpoint selection rules (pure) and the HTTP client against the simulator."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.discovery import DiscoveryClient, Endpoint, parse_services, select_endpoints
from ertcloud.exceptions import DiscoveryError
from ertcloud.sim.server import SimOptions, SimServer

VENDOR_2019 = {
    "services": [
        {
            "endpoint": "amer-3.pricing.streaming.edp.thomsonreuters.com",
            "port": 443,
            "location": ["us-east-1a", "us-east-1b"],
            "provider": "aws",
            "transport": "websocket",
            "dataFormat": ["tr_json2"],
        },
        {
            "endpoint": "amer-2.pricing.streaming.edp.thomsonreuters.com",
            "port": 443,
            "location": ["us-east-1b"],
            "provider": "aws",
            "transport": "websocket",
            "dataFormat": ["tr_json2"],
        },
        {
            "endpoint": "amer-1.pricing.streaming.edp.thomsonreuters.com",
            "port": 443,
            "location": ["us-east-1a"],
            "provider": "aws",
            "transport": "websocket",
            "dataFormat": ["tr_json2"],
        },
        {
            "endpoint": "emea-1.pricing.streaming.edp.thomsonreuters.com",
            "port": 443,
            "location": ["eu-west-1a"],
            "provider": "aws",
            "transport": "websocket",
            "dataFormat": ["tr_json2"],
        },
    ]
}


def hosts(eps: list[Endpoint]) -> list[str]:
    return [e.host.split(".")[0] for e in eps]


def test_two_zone_endpoint_first_then_single_zone_fallbacks() -> None:
    eps = parse_services(VENDOR_2019)
    assert hosts(select_endpoints(eps, "us-east-1")) == ["amer-3", "amer-2", "amer-1"]
    assert hosts(select_endpoints(eps, "amer")) == ["amer-3", "amer-2", "amer-1"]
    assert select_endpoints(eps)[0].url() == (
        "wss://amer-3.pricing.streaming.edp.thomsonreuters.com:443/WebSocket"
    )


def test_single_zone_only_region_still_gives_an_endpoint() -> None:
    assert hosts(select_endpoints(parse_services(VENDOR_2019), "emea")) == ["emea-1"]


def test_hot_standby_takes_single_zone_endpoints() -> None:
    eps = parse_services(VENDOR_2019)
    assert hosts(select_endpoints(eps, "us-east-1", hotstandby=True)) == ["amer-2", "amer-1"]


def test_vendor_messages_when_nothing_fits() -> None:
    eps = parse_services(VENDOR_2019)
    with pytest.raises(DiscoveryError) as e1:
        select_endpoints(eps, "ap-southeast-1")
    assert str(e1.value) == "The region: ap-southeast-1 is not present in list of endpoints"
    with pytest.raises(DiscoveryError) as e2:
        select_endpoints(eps, "eu-west-1", hotstandby=True)
    assert str(e2.value) == (
        "Expected 2 hosts but received: 1 or the region: eu-west-1 "
        "is not present in list of endpoints"
    )


def test_malformed_documents() -> None:
    with pytest.raises(DiscoveryError):
        parse_services({"nope": []})
    eps = parse_services({"services": [{"endpoint": "h", "port": "x"}, 3, {"port": 1}]})
    assert eps == []


zones = st.sampled_from(["us-east-1a", "us-east-1b", "eu-west-1a", "eu-west-1b", "ap-south-1a"])
service = st.fixed_dictionaries(
    {
        "endpoint": st.sampled_from(["a", "b", "c", "d"]),
        "port": st.integers(1, 65535),
        "location": st.lists(zones, min_size=1, max_size=3),
        "transport": st.just("websocket"),
    }
)


@settings(deadline=None)
@given(st.lists(service, max_size=8), st.sampled_from(["us-east-1", "eu", "amer", "apac"]))
def test_selection_properties(services: list[dict[str, Any]], region: str) -> None:
    eps = parse_services({"services": services})
    prefix = {"amer": "us-", "apac": "ap-"}.get(region, region)
    wanted = [e for e in eps if e.locations[0].startswith(prefix)]
    try:
        chosen = select_endpoints(eps, region)
    except DiscoveryError:
        assert not wanted
        return
    assert sorted(chosen, key=id) == sorted(wanted, key=id)
    sizes = [len(e.locations) >= 2 for e in chosen]
    assert sizes == sorted(sizes, reverse=True)  # multi-zone endpoints first


async def _token(sim: SimServer) -> str:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "t"))
    try:
        return (await tokens.get()).access_token
    finally:
        await tokens.client.close()


async def test_discovery_lists_every_simulator_endpoint() -> None:
    async with SimServer(SimOptions(port=0, endpoints=3)) as sim:
        seen: list[tuple[str, Any]] = []
        client = DiscoveryClient(sim.discovery_url, trace=lambda k, d: seen.append((k, d)))
        try:
            eps = await client.fetch(await _token(sim))
        finally:
            await client.close()
        single = select_endpoints(eps, "us-east-1")
        assert [e.port for e in single] == sim.ports
        standby = select_endpoints(eps, "eu-west-1", hotstandby=True)
        assert [e.port for e in standby] == sim.ports[1:]
        assert [k for k, _ in seen] == ["request", "success"]


async def test_discovery_follows_redirects_and_lists_a_subset() -> None:
    async with SimServer(SimOptions(port=0, endpoints=3)) as sim:
        token = await _token(sim)
        await sim.faults.apply("redirect")
        await sim.faults.apply("discovery_subset", endpoints=[2])
        seen: list[str] = []
        client = DiscoveryClient(sim.discovery_url, trace=lambda k, d: seen.append(k))
        try:
            eps = await client.fetch(token)
        finally:
            await client.close()
        assert seen == ["request", "redirect", "request", "success"]
        assert {e.port for e in eps} == {sim.ports[2]}
        with pytest.raises(DiscoveryError, match="Expected 2 hosts but received: 1"):
            select_endpoints(eps, hotstandby=True)


async def test_discovery_refuses_a_bad_token_and_retries_a_dead_url() -> None:
    async with SimServer(SimOptions(port=0)) as sim:
        client = DiscoveryClient(sim.discovery_url)
        try:
            with pytest.raises(DiscoveryError, match="HTTP 401"):
                await client.fetch("not-a-token")
        finally:
            await client.close()
    dead = DiscoveryClient("http://127.0.0.1:1/streaming/pricing/v1/", attempts=2)
    try:
        with pytest.raises(DiscoveryError, match="cannot reach service discovery"):
            await dead.fetch("t")
    finally:
        await dead.close()


async def test_discovery_needs_no_redirect_following_by_aiohttp() -> None:
    # The simulator's redirect answer really is a 307 with a Location.
    async with SimServer(SimOptions(port=0)) as sim:
        await sim.faults.apply("redirect")
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.discovery_url, allow_redirects=False) as r:
                assert r.status == 307
                assert r.headers["Location"].startswith("/_sim/moved/")
