"""``ertcloud demo``: the whole quick-start flow against the embedded simulator.

Starts the simulator in this process on a free loopback port, then runs ``market-price``
against it (authentication, WebSocket, Login, TRI.N Refresh and Updates, token renewal).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..sim.server import SimOptions, SimServer
from . import market_price
from .output import Printer

__all__ = ["add_parser", "run"]

BANNER = (
    "*** ertcloud demo: SIMULATED market data from the embedded ertcloud simulator at {url}. "
    "Not real prices. ***"
)


async def run(a: argparse.Namespace) -> int:
    opts = SimOptions(host="127.0.0.1", port=0, token_ttl=a.token_ttl)
    opts.users = {"demo": "demo"}
    async with SimServer(opts) as sim:
        ma = argparse.Namespace(
            hostname="127.0.0.1",
            port=str(sim.port),
            user="demo",
            password="demo",
            new_password=None,
            clientid="ertcloud-demo",
            app_id="256",
            position=None,
            auth_hostname=None,
            auth_port="443",
            auth_path="auth/oauth2/v1/token",
            auth_url=sim.token_url,
            scope="trapi",
            ric=a.ric,
            service="ELEKTRON_DD",
            view=None,
            snapshot=False,
            show_secrets=a.show_secrets,
            ca_file=None,
            insecure=False,
            tls="off",
            duration=a.duration,
            no_reconnect=False,
        )
        pr = Printer(show_secrets=a.show_secrets)
        return await market_price.run(ma, printer=pr, banner=BANNER.format(url=sim.base_url))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="run the quick-start flow against the embedded simulator", description=__doc__
    )
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--ric", action="append", default=None, help="items (default TRI.N)")
    p.add_argument("--token-ttl", type=int, default=300, help="token lifetime in the simulator, s")
    p.add_argument("--show-secrets", action="store_true", help="print tokens unredacted")
    p.set_defaults(func=lambda a: asyncio.run(run(a)))
