"""The item universe of a worker that follows chains: the fixed items plus the chains'
current constituents, updated on each :class:`~ertcloud.chains.ChainChanged`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..chains import ChainChanged, ChainError, ChainSubscription
from ..client.session import Session
from .worker import Worker

__all__ = ["ChainUniverse"]

log = logging.getLogger("ertcloud.cluster")


class ChainUniverse:
    """Follows ``chains`` on ``session`` (their records only, no constituent stream) and
    keeps ``worker``'s items equal to ``fixed`` plus the constituents, in chain order.

    ``await start()`` raises :class:`ChainError` for a chain that does not exist."""

    def __init__(
        self,
        worker: Worker,
        session: Session,
        chains: Sequence[str],
        fixed: Sequence[str] = (),
        *,
        service: str | int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.worker = worker
        self.fixed = list(fixed)
        self.timeout = timeout
        self.subs = [
            ChainSubscription(session, c, service=service, open_members=False)
            for c in dict.fromkeys(chains)
        ]
        self.changes = 0  # ChainChanged events seen
        self._tasks: list[asyncio.Task[None]] = []

    def items(self) -> list[str]:
        """The fixed items and every chain's current constituents, without repeats."""
        out = list(self.fixed)
        for cs in self.subs:
            out.extend(cs.constituents())
        return list(dict.fromkeys(out))

    async def start(self) -> None:
        """Open the chains and set the worker's items; follow the chains from then on."""
        try:
            for cs in self.subs:
                await cs.start(self.timeout)
        except ChainError:
            await self.close()
            raise
        self.worker.set_items(self.items())
        self._tasks = [asyncio.ensure_future(self._follow(cs)) for cs in self.subs]

    async def _follow(self, cs: ChainSubscription) -> None:
        while True:
            try:
                ev = await cs.__anext__()
            except StopAsyncIteration:
                return
            except ChainError as exc:  # a new record of the chain is broken: keep the rest
                log.warning("chain %s: %s", cs.chain, exc)
                continue
            if not isinstance(ev, ChainChanged):
                continue
            self.changes += 1  # the first one is the initial constituents
            log.info("chain %s: %d added, %d removed", cs.chain, len(ev.added), len(ev.removed))
            self.worker.set_items(self.items())

    async def close(self) -> None:
        """Stop following the chains (the worker keeps its last items)."""
        for t in self._tasks:
            t.cancel()
        for cs in self.subs:
            await cs.close()
