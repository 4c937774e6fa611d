"""``ertcloud subscribe CHAIN --expand``: the constituents of chains, followed as they
change (new constituents opened, removed ones closed), with a ``chain`` event for each
change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..chains import ChainChanged, ChainSubscription, subscribe_chain
from .session_notices import until_done_or_ended

if TYPE_CHECKING:
    from ..client.session import Session

__all__ = ["follow_chains"]


async def follow_chains(
    session: Session,
    chains: Sequence[str],
    *,
    fields: Sequence[str | int] | None,
    service: str | int | None,
    emit: Callable[[Any], None],
    changed: Callable[[ChainChanged], None],
    done: asyncio.Event,
    duration: float | None,
) -> None:
    """Pass each constituent event to ``emit`` and each change to ``changed`` until ``done``
    is set, ``duration`` is over or the session ends; a chain that fails raises."""
    subs: list[ChainSubscription] = []
    tasks: list[asyncio.Task[None]] = []

    async def pump(cs: ChainSubscription) -> None:
        async for ev in cs:
            if isinstance(ev, ChainChanged):
                changed(ev)
            else:
                emit(ev)

    try:
        for chain in dict.fromkeys(chains):
            subs.append(await subscribe_chain(session, chain, fields=fields, service=service))
        tasks = [asyncio.create_task(pump(cs)) for cs in subs]
        waiter = asyncio.create_task(until_done_or_ended(done, [session]))
        finished, _ = await asyncio.wait(
            [waiter, *tasks], timeout=duration, return_when=asyncio.FIRST_COMPLETED
        )
        for t in finished:
            t.result()  # a chain that broke (ChainError) or the session's fatal error
    finally:
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for cs in subs:
            await cs.close()
