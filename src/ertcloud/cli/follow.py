"""The loop of the commands that follow a live feed and print one line per thing that
comes (``bars``, ``news``): until ``--count`` lines or ``--duration`` seconds."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from .common import open_session

if TYPE_CHECKING:
    from ..client.session import Session

__all__ = ["follow"]

#: what a command prints from its session: lines, or None for a thing it skips
Lines = Callable[["Session"], AsyncIterator["str | None"]]


async def follow(a: argparse.Namespace, lines: Lines, header: str = "") -> int:
    """Open the session the options name, print ``header`` then each line ``lines``
    yields, and stop after ``a.count`` lines or ``a.duration`` seconds."""
    out = sys.stdout
    shown = 0

    async def run() -> None:
        nonlocal shown
        async with open_session(a) as session:
            out.write(header)
            async for text in lines(session):
                if text is None:
                    continue
                out.write(text + "\n")
                out.flush()
                shown += 1
                if a.count is not None and shown >= a.count:
                    return

    try:
        await asyncio.wait_for(run(), a.duration)
    except asyncio.TimeoutError:
        pass
    return 0
