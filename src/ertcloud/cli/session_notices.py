"""What a streaming command tells the user about its connection, on stderr.

A lost connection and its recovery each get one line; a session that cannot recover ends
the command with its error (raised, so the command exits non-zero) instead of hanging.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..exceptions import one_line

if TYPE_CHECKING:
    from ..client.session import Session

__all__ = ["announce_reconnects", "until_done_or_ended"]


def announce_reconnects(session: Session, out: TextIO | None = None) -> None:
    """Print one line when ``session`` loses its connection and one when it is back (the
    session's hooks set before, e.g. by a warm standby, still run)."""
    previous = session.on_recovered
    previous_lost = session.on_disconnected

    def lost(s: Session, reason: str) -> None:
        _say(out, f"connection lost: {reason}; reconnecting")
        if previous_lost is not None:
            previous_lost(s, reason)

    def recovered(s: Session) -> None:
        _say(out, f"reconnected to {s.url}; {len(s.protocol.streams)} streams re-opened")
        if previous is not None:
            previous(s)

    session.on_disconnected = lost
    session.on_recovered = recovered


def _say(out: TextIO | None, text: str) -> None:
    stream = out or sys.stderr
    stream.write(f"ertcloud: {one_line(Exception(text))}\n")
    stream.flush()


async def until_done_or_ended(done: asyncio.Event, sessions: Sequence[Session]) -> None:
    """Wait until ``done`` is set or every session has ended; raises the fatal error of an
    ended session (a session that cannot recover)."""
    waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(done.wait())}
    if sessions:
        waiters.add(asyncio.ensure_future(_all_ended(sessions)))
    try:
        finished, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    for w in finished:
        exc = None if w.cancelled() else w.exception()
        if exc is not None:
            raise exc


async def _all_ended(sessions: Sequence[Session]) -> None:
    results = await asyncio.gather(*(s.wait_closed() for s in sessions), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
