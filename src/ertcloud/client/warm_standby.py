"""Warm standby: two sessions, one active server; the standby one takes over on failure.

Both sessions log in and open the same items, and tell their server their role with the
``ConsumerConnectionStatus`` Generic on the Login stream (see
:mod:`ertcloud.protocol.standby`): the active server sends Refreshes and Updates, the
standby one only header-only Refreshes and Status. When the active connection is lost, the
standby one is told it is active: its server sends a full Refresh of every item and then
its Updates, with no re-subscribe. The lost session reconnects and becomes the standby.

Only the active session's events are passed on, so no Update is delivered twice (a server
that does not support warm standby, ``SupportStandby`` 0, still streams to both: the
standby's Updates are then dropped here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.messages import Message
from ..protocol.standby import ACTIVE, STANDBY, connection_status
from ..protocol.streams import ItemStream
from .session import Session
from .standby import StandbyBase, StandbySubscription, seq_newer
from .subscription import ItemEvent

__all__ = ["ActiveChanged", "WarmStandby"]

log = logging.getLogger("ertcloud.client")


@dataclass(frozen=True)
class ActiveChanged:
    """The active session of a :class:`WarmStandby` changed."""

    #: the session now active (0, 1) and its endpoint
    index: int
    url: str | None
    #: the one active before (None at start)
    previous: int | None
    #: why: "start", "lost", "recovered" or "switch"
    reason: str


class WarmStandby(StandbyBase):
    """Two :class:`Session` objects, one active; use ``async with``.

    Session 1 uses ``urls[0]`` and starts active, session 2 uses ``urls[1]`` and starts
    standby; each reconnects to its own endpoint. ``on_active(ActiveChanged)`` is called
    whenever the active session changes (also at start); ``active`` and ``active_url``
    say which it is now, ``promotions`` how often it changed since the start, and ``gaps``
    the seconds each failover took, from the loss of the active connection to the first
    event of the new one."""

    kind = "warm standby"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        on_active: Callable[[ActiveChanged], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(urls, **kwargs)
        self.on_active = on_active
        #: the index of the active session
        self.active = 0
        self.promotions = 0
        self.gaps: list[float] = []
        self._lost_at: float | None = None
        self._start_done = False
        self._unsupported: set[int] = set()  # sessions whose server lacks warm standby

    @property
    def active_url(self) -> str | None:
        s = self.sessions[self.active]
        return s.url if s is not None else None

    def _urls_for(self, index: int) -> list[str]:
        return [self.urls[index]]

    def _hooks_for(self, index: int) -> dict[str, list[Callable[..., Any]]]:
        return {
            "disconnected": [lambda s, reason: self._lost(index, reason)],
            "recovered": [lambda s: self._recovered(index)],
        }

    def _new_session(self, index: int) -> Session:
        s = super()._new_session(index)
        s.protocol.after_login = lambda: self._role_messages(index, s)
        return s

    def _role_messages(self, index: int, session: Session) -> list[Message]:
        """Sent right after each Login Refresh of session ``index``: its role."""
        proto = session.protocol
        if not proto.login.supports("Standby"):
            if index not in self._unsupported:
                self._unsupported.add(index)
                log.warning(
                    "%s: the server does not support warm standby (SupportStandby 0): "
                    "its Updates are dropped while it is the standby",
                    self.names[index],
                )
            return []
        self._unsupported.discard(index)
        return [connection_status(proto.login.id, ACTIVE if index == self.active else STANDBY)]

    # -- roles ---------------------------------------------------------------------------

    def _logged_in(self, index: int) -> bool:
        s = self.sessions[index]
        return s is not None and s.protocol.login.is_open

    async def start(self) -> None:
        """Start both sessions (raises only if neither could connect); the first one is
        active unless only the second could connect."""
        await super().start()
        other = 1 - self.active
        if not self._logged_in(self.active) and self._logged_in(other):
            self.promote(other, "start")
        else:
            self._announce(self.active, None, "start")
        self._start_done = True

    def _started(self, index: int) -> None:
        # a session that could not connect at start came up later
        if self._start_done and not self._logged_in(self.active):
            self.promote(index, "recovered")

    def _lost(self, index: int, reason: str) -> None:
        if index != self.active:
            return
        log.warning("%s (active) lost: %s", self.names[index], reason)
        self._lost_at = time.monotonic()
        other = 1 - index
        if self._logged_in(other):
            self.promote(other, "lost")

    def _recovered(self, index: int) -> None:
        if index != self.active and not self._logged_in(self.active):
            self.promote(index, "recovered")

    def promote(self, index: int, reason: str = "switch") -> None:
        """Make session ``index`` the active one: its server is told so (and the other's
        server, if still connected, that it is the standby)."""
        if index not in (0, 1):
            raise ValueError(f"session index must be 0 or 1, got {index!r}")
        previous = self.active
        if index == previous:
            return
        self.active = index
        if reason != "start":
            self.promotions += 1
        for i in (index, previous):
            s = self.sessions[i]
            if s is None or not s.protocol.login.is_open or i in self._unsupported:
                continue
            mode = ACTIVE if i == index else STANDBY
            s.protocol.send_generic(connection_status(s.protocol.login.id, mode))
            s.flush_soon()
        self._announce(index, previous, reason)

    def _announce(self, index: int, previous: int | None, reason: str) -> None:
        event = ActiveChanged(index, self.active_url, previous, reason)
        log.info("%s is active (%s): %s", self.names[index], reason, event.url)
        if self.trace is not None:
            self.trace(self.names[index], "active", event)
        if self.on_active is not None:
            try:
                self.on_active(event)
            except Exception:
                log.exception("on_active callback failed")

    # -- events --------------------------------------------------------------------------

    def _merge(self, index: int, sub: StandbySubscription, ev: ItemEvent) -> None:
        """Only the active session's events are passed on."""
        if self.on_raw is not None:
            self.on_raw(index, ev)
        if sub.closed:
            return
        if index != self.active:
            if isinstance(ev, ItemUpdated):
                sub.suppressed += 1
            return  # header-only images and states of the standby: not the user's view
        name = ev.stream.name
        rec = sub.records.get(name)
        if isinstance(ev, ItemUpdated):
            if rec is None or not rec.refreshes:
                return  # no image yet: the coming Refresh carries this change
            seq = ev.message.seq_number
            if (
                sub._sources.get(name) == index
                and seq is not None
                and rec.seq_number is not None
                and not seq_newer(seq, rec.seq_number)
            ):
                sub.duplicates += 1
                return
            sub._sources[name] = index
            self._gap_closed()
            rec.apply_update(ev.message)
            sub._emit(ItemUpdated(rec, ev.message))
        elif isinstance(ev, ItemRefreshed):
            if rec is None or not rec.is_open:
                s = ev.stream
                rec = ItemStream(0, s.request, s.name, s.domain, s.service)
                sub.records[name] = rec
            sub._sources[name] = index
            self._gap_closed()
            rec.apply_refresh(ev.message)
            sub._emit(ItemRefreshed(rec, ev.message))
        elif isinstance(ev, ItemStatus):
            if rec is not None:
                rec.apply_status(ev.message)
                sub._emit(ItemStatus(rec, ev.message))
        elif isinstance(ev, StreamClosed) and ev.state.stream != "ClosedRecover":
            self._emit_closed(sub, ev)

    def _gap_closed(self) -> None:
        if self._lost_at is not None:
            self.gaps.append(time.monotonic() - self._lost_at)
            self._lost_at = None
