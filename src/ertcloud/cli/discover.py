"""``ertcloud discover``: list the streaming endpoints service discovery offers."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import DEFAULT_DISCOVERY_URL
from ..exceptions import DiscoveryError
from . import interrupt
from .common import add_connection_options, token_manager, use_demo_login
from .market_price import first_token, ssl_context
from .options import description
from .output import pretty
from .shared_options import DEFAULT_AUTH_URL, add_shared

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "discover",
        help="list the streaming endpoints from service discovery",
        description=description(__doc__),
    )
    add_shared(
        p, "discovery_url", "region", "hotstandby",
        region={
            "default": None,
            "help": "only this region (us-east-1, amer, emea, apac...; with --hot-standby "
            "default us-east-1)",
        },
        hotstandby={"help": "only the pair of single-zone endpoints hot standby would use"},
    )  # fmt: skip
    p.add_argument(
        "--json", action="store_true", help="print the service's JSON answer (only that)"
    )
    add_connection_options(p)
    p.set_defaults(func=lambda a: interrupt.run(run(a)))


async def run(a: argparse.Namespace) -> int:
    from ..sim.server import SimOptions, SimServer

    if a.auth_url is None and a.discovery_url is None:
        async with SimServer(SimOptions(port=0, endpoints=3)) as sim:
            # stderr: stdout is the listing (or the JSON) alone
            sys.stderr.write(
                f"ertcloud: embedded simulator at {sim.base_url}: simulated endpoints\n"
            )
            use_demo_login(a)
            return await _discover(a, sim.token_url, sim.discovery_url)
    return await _discover(
        a, a.auth_url or DEFAULT_AUTH_URL, a.discovery_url or DEFAULT_DISCOVERY_URL
    )


async def _discover(a: argparse.Namespace, token_url: str, url: str) -> int:
    from ..discovery import DiscoveryClient, select_endpoints

    tm = token_manager(a, token_url)
    client = DiscoveryClient(url, ssl_context=ssl_context(a, url))
    try:
        await first_token(tm, token_url, a)
        endpoints = await interrupt.wait_for(
            client.discover(tm),
            f"service discovery at {url}",
            a.connect_timeout,
            option="--connect-timeout",
            error=DiscoveryError,
        )
    finally:
        await client.close()
        await tm.client.close()
    if a.json:
        print(pretty(client.last_body))
        return 0
    chosen = endpoints
    if a.hotstandby:
        chosen = select_endpoints(endpoints, a.region or "us-east-1", hotstandby=True)[:2]
    elif a.region:
        chosen = select_endpoints(endpoints, a.region)
    print(f"{'endpoint':<40} {'port':>5}  locations")
    for e in chosen:
        print(f"{e.host:<40} {e.port:>5}  {','.join(e.locations)}")
    return 0
