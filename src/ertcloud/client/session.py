"""The asyncio session: one WebSocket to the streaming service, kept alive.

It drives :class:`ertcloud.protocol.client.ClientProtocol` with aiohttp: authenticates
through a :class:`~ertcloud.auth.manager.TokenManager`, connects, logs in, reissues the
token on the open login stream before it expires, answers Pings, and on any loss of the
connection reconnects with jittered back-off (rotating through the endpoints it was given),
logs in again and re-opens every stream with its original request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Union

import aiohttp

from ..auth.manager import TokenManager
from ..exceptions import (
    ConnectError,
    ErtcloudError,
    InvalidCredentials,
    LoginRejected,
    PostRejected,
    SessionClosed,
    one_line,
)
from ..protocol.backoff import backoff
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
    StreamClosed,
)
from ..protocol.events import (
    LoginRejected as LoginRejectedEvent,
)
from ..protocol.login import LoginParams
from ..protocol.messages import Ack, Generic, Key, PostUserInfo, Priority, Qos
from ..protocol.streams import ItemStream
from .dictionary import DictionarySource, SessionDictionary
from .integrity import (
    Difference,
    IntegrityEvent,
    IntegrityMonitor,
    VerifyReport,
    compare_images,
)
from .subscription import Callback, Overflow, Subscription

if TYPE_CHECKING:
    from .transport_picows import PicowsWebSocket

_WebSocket = Union["aiohttp.ClientWebSocketResponse[bool]", "PicowsWebSocket"]

__all__ = ["SUBPROTOCOLS", "Session", "Trace"]

log = logging.getLogger("ertcloud.client")

SUBPROTOCOLS = ("tr_json2", "rssl.json.v2")

#: ``trace(kind, detail)`` observes the session: "connecting" (url), "connected" (url),
#: "sent" (bytes), "received" (bytes), "closed" (reason), "reconnecting" (delay),
#: "token" (Token), "event" (core event), "recovered" (url: logged in again after a loss,
#: every stream re-requested).
Trace = Callable[[str, Any], None]


class Session:
    """A consumer session with the streaming service. Use ``async with``."""

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
        transport: str = "aiohttp",
        compression: bool = False,
        dictionary: DictionarySource | None = None,
        dictionary_cache: str | os.PathLike[str] | None = None,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        #: "aiohttp", or "picows" (faster data path, optional extra); "auto" picks picows
        #: when it is installed.
        self.transport_name = _pick_transport(transport)
        #: offer permessage-deflate (aiohttp transport); worth it on slow links only
        self.compression = compression
        if not self.urls:
            raise ValueError("no WebSocket URL given")
        self.tokens = tokens
        self.protocol = ClientProtocol(login)
        self._ssl = ssl_context
        self.reconnect = reconnect
        self.connect_timeout = connect_timeout
        self.trace = trace
        self.on_event = on_event
        self._http = http
        self._own_http = http is None
        self._ws: _WebSocket | None = None
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
        #: the field dictionary: downloaded at login ("download", the default unless
        #: $ERTCLOUD_DICTIONARY says otherwise), "builtin", or a file
        self.dictionaries = SessionDictionary(self, dictionary, dictionary_cache)

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and log in; raises :class:`ConnectError` / :class:`LoginRejected` /
        an :class:`~ertcloud.exceptions.AuthenticationError` if that first attempt fails."""
        if self._http is None:
            self._http = aiohttp.ClientSession(trust_env=True)
        try:
            await self._first_connect()
        except BaseException:
            await self._shutdown()
            raise
        self._tasks.append(asyncio.create_task(self._run(), name="ertcloud-session"))
        self.dictionaries.start()
        if self.tokens is not None and self.tokens.uses_refresh_tokens and self.renew_tokens:
            task = asyncio.create_task(self.tokens.run(self._on_new_token), name="ertcloud-token")
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
            except (ConnectionError, aiohttp.ClientError, RuntimeError):
                pass
        await self._shutdown()

    async def _shutdown(self) -> None:
        self._closing = True
        self._shut_down = True
        current = asyncio.current_task()
        pending = [t for t in (*self._tasks, *self._background) if t is not current]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        self._end_subscriptions()
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
        if self.tokens is not None:
            await self.tokens.client.close()
        self._closed.set()

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

    def _close_streams(self, streams: list[ItemStream]) -> None:
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
            return await asyncio.wait_for(done, timeout)
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
                raise ConnectError(f"post {post_id} not sent: {one_line(exc)}") from None
            if fut is None:
                return None
            try:
                result = await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"post {post_id}: no Ack within {timeout:g} s") from None
        finally:
            self._posts.pop(post_id, None)
        if result.nak_code:
            raise PostRejected(
                f"post {post_id} refused: {result.nak_code} {result.text or ''}".rstrip(),
                nak_code=result.nak_code,
            )
        return result

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

    # -- I/O -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        t = asyncio.ensure_future(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def _kick(self) -> None:
        if self._ws is not None and not self._ws.closed:
            self._spawn(self._flush_safely())

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
            await ws.send_frame(f, aiohttp.WSMsgType.TEXT)

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
                return
            except (ConnectError, asyncio.TimeoutError) as exc:
                if n == len(self.urls) - 1:
                    if isinstance(exc, asyncio.TimeoutError):
                        raise ConnectError(
                            f"cannot connect to {self._current_url()}: timed out"
                        ) from None
                    raise
                log.warning("%s; trying the next endpoint", exc)
                self._rotate()

    async def _open_ws(self, url: str) -> _WebSocket:
        assert self._http is not None
        if self.trace:
            self.trace("connecting", url)
        if self.transport_name == "picows":
            return await self._open_picows(url)
        try:
            ws = await self._http.ws_connect(
                url,
                protocols=SUBPROTOCOLS,
                ssl=self._ssl if self._ssl is not None else True,
                autoping=True,
                heartbeat=None,
                max_msg_size=0,
                decode_text=False,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                headers={"User-Agent": "ertcloud"},
                compress=15 if self.compression else 0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectError(
                f"WebSocket handshake with {url} failed: HTTP {exc.status} {exc.message}"
            ) from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise ConnectError(f"TLS failure with {url}: {one_line(exc)}") from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise ConnectError(f"cannot connect to {url}: {one_line(exc)}") from None
        if ws.protocol not in SUBPROTOCOLS:
            await ws.close()
            raise ConnectError(f"{url} did not accept the tr_json2 sub-protocol")
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
            raise ConnectError(
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
                raise ConnectError(f"{url} closed the connection during login")
            raise ConnectError(f"no Login response from {url} within {self.connect_timeout:g} s")
        self._reader = reader

    async def _open_picows(self, url: str) -> _WebSocket:
        from .transport_picows import connect

        ws = await connect(
            url,
            protocols=SUBPROTOCOLS,
            ssl_option=self._ssl if self._ssl is not None else True,
            headers={"User-Agent": "ertcloud"},
            timeout=self.connect_timeout,
        )
        if ws.protocol not in SUBPROTOCOLS:
            await ws.close()
            raise ConnectError(f"{url} did not accept the tr_json2 sub-protocol")
        if self.trace:
            self.trace("connected", url)
        return ws

    async def _read_pushed(self, ws: PicowsWebSocket) -> None:
        """The picows data path: frames arrive in a synchronous callback."""
        proto = self.protocol
        receive = proto.receive
        dispatch = self._dispatch
        trace = self.trace
        monotonic = time.monotonic

        def flush() -> None:
            if not ws.closed:
                for f in proto.data_to_send(monotonic()):
                    if trace:
                        trace("sent", f)
                    ws.send_now(f)

        blocked = self._blocked
        holding: list[asyncio.Task[None]] = []

        async def hold() -> None:
            try:
                await self._wait_consumers()
            finally:
                ws.resume_reading()

        def on_message(data: memoryview) -> None:
            events = receive(data, monotonic())
            if events:
                dispatch(events)
            if proto._out:
                flush()
            if blocked and not ws.paused:
                # Back-pressure: stop reading until every blocking subscription has room.
                ws.pause_reading()
                holding[:] = [asyncio.ensure_future(hold())]

        handler = on_message
        if trace is not None:
            traced = trace

            def handler(data: memoryview) -> None:
                traced("received", bytes(data))
                on_message(data)

        timer = asyncio.create_task(self._timer(ws))
        try:
            await ws.run(handler)
        finally:
            timer.cancel()
            for task in holding:
                task.cancel()

    async def _read(self, ws: _WebSocket) -> None:
        if not isinstance(ws, aiohttp.ClientWebSocketResponse):
            await self._read_pushed(ws)
            return
        proto = self.protocol
        trace = self.trace
        timer = asyncio.create_task(self._timer(ws))
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                    data = msg.data
                    if trace:
                        trace("received", data)
                    events = proto.receive(data, time.monotonic())
                    if events:
                        self._dispatch(events)
                    if self._blocked:
                        await self._wait_consumers()
                    if proto._out:
                        await self._flush()
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    break
        finally:
            timer.cancel()

    async def _timer(self, ws: _WebSocket) -> None:
        proto = self.protocol
        while not ws.closed:
            delay = proto.next_deadline() - time.monotonic()
            await asyncio.sleep(max(0.05, delay))
            events = proto.tick(time.monotonic())
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
                sub = ev.stream.user  # type: ignore[union-attr]
                if sub is not None:
                    sub._deliver_update(ev)  # integrity checks and on_event too
                    continue
                self.integrity.observe(ev)  # type: ignore[arg-type]
            elif t is ItemRefreshed or t is ItemStatus or t is StreamClosed:
                sub = ev.stream.user  # type: ignore[union-attr]
                if sub is not None:
                    sub._deliver(ev)
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
            elif t is LoginRejectedEvent or t is LoginClosed:
                st = ev.state  # type: ignore[union-attr]
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
        sub = stream.user
        if self._closing or (isinstance(sub, Subscription) and sub.closed):
            return
        new = self.protocol.rerequest(stream)
        if isinstance(sub, Subscription):
            sub._replace(stream, new)
        self._kick()

    async def _on_new_token(self, token: Any) -> None:
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
        delays = backoff(initial=0.5, maximum=30.0)
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
            self._fail_posts(ConnectError, "connection lost before the Ack of post {}")
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
            while not self._closing:
                delay = next(delays)
                if self.trace:
                    self.trace("reconnecting", delay)
                await asyncio.sleep(delay)
                try:
                    if isinstance(self._login_failure, LoginRejected) and self.tokens is not None:
                        current = self.tokens.token
                        # Force a fresh grant, unless another session sharing the token
                        # manager has already replaced the refused token.
                        if current is not None and current.access_token == self._login_token:
                            self.tokens.token = None
                    await self._connect_and_login()
                except InvalidCredentials as exc:
                    # The gateway refuses the credentials themselves: retrying cannot help.
                    self.fatal = exc
                    await self._end()
                    return
                except (ErtcloudError, asyncio.TimeoutError) as exc:
                    log.warning("reconnect failed: %s", exc)
                    if isinstance(exc, LoginRejected) and exc.code == "UsageError":
                        # "Already pending login": the service throttles this user;
                        # hammering it prolongs the lock-out, so wait minutes, not seconds.
                        delays = backoff(initial=self.throttled_delay, maximum=600.0)
                    if not isinstance(exc, LoginRejected):
                        self._rotate()  # the endpoint failed: fail over to the next one
                    continue
                self.reconnects += 1
                self.recoveries += 1
                if self.trace:
                    self.trace("recovered", self.url)
                if self.on_recovered is not None:
                    _call_user(self.on_recovered, self, "on_recovered")
                delays = backoff(initial=0.5, maximum=30.0)
                log.info(
                    "reconnected to %s; %d streams re-requested",
                    self.url,
                    len(self.protocol.streams),
                )
                break

    def _token_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if isinstance(exc, InvalidCredentials):
            # Renewal fell back to the password grant and the gateway refused it: fatal.
            self.fatal = exc
            self._spawn(self._end())

    @property
    def closed_by_itself(self) -> bool:
        """True if the session ended without :meth:`close` (no reconnect, fatal error)."""
        return self._closed.is_set() and not self._shut_down

    async def _end(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
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


def _pick_transport(name: str) -> str:
    if name not in ("aiohttp", "picows", "auto"):
        raise ValueError(f"unknown transport {name!r}: use aiohttp, picows or auto")
    if name == "aiohttp":
        return name
    try:
        import picows  # noqa: F401
    except ImportError:
        if name == "picows":
            raise ValueError("transport='picows' needs: pip install 'ertcloud[picows]'") from None
        return "aiohttp"
    return "picows"
