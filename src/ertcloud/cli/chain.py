"""``ertcloud chain``: the constituents of a chain RIC, one per line.

ertcloud chain 0#.DJI
ertcloud chain 0#.FTSE --watch --duration 60   # then +RIC / -RIC as it changes
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..chains import ChainChanged, ChainError
from .common import add_connection_options, open_session
from .options import description
from .shared_options import add_shared

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "chain",
        help="list the constituents of a chain (0#.DJI)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("chain", metavar="CHAIN", help="chain RIC, e.g. 0#.DJI")
    p.add_argument(
        "--watch", action="store_true", help="keep the chain open; print +RIC / -RIC on changes"
    )
    add_shared(p, "duration", duration={"help": "with --watch: stop after seconds"})
    add_connection_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


async def run(a: argparse.Namespace) -> int:
    out = sys.stdout
    async with open_session(a) as session:
        if not a.watch:
            for ric in await session.chain(a.chain):
                out.write(ric + "\n")
            return 0
        cs = await session.subscribe_chain(a.chain, fields=["DSPLY_NAME"])

        async def follow() -> None:
            first = True
            async for ev in cs:
                if isinstance(ev, BaseException):
                    raise ev
                if not isinstance(ev, ChainChanged):
                    continue
                if first:
                    out.writelines(r + "\n" for r in ev.added)
                    first = False
                else:
                    out.writelines(f"-{r}\n" for r in ev.removed)
                    out.writelines(f"+{r}\n" for r in ev.added)
                out.flush()

        try:
            await asyncio.wait_for(follow(), a.duration)
        except asyncio.TimeoutError:
            pass
        except ChainError:
            raise
        finally:
            await cs.close()
    return 0
