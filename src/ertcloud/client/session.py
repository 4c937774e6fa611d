"""The asyncio session: one WebSocket to the streaming service, kept alive.

It drives :class:`ertcloud.protocol.client.ClientProtocol` over a
:class:`~ertcloud.client.transport.Transport` (picows where it is installed, else aiohttp):
authenticates through a :class:`~ertcloud.auth.manager.TokenManager`, connects, logs in,
reissues the token on the open login stream before it expires, answers Pings, and on any loss
of the connection reconnects at once, then with bounded jittered back-off (rotating through the
endpoints it was given; see :mod:`ertcloud.client.reconnect`), logs in again and re-opens
every stream with its original request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import aiohttp

from ..auth.grants import Token
from ..auth.manager import TokenManager
from ..exceptions import (
    ConfigError,
    ConnectFailed,
    ConnectionLost,
    ErtcloudError,
    InvalidCredentials,
    LimitExceeded,
    LoginRejected,
    PostRejected,
    SessionClosed,
    one_line,
)
from ..protocol.client import ClientProtocol
from ..protocol.dictionary import Dictionary
from ..protocol.events import (
    AckReceived,
    ConnectionDead,
    Event,
    GenericReceived,
    ItemRefreshed,
    ItemStatus,
    ItemUpdated,
    LoginAccepted,
    LoginClosed,
    LoginDenied,
    ProtocolViolation,
    StreamClosed,
)
from ..protocol.fields import post_problem
from ..protocol.login import LoginParams
from ..protocol.messages import Ack, Generic, Key, PostUserInfo, Priority, Qos
from ..protocol.streams import MAX_FIELDS_PER_IMAGE, MAX_MAP_ENTRIES, ItemStream
from ..proxy import ProxySetting, resolve_proxy
from ..tracing import Trace
from .deadline import within
from .dictionary import DictionarySource, SessionDictionary
from .gc_policy import DEFAULT_MIN_IMAGES, HeapFreezer
from .integrity import (
    Difference,
    IntegrityEvent,
    IntegrityMonitor,
    VerifyReport,
    compare_images,
)
from .limits import DEFAULT_MAX_STREAMS, BreachPenalty, message_size_limit
from .reconnect import ReconnectDelays
from .subscription import Overflow, Subscription
from .subscription_base import Callback
from .transport import Connection, ConnectOptions, Transport, pick_transport
from .transport_aiohttp import AiohttpTransport

__all__ = ["HOOK_KINDS", "SUBPROTOCOLS", "Session", "Trace"]

log = logging.getLogger("ertcloud.client")

SUBPROTOCOLS = ("tr_json2", "rssl.json.v2")

#: The kinds of ``Session(event_hooks=...)`` and what each hook is called with:
#: "event" (core event), "trace" (kind, detail), "recovered" (session),
#: "disconnected" (session, reason), "integrity" (integrity event).
HOOK_KINDS = ("event", "trace", "recovered", "disconnected", "integrity")


class Session:
    """A consumer session with the streaming service. Use ``async with``.

    Limits on what the server may send (a breach is a :class:`ProtocolViolation` event with
    its ``limit``, then a reconnect that re-requests every stream, after a wait that grows
    with consecutive breaches): ``max_message_size`` bytes per message, fragments included
    (default: 16 x the MaxMsgSize of the last Login Refresh, at least 4 MiB and at most
    64 MiB; 4 MiB before any login; see :mod:`ertcloud.client.limits`);
    ``max_fields_per_image`` fields in one item's image, a Map's summary or one Map entry
    (default 10,000); ``max_map_entries`` entries in one Map image (default 200,000).
    ``max_streams`` caps the item streams of the session (default 1,000,000): a subscribe
    past it raises :class:`~ertcloud.exceptions.LimitExceeded`.

    Hooks: ``event_hooks={"event": [...], "trace": [...], "recovered": [...],
    "disconnected": [...], "integrity": [...]}`` (see :data:`HOOK_KINDS`); the keyword
    arguments ``on_event``, ``trace``, ``on_recovered``, ``on_disconnected`` and
    ``on_integrity`` are shorthands for one hook of that kind.

    Login: with ``tokens`` (a :class:`~ertcloud.auth.manager.TokenManager`), the cloud's
    Login by token, renewed before it expires. Without ``tokens``, the deployed-ADS Login
    by user name, with no token: ``Session("ws://ads:15000/WebSocket",
    login=LoginParams(user="root", position="10.0.0.7"))`` (``LoginParams.user`` is the
    DACS user name; ``ertcloud.connect(url, user=...)`` with no token URL does the same).

    ``transport``: the WebSocket library, "auto" (the default: picows, the faster data path,
    where it is installed, else aiohttp; aiohttp also when ``compression`` or ``http`` is
    given, which only it uses), "picows", "aiohttp", or a
    :class:`~ertcloud.client.transport.Transport` object. ``transport_name`` says which.

    ``proxy``: the HTTP proxy of the WebSocket and (unless its client has its own) of the
    token endpoint: a URL, ``False`` for none, or None for the process default / the
    environment (see :mod:`ertcloud.proxy`).

    ``gc_freeze``: after a burst of at least this many images, move the heap out of the
    cyclic collector's reach (:func:`gc.freeze`), so that no full collection walks it while
    Updates stream (see :mod:`ertcloud.client.gc_policy`); None: leave the collector alone."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        tokens: TokenManager | None = None,
        login: LoginParams | None = None,
        ssl_context: ssl.SSLContext | bool | None = None,
        reconnect: bool = True,
        connect_timeout: float = 10.0,
        trace: Trace | None = None,
        on_event: Callable[[Event], None] | None = None,
        http: aiohttp.ClientSession | None = None,
        on_recovered: Callable[[Session], None] | None = None,
        stale_after: float | None = None,
        on_integrity: Callable[[IntegrityEvent], None] | None = None,
        transport: str | Transport = "auto",
        compression: bool = False,
        max_message_size: int | None = None,
        max_fields_per_image: int = MAX_FIELDS_PER_IMAGE,
        max_map_entries: int = MAX_MAP_ENTRIES,
        max_streams: int = DEFAULT_MAX_STREAMS,
        give_up_after: float | None = None,
        on_disconnected: Callable[[Session, str], None] | None = None,
        event_hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        dictionary: DictionarySource | None = None,
        dictionary_cache: str | os.PathLike[str] | None = None,
        proxy: ProxySetting = None,
        gc_freeze: int | None = DEFAULT_MIN_IMAGES,
    ) -> None:
        hooks = _hooks(
            event_hooks,
            event=on_event,
            trace=trace,
            recovered=on_recovered,
            disconnected=on_disconnected,
            integrity=on_integrity,
        )
        #: the hooks by kind (see :data:`HOOK_KINDS`)
        self.event_hooks = hooks
        trace = _fan_out(hooks["trace"])
        on_event = _fan_out(hooks["event"])
        on_recovered = _fan_out(hooks["recovered"])
        on_disconnected = _fan_out(hooks["disconnected"])
        on_integrity = _fan_out(hooks["integrity"])
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        #: "picows" or "aiohttp": what ``transport`` picked ("auto", the default: picows
        #: when it is installed, unless ``compression`` or ``http`` asks for aiohttp; see
        #: :func:`~ertcloud.client.transport.pick_transport`). Any
        #: :class:`~ertcloud.client.transport.Transport` object may be given instead (its
        #: class name is the name then).
        self._transport: Transport | None = None
        if isinstance(transport, str):
            only = _aiohttp_only(compression, http)
            self.transport_name = pick_transport(transport, aiohttp_only=only)
        else:
            self.transport_name = type(transport).__name__
            self._transport = transport
        #: offer permessage-deflate (aiohttp transport); worth it on slow links only
        self.compression = compression
        if not self.urls:
            raise ConfigError("no WebSocket URL given")
        self.tokens = tokens
        #: the proxy of the WebSocket, and of the token endpoint unless its client has one
        #: (see :mod:`ertcloud.proxy`: None is the process default, else the environment)
        self.proxy = proxy
        if proxy is not None and tokens is not None and tokens.client.proxy is None:
            tokens.client.proxy = proxy
        self.protocol = ClientProtocol(login)
        for name, value in (
            ("max_message_size", max_message_size or 1),
            ("max_fields_per_image", max_fields_per_image),
            ("max_map_entries", max_map_entries),
            ("max_streams", max_streams),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self._max_message_size = max_message_size
        self.protocol.streams.max_fields = max_fields_per_image
        self.protocol.streams.max_map_entries = max_map_entries
        self.max_streams = max_streams
        #: breaches of a limit since the session started
        self.limit_breaches = 0
        self._penalty = BreachPenalty()
        self._conn_limit = self.max_message_size  # the limit of the current connection
        self._ssl = ssl_context
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.trace = trace
        self.on_event = on_event
        self._http = http
        self._own_http = http is None
        self._ws: Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._posts: dict[int, asyncio.Future[Ack]] = {}
        self._subs: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self.on_generic: Callable[[Generic], None] | None = None
        self._logged_in = asyncio.Event()
        self._login_failure: ErtcloudError | None = None
        self._closing = False
        self._shut_down = False
        self._recover_attempts: dict[tuple[str, str], tuple[int, float]] = {}
        #: first wait after a login refused as "Already pending login" (then doubling)
        self.throttled_delay = 60.0
        self._closed = asyncio.Event()
        self._url_index = 0
        self.url: str | None = None
        self.connects = 0
        self.reconnects = 0
        #: recoveries after a lost connection (also reported by ``on_recovered``)
        self.recoveries = 0
        self.on_recovered = on_recovered
        #: run the token renewal loop (off when a HotStandby renews for both sessions)
        self.renew_tokens = True
        self._login_token: str | None = None
        self.fatal: ErtcloudError | None = None
        #: sequence-gap and staleness checks (see :mod:`ertcloud.client.integrity`)
        self.integrity = IntegrityMonitor(stale_after=stale_after, on_event=on_integrity)
        self._blocked: set[Subscription] = set()
        #: end the session (``fatal``: ConnectionLost) after this many seconds of failed
        #: reconnect attempts; None: keep trying
        self.give_up_after = give_up_after
        #: ``on_disconnected(session, reason)``: the connection is lost, reconnecting
        self.on_disconnected = on_disconnected
        #: the delays between reconnect attempts (fast at first, then growing)
        self.reconnect_delays = ReconnectDelays()
        #: the collector policy (None: ``gc_freeze=None``)
        self.gc = HeapFreezer(gc_freeze) if gc_freeze is not None else None
        self._up_since: float | None = None  # when the current connection logged in
        #: the field dictionary: downloaded at login ("download", the default unless
        #: $ERTCLOUD_DICTIONARY says otherwise), "builtin", or a file
        self.dictionaries = SessionDictionary(self, dictionary, dictionary_cache)

    @property
    def max_message_size(self) -> int:
        """The largest message (bytes, all fragments) accepted on the next connection."""
        if self._max_message_size is not None:
            return self._max_message_size
        return message_size_limit(self.protocol.login.max_msg_size)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and log in; raises :class:`~ertcloud.exceptions.ConnectFailed` /
        :class:`LoginRejected` /
        an :class:`~ertcloud.exceptions.AuthenticationError` if that first attempt fails."""
        if self._transport is None:
            if self._http is None:
                self._http = aiohttp.ClientSession()  # the proxy: resolve_proxy, per connection
            self._transport = self._builtin_transport()
        try:
            await self._first_connect()
        except BaseException:
            await self._shutdown()
            raise
        self._tasks.append(asyncio.create_task(self._run(), name="ertcloud-session"))
        self.dictionaries.start()
        if self.tokens is not None and self.tokens.uses_refresh_tokens and self.renew_tokens:
            task = asyncio.create_task(self.tokens.run(self.renew_token), name="ertcloud-token")
            task.add_done_callback(self._token_task_done)
            self._tasks.append(task)
        if self.integrity.stale_after is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.integrity.watch(lambda: self.protocol.streams), name="ertcloud-stale"
                )
            )

    async def close(self) -> None:
        """Log out, close the WebSocket and stop every task."""
        if self._closing:
            if not self._shut_down:
                await self._shutdown()  # it ended by itself: release what it still holds
            return
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed and self.protocol.login.is_open:
            self.protocol.logout()
            try:
                await self._flush()
            except Exception as exc:  # best effort: the connection may be broken already
                log.debug("logout not sent: %s", one_line(exc))
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        self._shut_down = True
        if self.gc is not None:
            self.gc.release()
        current = asyncio.current_task()
        pending = [t for t in (*self._tasks, *self._background) if t is not current]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self._close_ws()
            self._end_subscriptions()
        finally:
            try:
                if self._transport is not None:
                    await self._transport.aclose()
                if self._own_http and self._http is not None:
                    http, self._http = self._http, None
                    await http.close()
            finally:
                if self.tokens is not None:
                    await self.tokens.client.close()
                self._closed.set()

    async def _close_ws(self) -> None:
        """Close the WebSocket; a transport error at this point is of no interest."""
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.close()
        except Exception as exc:
            log.debug("closing the WebSocket: %s", one_line(exc))

    async def wait_closed(self) -> None:
        """Wait until the session ends (closed by the user, or a fatal error)."""
        await self._closed.wait()
        if self.fatal is not None:
            raise self.fatal

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        rics: str | Sequence[str],
        *,
        fields: Sequence[str | int] | None = None,
        domain: str = "MarketPrice",
        service: str | int | None = None,
        snapshot: bool = False,
        private: bool = False,
        qos: Qos | None = None,
        priority: Priority | None = None,
        batch: bool = True,
        on_refresh: Callback | None = None,
        on_update: Callback | None = None,
        on_status: Callback | None = None,
        queue: bool | None = None,
        overflow: Overflow = "conflate",
        max_queue: int = 10_000,
    ) -> Subscription:
        """Request items; returns a :class:`Subscription` (async iterator of events).

        Several RICs go out as batch requests; ``fields`` makes a view (names or FIDs);
        ``snapshot`` asks for one image and no updates. The event queue holds ``max_queue``
        events; ``overflow`` says what happens past that: ``"conflate"`` (merge updates per
        item), ``"block"`` (stop reading the socket) or ``"drop_oldest"``."""
        if self._closing:
            raise SessionClosed("session is closed")
        if queue is None:
            queue = on_refresh is None and on_update is None and on_status is None
        wanted = len(self.protocol.streams) + (1 if isinstance(rics, str) else len(rics))
        if wanted > self.max_streams:
            raise LimitExceeded(
                f"subscribing would open {wanted} streams: more than max_streams "
                f"({self.max_streams})",
                limit=self.max_streams,
            )
        sub = Subscription(
            self,
            on_refresh=on_refresh,
            on_update=on_update,
            on_status=on_status,
            queue=queue,
            overflow=overflow,
            max_queue=max_queue,
        )
        streams = self.protocol.request(
            rics,
            domain=domain,
            service=service,
            view=fields,
            streaming=not snapshot,
            private=private,
            qos=qos,
            priority=priority,
            batch=batch,
        )
        sub._attach(streams)
        self._subs.add(sub)
        self._kick()
        return sub

    def unsubscribe(self, streams: Sequence[ItemStream]) -> None:
        """Close these item streams (a :class:`Subscription` closes its own with
        :meth:`Subscription.close`)."""
        self.protocol.close(streams)
        for s in streams:
            self.integrity.forget(s)
        self._kick()

    async def _wait_consumers(self) -> None:
        """Back-pressure: hold the reader until every blocking subscription has room."""
        while self._blocked:
            sub = self._blocked.pop()
            await sub.wait_room()

    async def verify(
        self, target: ItemStream | Subscription, *, timeout: float = 10.0, attempts: int = 3
    ) -> list[VerifyReport]:
        """Compare cached images with fresh snapshots from the server, one report per item.

        The snapshot is taken on this connection, so it follows every update sent before
        it; a difference seen at that instant is retried (an update racing the snapshot in
        the same frame) up to ``attempts`` times before it is reported."""
        streams = target.streams if isinstance(target, Subscription) else [target]
        reports: list[VerifyReport] = []
        for stream in streams:
            reports.append(await self._verify_one(stream, timeout, attempts))
        return reports

    async def _verify_one(self, stream: ItemStream, timeout: float, attempts: int) -> VerifyReport:
        if stream.map is not None:
            return VerifyReport(stream.name, False, error="only field-list items can be verified")
        diffs: tuple[Difference, ...] = ()
        for _ in range(max(1, attempts)):
            try:
                diffs = await self._snapshot_diff(stream, timeout)
            except (asyncio.TimeoutError, ErtcloudError) as exc:
                why = str(exc) or "no snapshot within the timeout"
                return VerifyReport(stream.name, False, error=why)
            if not diffs:
                return VerifyReport(stream.name, True)
        return VerifyReport(stream.name, False, diffs)

    async def _snapshot_diff(self, stream: ItemStream, timeout: float) -> tuple[Difference, ...]:
        """Request a snapshot of ``stream``'s item; compare it with the cache on arrival."""
        done: asyncio.Future[tuple[Difference, ...]] = asyncio.get_running_loop().create_future()

        def compare(ev: ItemRefreshed) -> None:
            if not done.done():
                done.set_result(compare_images(stream.fields, dict(ev.message.fields or {})))

        def status(ev: Any) -> None:
            if isinstance(ev, (ItemStatus, StreamClosed)) and not done.done():
                st = ev.stream.state
                text = st.text if st is not None and st.text else "stream closed"
                done.set_exception(ErtcloudError(f"snapshot refused: {text}"))

        snap = self.subscribe(
            stream.name,
            fields=stream.request.view,
            domain=stream.domain,
            service=stream.service,
            snapshot=True,
            on_refresh=compare,
            on_status=status,
        )
        try:
            return await within(done, timeout, f"snapshot of {stream.name}: no image")
        finally:
            await snap.close()

    async def post(
        self,
        target: ItemStream | str,
        fields: dict[str, Any],
        *,
        message_type: str = "Update",
        service: str | int | None = None,
        ack: bool = True,
        user_info: PostUserInfo | None = None,
        timeout: float = 10.0,
    ) -> Ack | None:
        """Contribute ``fields`` to an item: on-stream into an open :class:`ItemStream`, or
        off-stream (through the login stream) to the item named ``target``.

        With ``ack`` (the default) waits for the Ack and returns it, raising
        :class:`PostRejected` on a Nack; without, returns ``None`` once sent."""
        await self._check_post(target, fields, timeout)
        if isinstance(target, ItemStream):
            stream_id, key, domain = target.id, None, target.domain
        else:
            stream_id, key, domain = self.protocol.login.id, Key(name=target, service=service), None
        message: dict[str, Any] = {"ID": 0, "Type": message_type, "Fields": fields}
        if domain and domain != "MarketPrice":
            message["Domain"] = domain
        if message_type == "Refresh":
            message["Solicited"] = False
            message["State"] = {"Stream": "Open", "Data": "Ok"}
        post_id = self.protocol.post(
            stream_id, message, ack=ack, key=key, domain=domain, user_info=user_info
        )
        fut: asyncio.Future[Ack] | None = None
        try:
            if ack:
                fut = asyncio.get_running_loop().create_future()
                self._posts[post_id] = fut
            try:
                await self._flush()
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                raise ConnectionLost(f"post {post_id} not sent: {one_line(exc)}") from None
            if fut is None:
                return None
            result = await within(fut, timeout, f"post {post_id}: no Ack")
        finally:
            self._posts.pop(post_id, None)
        if result.nak_code:
            raise PostRejected(
                f"post {post_id} refused: {result.nak_code} {result.text or ''}".rstrip(),
                nak_code=result.nak_code,
            )
        return result

    async def _check_post(
        self, target: ItemStream | str, fields: Mapping[str, Any], timeout: float
    ) -> None:
        """Refuse fields the dictionary in use does not know, or values their type cannot
        take; a field unknown to the builtin table waits for a download under way."""
        problem = post_problem(fields, self.dictionary)
        if problem is not None:
            try:
                d = await asyncio.wait_for(self.dictionaries.ready(), timeout)
            except asyncio.TimeoutError:
                d = self.dictionary
            problem = post_problem(fields, d)
        if problem is not None:
            name = target.name if isinstance(target, ItemStream) else target
            raise ConfigError(f"post to {name} refused: {problem}")

    def send_generic(
        self,
        stream_id: int,
        *,
        domain: str | int | None = None,
        name: str | None = None,
        elements: dict[str, Any] | None = None,
    ) -> None:
        """Send a Generic message on a stream (custom domains, e.g. echo services)."""
        key = Key(name=name) if name is not None else None
        self.protocol.send_generic(Generic(id=stream_id, domain=domain, key=key, elements=elements))
        self._kick()

    @property
    def dictionary(self) -> Dictionary:
        """The field dictionary in use (the builtin table until a download is done)."""
        return self.dictionaries.current

    @property
    def streams(self) -> list[ItemStream]:
        return list(self.protocol.streams)

    def snapshot(self, kind: str = "pandas", *, raw: bool = False) -> Any:
        """The latest image of every open item as a DataFrame: one row per item (index
        ``ric``), one column per field, plus ``state`` and ``updates``. ``kind`` is
        ``"pandas"`` (the ``pandas`` extra) or ``"polars"`` (if installed). Values are
        typed by :attr:`dictionary` (``raw=True``: the JSON values as received)."""
        from ..sinks.frames import records_frame

        return records_frame(
            [s for s in self.protocol.streams if s.domain == "MarketPrice"],
            kind=kind,
            dictionary=None if raw else self.dictionary,
        )

    async def chain(self, name: str, *, service: str | int | None = None) -> list[str]:
        """The constituents of chain ``name`` (``0#.DJI``); see :mod:`ertcloud.chains`."""
        from ..chains import fetch_chain

        return await fetch_chain(self, name, service=service)

    async def subscribe_chain(self, name: str, *, fields: Sequence[str | int] | None = None) -> Any:
        """Stream the constituents of chain ``name``; a ``ChainSubscription`` that also
        yields ``ChainChanged`` when the chain changes."""
        from ..chains import subscribe_chain

        return await subscribe_chain(self, name, fields=fields)

    def bars(self, rics: str | Sequence[str], interval: float | str) -> Any:
        """Live OHLC bars: an async iterator of ``(ric, Bar)``; see :mod:`ertcloud.bars`."""
        from .live import stream_bars

        return stream_bars(self, rics, interval)

    def news(self, item: str = "MRN_STORY") -> Any:
        """Live MRN stories: an async iterator of ``NewsStory`` / ``BrokenStory``."""
        from .live import stream_news

        return stream_news(self, item)

    # -- I/O -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def flush_soon(self) -> None:
        """Write what the protocol core has queued, in the background."""
        if self._ws is not None and not self._ws.closed:
            self._spawn(self._flush_safely())

    _kick = flush_soon

    async def _flush_safely(self) -> None:
        try:
            await self._flush()
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            log.debug("write failed: %s", exc)

    async def _flush(self) -> None:
        ws = self._ws
        frames = self.protocol.data_to_send(time.monotonic())
        if ws is None or not frames:
            return
        for f in frames:
            if self.trace:
                self.trace("sent", f)
            await ws.send(f)

    def _current_url(self) -> str:
        return self.urls[self._url_index % len(self.urls)]

    def _rotate(self) -> None:
        """Move on to the next endpoint of the list (after a failed attempt)."""
        self._url_index += 1

    async def _first_connect(self) -> None:
        """Try each endpoint once, in order; the last failure is raised. A refused login
        or authentication is not an endpoint problem and is raised at once."""
        for n in range(len(self.urls)):
            try:
                await self._connect_and_login()
                log.info("connected to %s over %s", self.url, self.transport_name)
                return
            except (ConnectFailed, asyncio.TimeoutError) as exc:
                if n == len(self.urls) - 1:
                    if isinstance(exc, asyncio.TimeoutError):
                        raise ConnectFailed(
                            f"cannot connect to {self._current_url()}: timed out"
                        ) from None
                    raise
                log.warning("%s; trying the next endpoint", exc)
                self._rotate()

    def _builtin_transport(self) -> Transport:
        if self.transport_name == "picows":
            from .transport_picows import PicowsTransport

            return PicowsTransport()
        return AiohttpTransport(self._http)

    async def _open_ws(self, url: str) -> Connection:
        assert self._transport is not None
        if self.trace:
            self.trace("connecting", url)
        self._conn_limit = self.max_message_size
        options = ConnectOptions(
            protocols=SUBPROTOCOLS,
            max_message_size=self._conn_limit,
            ssl=self._ssl,
            headers={"User-Agent": "ertcloud"},
            timeout=self.connect_timeout,
            compression=self.compression,
            proxy=resolve_proxy(url, self.proxy),
        )
        ws = await self._transport.connect(url, options)
        if ws.subprotocol not in SUBPROTOCOLS:
            await ws.close()
            raise ConnectFailed(f"{url} did not accept the tr_json2 sub-protocol")
        if self.trace:
            self.trace("connected", url)
        return ws

    async def _connect_and_login(self) -> None:
        url = self._current_url()
        token = await self.tokens.get() if self.tokens is not None else None
        self._login_token = token.access_token if token is not None else None
        ws = await asyncio.wait_for(self._open_ws(url), self.connect_timeout)
        self._ws = ws
        self.url = url
        self.connects += 1
        self._logged_in.clear()
        self._login_failure = None
        self.protocol.connection_made(time.monotonic())
        self.protocol.start_login(token.access_token if token is not None else None)
        try:
            await self._flush()
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
            await ws.close()
            raise ConnectFailed(
                f"{url} closed the connection during login: {one_line(exc)}"
            ) from None
        reader = asyncio.create_task(self._read(ws))
        waiter = asyncio.create_task(self._logged_in.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, waiter}, timeout=self.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if self._login_failure is not None:
            reader.cancel()
            await ws.close()
            raise self._login_failure
        if not self._logged_in.is_set():
            reader.cancel()
            await ws.close()
            if reader in done:
                raise ConnectFailed(f"{url} closed the connection during login")
            raise ConnectFailed(f"no Login response from {url} within {self.connect_timeout:g} s")
        self._reader = reader
        self._up_since = time.monotonic()

    async def _read(self, ws: Connection) -> None:
        """The one read path: the connection pushes each message to a synchronous
        callback, which feeds the protocol core and dispatches the events."""
        try:
            await self._read_frames(ws)
        except LimitExceeded as exc:
            await self._limit_breached(ws, exc)

    async def _read_frames(self, ws: Connection) -> None:
        proto = self.protocol
        receive = proto.receive
        dispatch = self._dispatch
        trace = self.trace
        monotonic = time.monotonic
        blocked = self._blocked
        holding: list[asyncio.Task[None]] = []

        async def hold() -> None:
            try:
                await self._wait_consumers()
            finally:
                holding.clear()
                ws.resume_reading()

        def on_frame(data: bytes | memoryview) -> None:
            # Per frame only what a frame of Updates needs: they were delivered inside
            # receive(). The core queues output (a Pong, the requests a Login releases) only
            # with an event; the timer flushes anything else within a second.
            if trace is not None:
                trace("received", bytes(data))
            events = receive(data, monotonic())
            if events or blocked:
                after(events)

        def after(events: list[Event]) -> None:
            if events:
                dispatch(events)
                if proto.has_data_to_send:
                    self._kick()
            if blocked and not holding:
                # Back-pressure: stop reading until every blocking subscription has room.
                ws.pause_reading()
                holding.append(asyncio.ensure_future(hold()))

        direct = getattr(ws, "receive_directly", None)
        if direct is not None:
            direct(receive, blocked, after, trace)  # on_frame's steps, by a compiled listener
        timer = asyncio.create_task(self._timer(ws))
        try:
            await ws.run(on_frame)
        finally:
            timer.cancel()
            for task in holding:
                task.cancel()

    async def _limit_breached(self, ws: Connection, exc: LimitExceeded) -> None:
        """Report a breach, drop the connection, and hold the reconnect back a while: a
        server that repeats the offending message after each login is not hammered."""
        self.limit_breaches += 1
        delay = self._penalty.next_delay()
        log.warning("%s: dropping the connection (reconnect in %.1f s)", exc, delay)
        self._dispatch([ProtocolViolation(str(exc), limit=exc.limit)])
        await ws.close()
        if self._logged_in.is_set() and self.reconnect and not self._closing:
            await asyncio.sleep(delay)

    async def _timer(self, ws: Connection) -> None:
        proto = self.protocol
        while not ws.closed:
            delay = proto.next_deadline() - time.monotonic()
            # At most 1 s: the deadline moves when the Login Refresh sets PingTimeout.
            await asyncio.sleep(min(1.0, max(0.05, delay)))
            events = proto.tick(time.monotonic())
            if self.gc is not None:
                self.gc.tick()
            for ev in events:
                if isinstance(ev, ConnectionDead):
                    log.warning("no traffic for %.1f s: connection presumed dead", ev.silence)
                    if self.trace:
                        self.trace("event", ev)
                    await ws.close()
                    return
            await self._flush_safely()

    def _dispatch(self, events: list[Event]) -> None:
        on_event = self.on_event
        for ev in events:
            t = type(ev)
            if t is ItemUpdated:
                sub = ev.stream.owner  # type: ignore[union-attr]
                if sub is not None:
                    sub.deliver_update(ev)  # type: ignore[arg-type]  # integrity checks and on_event too
                    continue
                self.integrity.observe(ev)  # type: ignore[arg-type]
            elif t is ItemRefreshed or t is ItemStatus or t is StreamClosed:
                if t is ItemRefreshed and self.gc is not None:
                    self.gc.images += 1
                sub = ev.stream.owner  # type: ignore[union-attr]
                if sub is not None:
                    sub.deliver(ev)  # type: ignore[arg-type]
                self.integrity.observe(ev)  # type: ignore[arg-type]
                if t is StreamClosed:
                    self._on_stream_closed(ev)  # type: ignore[arg-type]
            elif isinstance(ev, AckReceived):
                fut = self._posts.get(ev.message.ack_id)
                if fut is not None and not fut.done():
                    fut.set_result(ev.message)
            elif isinstance(ev, GenericReceived):
                if self.on_generic is not None:
                    _call_user(self.on_generic, ev.message, "on_generic")
            elif t is LoginAccepted:
                self._logged_in.set()
            elif t is LoginDenied or t is LoginClosed:
                st: Any = ev.state  # type: ignore[union-attr]
                text = st.text or f"{st.stream}/{st.data}"
                self._login_failure = LoginRejected(
                    f"login rejected by the server: {text}", code=st.code
                )
                self._logged_in.set()  # wakes a pending login wait
                if self._ws is not None:
                    self._spawn(self._ws.close())
            if on_event is not None:
                _call_user(on_event, ev, "on_event")

    def _on_stream_closed(self, ev: StreamClosed) -> None:
        if ev.state.stream == "ClosedRecover" and not self._closing:
            self._spawn(self._recover_stream(ev.stream))

    async def _recover_stream(self, stream: ItemStream) -> None:
        # Back off per item: 1 s, 2 s, 4 s ... up to 60 s while it keeps being closed.
        key = (stream.domain, stream.name)
        now = time.monotonic()
        attempts, last = self._recover_attempts.get(key, (0, 0.0))
        if now - last > 120.0:
            attempts = 0
        self._recover_attempts[key] = (attempts + 1, now)
        await asyncio.sleep(min(60.0, 2.0**attempts) * (0.75 + 0.25 * random.random()))
        sub = stream.owner
        if self._closing or (isinstance(sub, Subscription) and sub.closed):
            return
        new = self.protocol.rerequest(stream)
        if isinstance(sub, Subscription):
            sub._replace(stream, new)
        self._kick()

    async def renew_token(self, token: Token) -> None:
        """Send a renewed access token to the server on the open login stream (done by the
        session itself unless ``renew_tokens`` is off, e.g. under a hot standby)."""
        if self.trace:
            self.trace("token", token)
        self.protocol.reissue_token(token.access_token)
        self._login_token = token.access_token
        await self._flush_safely()

    async def _run(self) -> None:
        """Watch the connection; reconnect and re-login when it goes."""
        try:
            await self._supervise()
        except Exception as exc:  # a bug of ours: end the session visibly, not silently
            log.exception("session supervisor failed")
            self.fatal = self.fatal or ErtcloudError(f"session failed: {one_line(exc)}")
            await self._end()

    async def _supervise(self) -> None:
        delays = self.reconnect_delays
        while not self._closing:
            reader = self._reader
            try:
                if reader is not None:
                    await reader
            except asyncio.CancelledError:
                if self._closing:
                    return
            except Exception as exc:
                log.warning("reader failed: %s", exc)
            self.protocol.connection_lost()
            self._fail_posts(ConnectionLost, "connection lost before the Ack of post {}")
            reason = self._login_failure or "connection closed"
            if self.trace:
                self.trace("closed", str(reason))
            if self._closing:
                return
            if not self.reconnect:
                if self._login_failure is not None:
                    self.fatal = self._login_failure
                await self._end()
                return
            delays.lost(time.monotonic(), self._up_since)
            self._up_since = None
            self._notify_disconnected(str(reason))
            failure = self._login_failure
            if isinstance(failure, LoginRejected) and failure.code != "UsageError":
                self._drop_refused_token()
            if not await self._reconnect(delays):
                return

    async def _reconnect(self, delays: ReconnectDelays) -> bool:
        """Try until logged in again (True), or until the session ends (False)."""
        retry_now = False
        report_after = 10.0  # say so when the outage lasts: after 10 s, 20 s, 40 s ...
        while not self._closing:
            immediate, retry_now = retry_now, False
            delay = 0.0 if immediate else delays.next_delay(time.monotonic())
            if self.trace:
                self.trace("reconnecting", delay)
            await asyncio.sleep(delay)
            try:
                await self._connect_and_login()
            except InvalidCredentials as exc:
                # The gateway refuses the credentials themselves: retrying cannot help.
                await self._give_up(exc)
                return False
            except (ErtcloudError, asyncio.TimeoutError, OSError, aiohttp.ClientError) as exc:
                log.info("reconnect failed: %s", one_line(exc))
                if isinstance(exc, LoginRejected) and exc.code == "UsageError":
                    # "Already pending login": the service throttles this user;
                    # hammering it prolongs the lock-out, so wait minutes, not seconds.
                    delays.throttle(self.throttled_delay)
                elif isinstance(exc, LoginRejected):
                    # Refused token (a restarted server forgot it): get a new one at once,
                    # but not twice in a row, so a refused fresh token backs off.
                    retry_now = self._drop_refused_token() and not immediate
                else:
                    self._rotate()  # the endpoint failed: fail over to the next one
                start = delays.outage_start
                down = time.monotonic() - start if start is not None else 0.0
                if down >= report_after:
                    log.warning("still reconnecting after %.0f s: %s", down, one_line(exc))
                    report_after = min(2.0 * report_after, down + 300.0)
                if self.give_up_after is not None and down >= self.give_up_after:
                    await self._give_up(
                        ConnectionLost(
                            f"gave up reconnecting after {self.give_up_after:g} s: {one_line(exc)}"
                        )
                    )
                    return False
                continue
            self.reconnects += 1
            self.recoveries += 1
            if self.trace:
                self.trace("recovered", self.url)
            if self.on_recovered is not None:
                _call_user(self.on_recovered, self, "on_recovered")
            log.info(
                "reconnected to %s; %d streams re-requested",
                self.url,
                len(self.protocol.streams),
            )
            return True
        return False

    def _drop_refused_token(self) -> bool:
        """Forget the token the server refused, so the next attempt makes a new grant.
        False if the next attempt cannot use another token (no token manager)."""
        if self.tokens is None:
            return False
        current = self.tokens.token
        # Keep it if another session sharing the token manager has already replaced it.
        if current is not None and current.access_token == self._login_token:
            self.tokens.token = None
        return True

    def _notify_disconnected(self, reason: str) -> None:
        log.info("connection to %s lost: %s; reconnecting", self.url, reason)
        if self.on_disconnected is not None:
            try:
                self.on_disconnected(self, reason)
            except Exception:
                log.exception("on_disconnected callback failed")

    async def _give_up(self, exc: ErtcloudError) -> None:
        log.info("session ended: %s", one_line(exc))  # raised to the user: no warning
        self.fatal = exc
        await self._end()

    def _token_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if isinstance(exc, InvalidCredentials):
            # Renewal fell back to the password grant and the gateway refused it: fatal.
            self.fatal = exc
            self._spawn(self._end())

    @property
    def connected_since(self) -> float | None:
        """``time.monotonic()`` of the last successful login; None while reconnecting."""
        return self._up_since

    @property
    def closing(self) -> bool:
        """True once :meth:`close` (or a fatal error) started ending the session."""
        return self._closing

    @property
    def closed_by_itself(self) -> bool:
        """True if the session ended without :meth:`close` (no reconnect, fatal error)."""
        return self._closed.is_set() and not self._shut_down

    def end(self, fatal: ErtcloudError) -> None:
        """End the session with ``fatal`` (raised by :meth:`wait_closed` and by the
        iterators of its subscriptions), in the background."""
        self.fatal = fatal
        self._spawn(self._end())

    async def _end(self) -> None:
        self._closing = True
        await self._close_ws()
        self._end_subscriptions()
        self._closed.set()

    def _end_subscriptions(self) -> None:
        """Wake every consumer: iterators stop (or raise ``fatal``), posts fail."""
        for sub in list(self._subs):
            sub._session_ended(self.fatal)
        self._fail_posts(SessionClosed, "session closed before the Ack of post {}")

    def _fail_posts(self, kind: type[ErtcloudError], text: str) -> None:
        for post_id, fut in self._posts.items():
            if not fut.done():
                fut.set_exception(kind(text.format(post_id)))


def _call_user(callback: Callable[[Any], Any], arg: Any, name: str) -> None:
    """Call a user callback; a bug in it must not take the connection (or the
    reconnect loop, and with it every stream) down."""
    try:
        callback(arg)
    except Exception:
        log.exception("%s callback failed", name)


def _hooks(
    given: Mapping[str, Sequence[Callable[..., Any]]] | None,
    **shorthands: Callable[..., Any] | None,
) -> dict[str, list[Callable[..., Any]]]:
    hooks: dict[str, list[Callable[..., Any]]] = {kind: [] for kind in HOOK_KINDS}
    for kind, callbacks in (given or {}).items():
        if kind not in hooks:
            raise ConfigError(f"unknown event hook {kind!r}: use {', '.join(HOOK_KINDS)}")
        hooks[kind].extend(callbacks)
    for kind, callback in shorthands.items():
        if callback is not None:
            hooks[kind].insert(0, callback)
    return hooks


def _fan_out(callbacks: list[Callable[..., Any]]) -> Callable[..., Any] | None:
    """None, the one callback, or one calling each in turn (for the hot path, the
    common cases cost nothing extra)."""
    if not callbacks:
        return None
    if len(callbacks) == 1:
        return callbacks[0]

    def each(*args: Any) -> None:
        for callback in callbacks:
            callback(*args)

    return each


def _aiohttp_only(compression: bool, http: aiohttp.ClientSession | None) -> str | None:
    """What the session asks for that only the aiohttp transport does, if anything."""
    if compression:
        return "permessage-deflate (compression=True)"
    if http is not None:
        return "the given aiohttp.ClientSession (http=...)"
    return None
