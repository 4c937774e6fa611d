"""``ertcloud discover``: list the streaming endpoints service discovery offers."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..discovery import DEFAULT_DISCOVERY_URL, DiscoveryClient, select_endpoints
from ..sim.server import SimOptions, SimServer
from .common import add_connection_options, token_manager
from .market_price import DEFAULT_AUTH_URL, ssl_context
from .output import pretty

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "discover", help="list the streaming endpoints from service discovery", description=__doc__
    )
    p.add_argument("--discovery_url", default=None, help=f"default {DEFAULT_DISCOVERY_URL}")
    p.add_argument(
        "--region", default=None, help="only this region (us-east-1, amer, emea, apac...)"
    )
    p.add_argument("--hotstandby", action="store_true", help="show the pair hot standby would use")
    p.add_argument("--json", action="store_true", help="print the service's JSON answer")
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


async def run(a: argparse.Namespace) -> int:
    if a.auth_url is None and a.discovery_url is None:
        async with SimServer(SimOptions(port=0, endpoints=3)) as sim:
            print(f"(embedded simulator at {sim.base_url}: simulated endpoints)")
            a.user = a.user or "demo"
            a.password = a.password if a.password is not None else "demo"
            a.clientid = a.clientid or "ertcloud-cli"
            return await _discover(a, sim.token_url, sim.discovery_url)
    return await _discover(
        a, a.auth_url or DEFAULT_AUTH_URL, a.discovery_url or DEFAULT_DISCOVERY_URL
    )


async def _discover(a: argparse.Namespace, token_url: str, url: str) -> int:
    tm = token_manager(a, token_url)
    client = DiscoveryClient(url, ssl_context=ssl_context(a))
    try:
        endpoints = await client.discover(tm)
    finally:
        await client.close()
        await tm.client.close()
    if a.json:
        print(pretty(client.last_body))
        return 0
    chosen = (
        select_endpoints(endpoints, a.region, hotstandby=a.hotstandby) if a.region else endpoints
    )
    print(f"{'endpoint':<40} {'port':>5}  locations")
    for e in chosen:
        print(f"{e.host:<40} {e.port:>5}  {','.join(e.locations)}")
    return 0
