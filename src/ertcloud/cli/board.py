"""``ertcloud board``: a live terminal quote board (needs the ``tui`` extra: Textual).

    ertcloud board TRI.N IBM.N EUR= JPY=

Bid and ask with their sizes, last, change and % change (signed), each instrument with
its own decimals, up-ticks green and down-ticks red, a sparkline of recent prices, the
time of each item's last update and its status: Ok, the reason it is not (NotFound,
NotEntitled...), or Stale from a lost connection until the item is refreshed again.
Columns are dropped, least useful first, to fit the terminal. ``q`` quits. Connects as
``record`` does: credentials from the options, ``--credentials``, or the environment
(``ERTCLOUD_USER``...); the endpoint from ``--hostname``/``--url`` or else service
discovery (``--region``; ``--hot-standby`` adds a second endpoint to fail over to). Only
when none of these is given at all does it show the embedded simulator (and says so).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError, ErtcloudError
from .market_price import add_options, default_position
from .options import description
from .record import rics_of
from .service import open_connection

if TYPE_CHECKING:
    from ..client.session import Session

__all__ = ["add_parser", "open_board", "run"]

#: what :func:`open_board` gives the board: a new Session (given its trace callback)
SessionFactory = Callable[[Callable[[str, Any], None]], "Session"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "board",
        help="live terminal quote board (extra: tui)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rics", nargs="*", metavar="RIC", help="items to show (default TRI.N)")
    add_options(p, command="board")
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


async def open_board(
    args: argparse.Namespace, stack: AsyncExitStack
) -> tuple[SessionFactory, bool]:
    """The sessions the board shows, on the service the options name (first token fetched,
    endpoints discovered, see :func:`~ertcloud.cli.service.open_connection`), and whether
    that service is the embedded simulator. Everything closes with ``stack``."""
    from ..client.session import Session
    from ..protocol.login import LoginParams

    conn = await open_connection(args, stack, "showing")
    login = LoginParams(application_id=args.app_id, position=args.position or default_position())

    def make_session(trace: Any) -> Session:
        return Session(
            conn.urls,
            tokens=conn.tokens,
            login=login,
            ssl_context=conn.ssl,
            reconnect=not args.no_reconnect,
            connect_timeout=args.connect_timeout,
            trace=trace,
        )

    return make_session, conn.simulated


async def run(args: argparse.Namespace) -> int:
    try:
        from ..tui.board import QuoteBoard
    except ImportError:
        raise ConfigError("the board needs Textual: pip install 'ertcloud[tui]'") from None
    rics = rics_of(args) or ["TRI.N"]
    async with AsyncExitStack() as stack:
        make_session, simulated = await open_board(args, stack)
        app = QuoteBoard(make_session, rics, banner="SIMULATED data" if simulated else None)
        await app.run_async()
        if app.error:
            raise ErtcloudError(app.error)
    return 0
