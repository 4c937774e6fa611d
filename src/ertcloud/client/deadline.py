"""Waits with a time limit that end in :class:`~ertcloud.exceptions.TimedOut`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ..exceptions import TimedOut

__all__ = ["within"]

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout: float | None, what: str) -> T:
    """Await ``aw`` for at most ``timeout`` seconds (None: no limit); past it, raise
    :class:`TimedOut` (also a :class:`TimeoutError`) saying ``what`` did not happen."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise TimedOut(f"{what} within {timeout:g} s") from None
