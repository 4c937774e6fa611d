"""``ertcloud token``: get a token from the gateway and print the response (redacted)."""

from __future__ import annotations

import argparse
from typing import Any

from . import interrupt
from .common import add_connection_options, token_manager, use_demo_login
from .market_price import first_token
from .options import description
from .output import Printer
from .shared_options import DEFAULT_AUTH_URL, add_shared

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "token",
        help="request a token and print the response (redacted)",
        description=description(__doc__),
    )
    add_shared(p, "show_secrets", show_secrets={"help": "print the tokens unredacted"})
    add_connection_options(p)
    p.set_defaults(func=lambda a: interrupt.run(run(a)))


async def run(a: argparse.Namespace) -> int:
    from ..sim.server import SimOptions, SimServer

    pr = Printer(show_secrets=a.show_secrets)
    if a.auth_url is None and a.hostname is None and a.url is None:
        async with SimServer(SimOptions(port=0)) as sim:
            pr.line(f"(embedded simulator at {sim.base_url}: simulated token)")
            use_demo_login(a)
            return await _fetch(a, sim.token_url, pr)
    return await _fetch(a, a.auth_url or DEFAULT_AUTH_URL, pr)


async def _fetch(a: argparse.Namespace, url: str, pr: Printer) -> int:
    tm = token_manager(a, url)
    try:
        await first_token(tm, url, a)
        tok = await tm.get()
    finally:
        await tm.client.close()
    pr.block(f"Token from {url}:", tok.raw)
    return 0
