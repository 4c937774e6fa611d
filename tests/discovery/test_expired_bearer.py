"""J16: discovery with an expired bearer token: the client renews the token and asks again."""

from __future__ import annotations

import aiohttp
import pytest

from ertcloud import PasswordCredentials, TokenClient, TokenManager
from ertcloud.discovery import BearerRefused, DiscoveryClient
from ertcloud.sim.server import SimServer


async def test_expired_bearer_is_renewed_once(sim: SimServer) -> None:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    first = await tokens.get()
    sim.gateway.expire_all()
    async with aiohttp.ClientSession() as http:
        async with http.get(
            sim.discovery_url, headers={"Authorization": f"Bearer {first.access_token}"}
        ) as r:
            assert r.status == 401
            body = await r.json()
    assert body["error"]["status"] == "Unauthorized" and body["error"]["code"] == "401"
    client = DiscoveryClient(sim.discovery_url)
    try:
        with pytest.raises(BearerRefused):
            await client.fetch(first.access_token)
        endpoints = await client.discover(tokens)
    finally:
        await client.close()
        await tokens.client.close()
    assert endpoints and tokens.token is not None
    assert tokens.token.access_token != first.access_token
    assert tokens.renewals == 1  # the refresh grant, not a new password grant
