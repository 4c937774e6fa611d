"""``ertcloud demo``: the whole quick-start flow against the embedded simulator.

Starts the simulator in this process on a free loopback port, then runs ``market-price``
against it (authentication, WebSocket, Login, Refresh and Updates, token renewal), one
short line per message (``--format vendor``: the vendor quick start's JSON). Ends, on
``--duration`` or Ctrl+C, with a summary and three commands to try next.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..exceptions import ConfigError
from . import market_price
from .options import description
from .output import LinePrinter, Printer, Tally
from .shared_options import add_shared

__all__ = ["NEXT_COMMANDS", "add_parser", "run", "summary"]

BANNER = (
    "*** ertcloud demo: SIMULATED market data from the embedded ertcloud simulator at {url}. "
    "Not real prices. ***"
)

#: what to try after the demo: (command, what it does)
NEXT_COMMANDS = (
    ("ertcloud board TRI.N IBM.N EUR= JPY=", "a live quote board (extra: tui)"),
    (
        "ertcloud subscribe TRI.N EUR= --fields BID,ASK --format table",
        "prices as a table, in a script",
    ),
    (
        "ertcloud record TRI.N EUR= --to duckdb:ticks.db --duration 10",
        "record to DuckDB, then load('ticks.db')",
    ),
)


def summary(tally: Tally, rics: list[str]) -> str:
    """What the demo showed, in a few lines, and what to try next."""
    items = tally.items or rics
    refreshes = sum(tally.refreshes.values())
    updates = sum(tally.updates.values())
    per_item = ", ".join(f"{r} {tally.updates.get(r, 0)}" for r in items)
    lines = [
        "",
        f"--- ertcloud demo: {len(items)} item{'s' if len(items) != 1 else ''}, "
        f"{refreshes} Refresh{'es' if refreshes != 1 else ''}, {updates} Updates "
        f"in {tally.seconds:.1f} s (Updates per item: {per_item}) ---",
        "Shown: an OAuth2 password grant at the token gateway, the WebSocket (tr_json2) and its",
        "Login, each item's full image (Refresh) and its changes (Updates)"
        + (f", {tally.pings} Ping(s) answered" if tally.pings else "")
        + "; all SIMULATED.",
        "Next, try:",
    ]
    width = max(len(c) for c, _ in NEXT_COMMANDS)
    lines += [f"  {c:<{width}}  # {what}" for c, what in NEXT_COMMANDS]
    return "\n".join(lines)


async def run(a: argparse.Namespace) -> int:
    from ..sim.server import SimOptions, SimServer

    if a.format not in ("lines", "vendor"):
        raise ConfigError(f"--format {a.format!r}: use lines or vendor")
    opts = SimOptions(host="127.0.0.1", port=0, token_ttl=a.token_ttl)
    opts.users = {"demo": "demo"}
    rics = a.ric or ["TRI.N"]
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
        tally = Tally()
        kind = LinePrinter if a.format == "lines" else Printer
        pr = kind(show_secrets=a.show_secrets, tally=tally)
        code = await market_price.run(ma, printer=pr, banner=BANNER.format(url=sim.base_url))
        pr.line(summary(tally, rics))
        return code


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the quick-start flow against the embedded simulator",
        description=description(__doc__),
    )
    add_shared(p, "duration", "ric", ric={"help": "items (default TRI.N)"})
    p.add_argument("--token-ttl", type=int, default=300, help="token lifetime in the simulator, s")
    p.add_argument(
        "--format",
        default="lines",
        help="lines: one short line per message (default); vendor: the quick start's JSON",
    )
    add_shared(p, "show_secrets", show_secrets={"help": "print tokens unredacted"})
    p.set_defaults(func=lambda a: asyncio.run(run(a)))
