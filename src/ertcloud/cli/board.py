"""``ertcloud board``: a live terminal quote board (needs the ``tui`` extra: Textual).

    ertcloud board TRI.N IBM.N EUR= JPY=

Bid and ask with their sizes, last, change and % change (signed), each instrument with
its own decimals, up-ticks green and down-ticks red, a sparkline of recent prices, the
time of each item's last update and its status: Ok, the reason it is not (NotFound,
NotEntitled...), or Stale from a lost connection until the item is refreshed again.
Columns are dropped, least useful first, to fit the terminal. ``q`` quits. Takes the
connection options of ``market-price``; without a host and credentials it shows the
embedded simulator (and says so).
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import AsyncExitStack
from typing import Any

from ..auth.client import TokenClient
from ..auth.grants import PasswordCredentials
from ..auth.manager import TokenManager
from ..client.session import Session
from ..exceptions import ConfigError, ErtcloudError
from ..protocol.login import LoginParams
from .market_price import add_options, default_position
from .record import _rics, connection_target, fill_credentials

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "board",
        help="live terminal quote board (extra: tui)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rics", nargs="*", metavar="RIC", help="items to show (default TRI.N)")
    add_options(p, command="board")
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


async def run(args: argparse.Namespace) -> int:
    try:
        from ..tui.board import QuoteBoard
    except ImportError:
        raise ConfigError("the board needs Textual: pip install 'ertcloud[tui]'") from None
    rics = _rics(args) or ["TRI.N"]
    embedded = not (args.hostname or args.user or args.password or args.clientid)
    if not embedded:
        fill_credentials(args)
        if not (args.user and args.clientid and args.password and args.hostname):
            raise ConfigError("user, clientid, password, and hostname are required options")
    async with AsyncExitStack() as stack:
        t = await connection_target(args, stack, embedded, "showing")
        client = TokenClient(t.auth_url, ssl_context=t.ssl)
        stack.push_async_callback(client.close)
        tokens = TokenManager(
            client,
            PasswordCredentials(
                username=t.user,
                password=t.password,
                client_id=t.clientid,
                scope=args.scope,
                new_password=None if t.simulated else args.new_password,
            ),
        )

        def make_session(trace: Any) -> Session:
            return Session(
                t.ws_url,
                tokens=tokens,
                login=LoginParams(
                    application_id=args.app_id, position=args.position or default_position()
                ),
                ssl_context=t.ssl,
                reconnect=not args.no_reconnect,
                trace=trace,
            )

        app = QuoteBoard(make_session, rics, banner="SIMULATED data" if t.simulated else None)
        await app.run_async()
        if app.error:
            raise ErtcloudError(app.error)
    return 0
