"""Hot standby: two sessions on two endpoints, one de-duplicated stream of events.

:class:`StandbyBase` holds what hot and warm standby
(:class:`~ertcloud.client.warm_standby.WarmStandby`) share: two sessions, one token
manager, subscriptions opened on both, merged records.

Both sessions log in with the same token and open the same items. Every event goes
through a merged image per item: an Update is passed on only if its ``SeqNumber`` is newer
than the last one passed on for that item (the other session's copy is a duplicate); a
Refresh replaces the image unless it is older than what was already passed on. While one
endpoint is down the other carries everything, so nothing it delivers is lost.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..auth.grants import Token
from ..auth.manager import TokenManager
from ..exceptions import ConfigError, ConnectFailed, ErtcloudError, SessionClosed
from ..protocol.backoff import backoff
from ..protocol.events import ItemRefreshed, ItemStatus, ItemUpdated, StreamClosed
from ..protocol.login import LoginParams
from ..protocol.streams import ItemStream
from ..proxy import ProxySetting
from .deadline import within
from .session import Session
from .subscription import ItemEvent, Subscription
from .subscription_base import NO_QUEUE, BaseSubscription, Callback

__all__ = ["HotStandby", "StandbyBase", "StandbySubscription"]

log = logging.getLogger("ertcloud.client")

#: ``trace(session_name, kind, detail)``: a :data:`~ertcloud.client.session.Trace` per session.
StandbyTrace = Callable[[str, str, Any], None]
_T = TypeVar("_T", bound="StandbyBase")


def seq_newer(a: int, b: int) -> bool:
    """``a`` comes after ``b`` (32-bit sequence numbers that wrap)."""
    return 0 < (a - b) % (1 << 32) < (1 << 31)


@dataclass
class _Spec:
    rics: list[str]
    kwargs: dict[str, Any]
    subs: dict[int, Subscription] = field(default_factory=dict)


class StandbySubscription(BaseSubscription):
    """The merged events of one ``subscribe`` call of a hot or warm standby: iterate it, or use the
    ``on_refresh``/``on_update``/``on_status`` callbacks. ``records`` holds the merged image
    of every item by name."""

    def __init__(
        self,
        standby: StandbyBase,
        *,
        on_refresh: Callback | None,
        on_update: Callback | None,
        on_status: Callback | None,
        queue: bool,
    ) -> None:
        self._standby = standby
        self.on_refresh = on_refresh
        self.on_update = on_update
        self.on_status = on_status
        self.records: dict[str, ItemStream] = {}
        self._queue: deque[ItemEvent] | None = deque() if queue else None
        self._wakeup = asyncio.Event()
        self.closed = False
        self.duplicates = 0
        self.delivered = 0
        #: Updates a warm standby's standby connection sent and that were not passed on
        self.suppressed = 0
        self._sources: dict[str, int] = {}  # item -> the session its image came from
        self._dropped: set[str] = set()  # items closed alone (StandbyBase.close_items)

    @property
    def streams(self) -> list[ItemStream]:
        return list(self.records.values())

    @property
    def legs(self) -> dict[int, Subscription]:
        """The subscription on each session (0, 1) that feeds this one."""
        spec = self._standby._specs.get(self)
        return dict(spec.subs) if spec is not None else {}

    def _emit(self, event: ItemEvent) -> None:
        self.delivered += 1
        cb = self._callback_for(event)
        if cb is not None:
            try:
                cb(event)
            except Exception:
                # A bug in user code must not take both sessions' readers down.
                log.exception("hot standby callback failed on %s", type(event).__name__)
        if self._queue is not None:
            self._queue.append(event)
        self._wakeup.set()

    async def __anext__(self) -> ItemEvent:
        q = self._queue
        if q is None:
            raise TypeError(NO_QUEUE)
        while not q:
            fatal = self._standby.fatal
            if fatal is not None:
                raise fatal
            if self.closed or (self.records and not any(s.is_open for s in self.streams)):
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return q.popleft()

    async def wait_complete(self, timeout: float | None = None) -> None:
        """Wait until every item has its image (or has ended)."""
        names = set(self._standby._spec_of(self).rics)

        async def _wait() -> None:
            while any(
                n not in self.records or (self.records[n].is_open and not self.records[n].refreshes)
                for n in names
            ):
                if self._standby.fatal is not None:
                    raise self._standby.fatal
                self._wakeup.clear()
                await self._wakeup.wait()

        await within(_wait(), timeout, "not every image came")

    async def close(self) -> None:
        """Close the items on both sessions."""
        if self.closed:
            return
        self.closed = True
        spec = self._standby._specs.pop(self, None)
        if spec is not None:
            for sub in spec.subs.values():
                await sub.close()
        self._wakeup.set()

    def close_items(self, names: Sequence[str]) -> None:
        """Close these items on both sessions (see :meth:`StandbyBase.close_items`)."""
        self._standby.close_items(self, names)

    async def __aenter__(self) -> StandbySubscription:
        return self


class StandbyBase:
    """Two :class:`Session` objects on two endpoints with the same items; use ``async with``.

    Subclasses decide which endpoints each session uses (:meth:`_urls_for`) and how the
    events of the two are merged (:meth:`_merge`)."""

    kind = "standby"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        tokens: TokenManager | None = None,
        login: LoginParams | None = None,
        ssl_context: ssl.SSLContext | bool | None = None,
        connect_timeout: float = 10.0,
        trace: StandbyTrace | None = None,
        names: tuple[str, str] = ("session1", "session2"),
        proxy: ProxySetting = None,
        transport: str = "auto",
    ) -> None:
        if len(urls) < 2:
            raise ConfigError(f"{self.kind} needs two endpoints")
        self.urls = list(urls)
        self.tokens = tokens
        self.login = login
        self._ssl = ssl_context
        self.connect_timeout = connect_timeout
        self.trace = trace
        self.names = names
        self.proxy = proxy
        self.transport = transport
        self.sessions: list[Session | None] = [None, None]
        self._specs: dict[StandbySubscription, _Spec] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        #: why the hot standby ended by itself (token renewal refused), else None
        self.fatal: ErtcloudError | None = None
        #: every item event either session received, before de-duplication
        self.on_raw: Callable[[int, ItemEvent], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self: _T) -> _T:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _urls_for(self, index: int) -> list[str]:
        return self.urls[index:] + self.urls[:index]

    def _new_session(self, index: int) -> Session:
        name = self.names[index]
        trace = self.trace
        s = Session(
            self._urls_for(index),
            tokens=self.tokens,
            login=self.login,
            ssl_context=self._ssl,
            connect_timeout=self.connect_timeout,
            trace=(lambda k, d: trace(name, k, d)) if trace is not None else None,
            event_hooks=self._hooks_for(index),
            proxy=self.proxy,
            transport=self.transport,
        )
        s.renew_tokens = False
        return s

    def _hooks_for(self, index: int) -> dict[str, list[Callable[..., Any]]] | None:
        """The event hooks of session ``index`` (none here)."""
        return None

    def _started(self, index: int) -> None:
        """Session ``index`` has logged in for the first time."""

    async def start(self) -> None:
        """Start both sessions; raises only if neither could connect."""
        results = await asyncio.gather(
            *(self._start_one(i) for i in (0, 1)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if len(errors) == 2:
            await self.close()
            first = errors[0]
            raise first if isinstance(first, ErtcloudError) else ConnectFailed(str(first))
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                if not isinstance(r, ErtcloudError):
                    raise r
                log.warning("%s could not start (%s); retrying in the background", self.names[i], r)
                self._spawn(self._keep_starting(i))
        if self.tokens is not None and self.tokens.uses_refresh_tokens:
            self._spawn(self.tokens.run(self._on_token)).add_done_callback(self._token_task_done)

    def _token_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if exc is None:
            return
        # Only a refused password ends renewal (transient errors are retried): fatal.
        log.error("token renewal stopped: %s", exc)
        fatal = exc if isinstance(exc, ErtcloudError) else ErtcloudError(str(exc))
        self.fatal = fatal
        for s in self.sessions:
            if s is not None:
                s.fatal = fatal
                s.end(fatal)
        for sub in list(self._specs):
            sub._wakeup.set()

    async def _start_one(self, index: int) -> None:
        s = self._new_session(index)
        await s.start()
        if self._closing:
            await s.close()
            return
        self.sessions[index] = s
        for spec in self._specs.values():
            self._open_on(index, spec)
        self._started(index)

    async def _keep_starting(self, index: int) -> None:
        delays = backoff(initial=1.0, maximum=30.0)
        while not self._closing:
            await asyncio.sleep(next(delays))
            try:
                await self._start_one(index)
                return
            except ErtcloudError as exc:
                log.warning("%s: %s", self.names[index], exc)

    async def _on_token(self, token: Token) -> None:
        for s in self.sessions:
            if s is not None:
                await s.renew_token(token)

    async def close(self) -> None:
        """Close both sessions."""
        self._closing = True
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        for s in self.sessions:
            if s is not None:
                await s.close()
        for sub in list(self._specs):
            sub.closed = True
            sub._wakeup.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    @property
    def recoveries(self) -> int:
        return sum(s.recoveries for s in self.sessions if s is not None)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` (or a fatal error) started ending both sessions."""
        return self._closing or self.fatal is not None

    def _ended(self) -> bool:
        """Closed, or both sessions ended by themselves (one alone is the other's to carry)."""
        if self.closing:
            return True
        return all(s is not None and s.closing for s in self.sessions)

    async def wait_closed(self) -> None:
        """Wait until :meth:`close`, a fatal error, or until both sessions have ended by
        themselves (no reconnect, refused login); raises the error that ended them."""
        while not self._ended():
            live = [s for s in self.sessions if s is not None and not s.closing]
            waits = [asyncio.ensure_future(s.wait_closed()) for s in live]
            # a session not started yet (retried in the background) is looked at again
            waits.append(asyncio.ensure_future(asyncio.sleep(1.0)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
        fatal = self.fatal or next((s.fatal for s in self.sessions if s and s.fatal), None)
        if fatal is not None and not self._closing:
            raise fatal

    def close_items(self, sub: StandbySubscription, names: Sequence[str]) -> None:
        """Close these items of ``sub`` on both sessions (its other items stay open), also
        before their first image came; ``sub`` ends with its last item."""
        spec = self._specs.get(sub)
        if spec is None:
            return
        gone = set(names)
        for i, leg in spec.subs.items():
            session = self.sessions[i]
            streams = [s for n in gone if (s := leg.records.get(n)) is not None]
            if session is not None and streams and not session.closing:
                session.unsubscribe(streams)
        spec.rics = [r for r in spec.rics if r not in gone]
        sub._dropped |= gone  # what either session still sends of them is not passed on
        for n in gone:
            rec = sub.records.pop(n, None)
            if rec is not None and rec.is_open:
                rec.mark_closed()
        if not spec.rics:
            del self._specs[sub]
            sub.closed = True
            sub._wakeup.set()

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        rics: str | Sequence[str],
        *,
        on_refresh: Callback | None = None,
        on_update: Callback | None = None,
        on_status: Callback | None = None,
        queue: bool | None = None,
        **kwargs: Any,
    ) -> StandbySubscription:
        """Open items on both sessions (same options as :meth:`Session.subscribe`); the
        result yields each update once."""
        if self._closing:
            raise SessionClosed(f"{self.kind} is closed")
        if queue is None:
            queue = on_refresh is None and on_update is None and on_status is None
        sub = StandbySubscription(
            self, on_refresh=on_refresh, on_update=on_update, on_status=on_status, queue=queue
        )
        names = [rics] if isinstance(rics, str) else list(rics)
        spec = _Spec(names, kwargs)
        self._specs[sub] = spec
        for i in (0, 1):
            if self.sessions[i] is not None:
                self._open_on(i, spec)
        return sub

    def _spec_of(self, sub: StandbySubscription) -> _Spec:
        return self._specs.get(sub) or _Spec([], {})

    def _open_on(self, index: int, spec: _Spec) -> None:
        session = self.sessions[index]
        assert session is not None
        merged = next(s for s, sp in self._specs.items() if sp is spec)

        def deliver(ev: ItemEvent) -> None:
            self._merge(index, merged, ev)

        spec.subs[index] = session.subscribe(
            spec.rics,
            on_refresh=deliver,
            on_update=deliver,
            on_status=deliver,
            queue=False,
            **spec.kwargs,
        )

    def _others_healthy(self, index: int, name: str, sub: StandbySubscription) -> bool:
        spec = self._specs.get(sub)
        if spec is None:
            return False
        for i, other in spec.subs.items():
            if i == index:
                continue
            s = other.records.get(name)
            if s is not None and s.is_open and s.data_ok:
                return True
        return False

    def _merge(self, index: int, sub: StandbySubscription, ev: ItemEvent) -> None:
        """Pass on an event of session ``index``, or drop it."""
        raise NotImplementedError

    def _merge_state(self, index: int, sub: StandbySubscription, ev: ItemEvent) -> None:
        """An ItemStatus or StreamClosed: passed on unless the other session still
        carries the item."""
        name = ev.stream.name
        if name in sub._dropped:
            return
        rec = sub.records.get(name)
        if isinstance(ev, ItemStatus):
            if rec is None or self._others_healthy(index, name, sub):
                return
            rec.apply_status(ev.message)
            sub._emit(ItemStatus(rec, ev.message))
        elif isinstance(ev, StreamClosed):
            if ev.state.stream == "ClosedRecover" or self._others_healthy(index, name, sub):
                return  # the session re-requests it / the other one carries it
            spec = self._specs.get(sub)
            if spec is not None and any(
                (o := other.records.get(name)) is not None and o.is_open
                for i, other in spec.subs.items()
                if i != index
            ):
                return
            self._emit_closed(sub, ev)

    @staticmethod
    def _emit_closed(sub: StandbySubscription, ev: StreamClosed) -> None:
        """Close the merged record of ``ev``'s item and pass the event on."""
        rec = sub.records.get(ev.stream.name)
        if rec is None:
            s = ev.stream
            rec = ItemStream(0, s.request, s.name, s.domain, s.service)
            sub.records[s.name] = rec
        if rec.is_open:
            rec.state = ev.state
            rec.mark_closed()
        sub._emit(StreamClosed(rec, ev.state))


class HotStandby(StandbyBase):
    """Two :class:`Session` objects on two endpoints with the same items; use ``async with``.

    ``urls`` are the endpoints, best first: session 1 starts on the first, session 2 on
    the second, and each fails over through the others. If one cannot connect at start,
    the other carries on and the first keeps being retried in the background."""

    kind = "hot standby"

    def _merge(self, index: int, sub: StandbySubscription, ev: ItemEvent) -> None:
        """Updates by SeqNumber, each once; Refreshes unless older than the image."""
        if self.on_raw is not None:
            self.on_raw(index, ev)
        if sub.closed:
            return
        name = ev.stream.name
        rec = sub.records.get(name)
        if isinstance(ev, ItemUpdated):
            seq = ev.message.seq_number
            if rec is None or not rec.refreshes:
                return  # no image yet: the coming Refresh carries this change
            if (
                seq is not None
                and rec.seq_number is not None
                and not seq_newer(seq, rec.seq_number)
            ):
                sub.duplicates += 1
                return
            rec.apply_update(ev.message)
            sub._emit(ItemUpdated(rec, ev.message))
        elif isinstance(ev, ItemRefreshed):
            seq = ev.message.seq_number
            if (
                rec is not None
                and rec.refreshes
                and rec.is_open
                and seq is not None
                and rec.seq_number is not None
                and not seq_newer(seq, rec.seq_number)
            ):
                sub.duplicates += 1
                return
            if rec is None and name in sub._dropped:
                return
            if rec is None or not rec.is_open:
                s = ev.stream
                rec = ItemStream(0, s.request, s.name, s.domain, s.service)
                sub.records[name] = rec
            rec.apply_refresh(ev.message)
            sub._emit(ItemRefreshed(rec, ev.message))
        else:
            self._merge_state(index, sub, ev)
