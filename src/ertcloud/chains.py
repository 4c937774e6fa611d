"""Chains: the constituents of a chain RIC (``0#.DJI``) walked over its linked records,
and a subscription that follows them as the chain changes.

A chain record is a MarketPrice record with ``REF_COUNT``, 14 link fields of one
template and a next (or previous) record field:

========  ==========================  =====================
template  links                       prev / next
========  ==========================  =====================
long      ``LONGLINK1..LONGLINK14``    ``LONGPREVLR`` / ``LONGNEXTLR``
short     ``LINK_1..LINK_14``          ``PREV_LR`` / ``NEXT_LR``
BR        ``BR_LINK1..BR_LINK14``      ``BR_PREVLR`` / ``BR_NEXTLR``
========  ==========================  =====================

The walk takes links 1..REF_COUNT of each record (blank links skipped) and follows the
next field until it is blank; a record seen twice is a loop and an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .exceptions import ChainError

if TYPE_CHECKING:
    from .client.session import Session
    from .client.subscription import Subscription

__all__ = [
    "TEMPLATES",
    "ChainChanged",
    "ChainError",
    "ChainRecord",
    "ChainSubscription",
    "fetch_chain",
    "parse_chain_record",
]

#: (name, link field names, prev field, next field), in the order they are tried
TEMPLATES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("long", tuple(f"LONGLINK{i}" for i in range(1, 15)), "LONGPREVLR", "LONGNEXTLR"),
    ("short", tuple(f"LINK_{i}" for i in range(1, 15)), "PREV_LR", "NEXT_LR"),
    ("br", tuple(f"BR_LINK{i}" for i in range(1, 15)), "BR_PREVLR", "BR_NEXTLR"),
)
MAX_RECORDS = 1000


@dataclass(frozen=True)
class ChainRecord:
    """One record of a chain: its links (blank ones dropped) and neighbours."""

    template: str
    links: tuple[str, ...]
    next: str | None
    prev: str | None


@dataclass(frozen=True)
class ChainChanged:
    """The chain's constituents changed: the streams of ``added`` were opened and those
    of ``removed`` closed."""

    chain: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


def _text(v: Any) -> str | None:
    return v.strip() or None if isinstance(v, str) else None


def parse_chain_record(fields: dict[str, Any]) -> ChainRecord | None:
    """The chain content of a record's fields, or None if it is not a chain record."""
    count = fields.get("REF_COUNT")
    if not isinstance(count, int) or isinstance(count, bool):
        return None
    for name, links, prev, nxt in TEMPLATES:
        if all(k in fields for k in links) and (prev in fields or nxt in fields):
            used = links[: max(0, min(count, 14))]
            found = tuple(t for t in (_text(fields.get(k)) for k in used) if t is not None)
            return ChainRecord(name, found, _text(fields.get(nxt)), _text(fields.get(prev)))
    return None


async def _snapshot(
    session: Session, name: str, service: str | int | None, timeout: float
) -> dict[str, Any]:
    sub = session.subscribe(name, snapshot=True, service=service)
    try:
        await sub.wait_complete(timeout)
    except TimeoutError:
        raise ChainError(f"chain record {name}: no answer within {timeout:g} s") from None
    finally:
        await sub.close()
    s = sub.streams[0]
    if s.refreshes == 0:
        st = s.state
        why = f"{st.stream}/{st.data} {st.text or ''}".strip() if st is not None else "no image"
        raise ChainError(f"chain record {name} is not available: {why}")
    return dict(s.fields)


async def fetch_chain(
    session: Session,
    name: str,
    *,
    service: str | int | None = None,
    timeout: float = 10.0,
) -> list[str]:
    """The constituents of chain ``name``, walking its linked records in order.

    Raises :class:`ChainError` for a record that is missing or not a chain, or a loop."""
    out: list[str] = []
    seen: set[str] = set()
    current: str | None = name
    while current is not None:
        if current in seen or len(seen) >= MAX_RECORDS:
            raise ChainError(f"chain {name} loops back to {current}")
        seen.add(current)
        fields = await _snapshot(session, current, service, timeout)
        rec = parse_chain_record(fields)
        if rec is None:
            raise ChainError(f"{current} is not a chain record (no REF_COUNT and links)")
        out.extend(rec.links)
        current = rec.next
    return out


@dataclass
class ChainSubscription:
    """The constituents of a chain, streamed; made by :func:`subscribe_chain`.

    Iterate it for the constituents' events and :class:`ChainChanged` events. The chain
    records stay open: an update of a link opens the new constituent's stream and closes
    the old one."""

    session: Session
    chain: str
    fields: Sequence[str | int] | None = None
    service: str | int | None = None
    records: dict[str, tuple[str, ...]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    members: dict[str, Subscription] = field(default_factory=dict)
    _queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    _record_subs: dict[str, Subscription] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    closed: bool = False
    #: False: follow the constituents' names only (``ChainChanged`` events), open no stream
    open_members: bool = True
    _names: dict[str, None] = field(default_factory=dict)

    def constituents(self) -> list[str]:
        """The current constituents, in chain order."""
        return [r for rec in self.order for r in self.records.get(rec, ())]

    async def start(self, timeout: float = 10.0) -> None:
        try:
            await self._open_record(self.chain, timeout)
        except ChainError:
            await self.close()
            raise
        self._sync_members()

    async def _open_record(self, name: str, timeout: float) -> None:
        current: str | None = name
        while current is not None:
            if current in self._record_subs or len(self._record_subs) >= MAX_RECORDS:
                raise ChainError(f"chain {self.chain} loops back to {current}")
            sub = self.session.subscribe(
                current,
                service=self.service,
                on_refresh=self._on_record_update,  # an unsolicited one is a new image
                on_update=self._on_record_update,
                queue=False,
            )
            self._record_subs[current] = sub
            try:
                await sub.wait_complete(timeout)
            except TimeoutError:
                raise ChainError(
                    f"chain record {current}: no answer within {timeout:g} s"
                ) from None
            s = sub.streams[0]
            rec = parse_chain_record(dict(s.fields)) if s.refreshes else None
            if rec is None:
                st = s.state
                why = f": {st.text}" if st is not None and st.text else ""
                raise ChainError(f"{current} is not an available chain record{why}")
            self.order.append(current)
            self.records[current] = rec.links
            current = rec.next

    def _on_record_update(self, ev: Any) -> None:
        s = ev.stream
        # the update's own fields over the image: the image may not hold them yet
        rec = parse_chain_record({**s.fields, **(getattr(ev.message, "fields", None) or {})})
        if rec is None or s.name not in self.records:
            return
        self.records[s.name] = rec.links
        if rec.next is not None and rec.next not in self._record_subs:
            t = asyncio.ensure_future(self._grow(rec.next))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
            return
        if len(self.records) < len(self._record_subs):
            return  # a record is still being opened: its opener syncs with the whole chain
        self._sync_members()

    async def _grow(self, name: str) -> None:
        try:
            await self._open_record(name, 10.0)
        except ChainError as exc:
            self._queue.put_nowait(exc)
            return
        self._sync_members()

    def _sync_members(self) -> None:
        if self.closed:
            return
        want = self.constituents()
        have = self.members if self.open_members else self._names
        added = tuple(r for r in want if r not in have)
        removed = tuple(r for r in have if r not in want)
        if not self.open_members:
            self._names = dict.fromkeys(want)
        for r in removed if self.open_members else ():
            sub = self.members.pop(r)
            t = asyncio.ensure_future(sub.close())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)
        for r in added if self.open_members else ():
            self.members[r] = self.session.subscribe(
                r,
                fields=self.fields,
                service=self.service,
                on_refresh=self._queue.put_nowait,
                on_update=self._queue.put_nowait,
                on_status=self._queue.put_nowait,
                queue=False,
            )
        if (added or removed) and self.records:
            self._queue.put_nowait(ChainChanged(self.chain, added, removed))

    def __aiter__(self) -> ChainSubscription:
        return self

    async def __anext__(self) -> Any:
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        """Close the constituents' and the chain records' streams."""
        if self.closed:
            return
        self.closed = True
        for sub in [*self.members.values(), *self._record_subs.values()]:
            await sub.close()
        self.members.clear()
        self._queue.put_nowait(None)

    async def __aenter__(self) -> ChainSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def subscribe_chain(
    session: Session,
    chain: str,
    *,
    fields: Sequence[str | int] | None = None,
    service: str | int | None = None,
    timeout: float = 10.0,
) -> ChainSubscription:
    """Open chain ``chain`` and a stream of each constituent (with view ``fields``)."""
    cs = ChainSubscription(session, chain, fields, service)
    await cs.start(timeout)
    return cs
