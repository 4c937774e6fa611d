"""The WebSocket transport on picows: the default (``transport="auto"``) wherever picows is
installed (a dependency on CPython x86_64 and aarch64; elsewhere ``pip install
ertcloud[picows]`` where it builds).

aiohttp hands every frame to an ``async for`` loop: a few microseconds of future and
coroutine work per frame. picows (Cython) calls a listener synchronously for each frame
with a view of its payload, so the session decodes and dispatches in that callback. That
is the difference between about 18x and 32x the vendor-example stack at one message per
frame (docs/performance.md).

:class:`PicowsTransport` is the adapter of :mod:`ertcloud.client.transport`; each of its
connections is a :class:`PicowsWebSocket`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import ssl
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import picows

from ..exceptions import ConfigError, ConnectFailed, LimitExceeded, one_line
from ..proxy import redact, via
from ..tracing import Trace
from .transport import ConnectOptions, FrameHandler, http_status

if TYPE_CHECKING:
    from ._picows_listener import CompiledListener

__all__ = ["LISTENER", "FrameHandler", "PicowsTransport", "PicowsWebSocket", "connect"]

log = logging.getLogger("ertcloud.client")

_DATA = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY)
_TEXT = picows.WSMsgType.TEXT
#: picows connects through HTTP proxies (CONNECT) from 2.3 on; older ones cannot
PROXY_SUPPORT = "proxy" in inspect.signature(picows.ws_connect).parameters
#: Used when no limit is given (picows' own default frame limit).
DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024
#: The most one read takes from the socket. picows doubles its read buffer whenever a read
#: fills nine tenths of it and never shrinks it, so behind a burst (the Refreshes of 100k
#: items) one read took all the kernel had queued (up to tcp_rmem's maximum) and the buffer
#: stayed that large, tens of MB, for the life of the connection.
READ_CHUNK = 256 * 1024


class _ChunkedReads(asyncio.BufferedProtocol):
    """picows' protocol, each read limited to :data:`READ_CHUNK` bytes; every other call
    goes straight to picows' own bound methods."""

    def __init__(self, proto: Any) -> None:
        self._get_buffer = proto.get_buffer
        self.buffer_updated = proto.buffer_updated  # type: ignore[method-assign]
        self.eof_received = proto.eof_received  # type: ignore[method-assign]
        self.connection_lost = proto.connection_lost  # type: ignore[method-assign]
        self.pause_writing = proto.pause_writing  # type: ignore[method-assign]
        self.resume_writing = proto.resume_writing  # type: ignore[method-assign]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._get_buffer(sizehint)[:READ_CHUNK]  # type: ignore[no-any-return]


#: what :meth:`PicowsWebSocket.receive_directly` takes: the protocol's ``receive(data, now)``
#: and what to call after it with its events (with the session's :data:`~ertcloud.tracing.Trace`)
Receive = Callable[[bytes, float], list[Any]]
After = Callable[[list[Any]], None]


class PicowsWebSocket:
    """One client WebSocket on picows."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        #: the largest message accepted, all fragments together (bytes)
        self.max_message_size = max_message_size
        self._transport: picows.WSTransport | None = None
        self._handler: FrameHandler | None = None
        self._early: list[bytes] = []  # messages that arrived before run()
        self._parts: bytearray | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._error: BaseException | None = None
        self._listener: _Listener | CompiledListener | None = None
        self._subprotocol: str | None = None
        self._direct: tuple[Any, Any, Any, Any] | None = None
        #: reading is paused (back-pressure from a blocking subscription)
        self.paused = False

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def closed(self) -> bool:
        t = self._transport
        return t is None or t.is_disconnected or self._done.done()

    def send_now(self, data: bytes) -> None:
        """Write one TEXT frame (picows writes synchronously)."""
        if self._transport is None or self.closed:
            raise ConnectionError("WebSocket is closed")
        self._transport.send(picows.WSMsgType.TEXT, data)

    def pause_reading(self) -> None:
        """Stop reading the socket; the frames of the current read are still delivered."""
        t = self._transport
        if t is not None and not self.paused and not t.is_disconnected:
            self.paused = True
            t.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        t = self._transport
        if t is not None and self.paused:
            self.paused = False
            if not t.is_disconnected:
                t.underlying_transport.resume_reading()

    async def send(self, data: bytes) -> None:
        """Write one TEXT frame."""
        self.send_now(data)

    async def close(self) -> None:
        """Close the connection; never raises (like aiohttp's ``close``): a protocol error
        that ended the connection earlier has already been acted on."""
        t = self._transport
        if t is None:
            return
        try:
            if not t.is_disconnected:
                if not t.is_close_frame_sent:
                    t.send_close(picows.WSCloseCode.OK)
                t.disconnect()
            await t.wait_disconnected()
        except Exception as exc:  # re-raised by picows: what ended the connection earlier
            log.debug("picows close: %s", one_line(exc))
        finally:
            self._disconnected()

    def receive_directly(
        self, receive: Receive, blocked: Collection[Any], after: After, trace: Trace | None = None
    ) -> None:
        """Let the compiled listener do what ``run``'s handler would do for a whole TEXT
        frame: ``trace("received", data)`` if given, ``events = receive(data,
        time.monotonic())``, then ``after(events)`` when there are events or ``blocked`` is
        not empty (no Python call in between). Given before :meth:`run`; the pure listener
        ignores it (the handler is called)."""
        self._direct = (receive, blocked, after, trace)

    async def run(self, handler: FrameHandler) -> None:
        """Push every message to ``handler`` until the connection ends; re-raises what the
        handler raised (the connection is dropped then)."""
        self._handler = handler
        early, self._early = self._early, []
        for data in early:
            handler(memoryview(data))
        listener = self._listener
        if listener is not None:
            if self._direct is not None and not isinstance(listener, _Listener):
                listener.receive_directly(*self._direct)
            listener.handler = handler
        await asyncio.shield(self._done)
        if self._error is None and self._transport is not None:
            try:
                await self._transport.wait_disconnected()
            except picows.WSProtocolError as exc:
                # picows refuses a frame over its max_frame_size from the header alone.
                if exc.args and exc.args[0] == picows.WSCloseCode.MESSAGE_TOO_BIG:
                    self._error = self._too_big(one_line(exc))
            except Exception:  # any other local failure: the connection just ends
                pass
        if self._error is not None:
            raise self._error

    def _too_big(self, detail: str) -> LimitExceeded:
        return LimitExceeded(
            f"message larger than max_message_size ({self.max_message_size}): {detail}",
            limit=self.max_message_size,
        )

    # -- listener side --------------------------------------------------------------------

    def _message(self, transport: picows.WSTransport, payload: bytes | memoryview) -> None:
        h = self._handler
        if h is None:
            self._early.append(bytes(payload))
            return
        try:
            h(payload)
        except Exception as exc:
            self._fail(transport, exc)

    def _fail(
        self,
        transport: picows.WSTransport,
        exc: Exception,
        code: picows.WSCloseCode = picows.WSCloseCode.OK,
    ) -> None:
        """End the connection for ``exc`` (re-raised by run()): a CLOSE frame with ``code``
        (1000 by default, as the aiohttp adapter's close after the session's handler raised),
        then the socket closes at once, with no wait for the server's CLOSE; frames already
        buffered are dropped."""
        if self._error is None:
            self._error = exc
        self._parts = None
        if self._listener is not None:
            self._listener.handler = None  # what is still buffered goes to _frame: dropped
        if not transport.is_close_frame_sent and not transport.is_disconnected:
            transport.send_close(code)
        transport.disconnect(graceful=False)

    def _frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        t = frame.msg_type
        if t in _DATA or t is picows.WSMsgType.CONTINUATION:
            if self._error is not None:
                return  # aborted: the rest of what was buffered is dropped
            if frame.fin and self._parts is None:
                self._message(transport, frame.get_payload_as_bytes())
                return
            if self._parts is None:
                self._parts = bytearray()
            payload = frame.get_payload_as_memoryview()
            size = len(self._parts) + len(payload)
            if size > self.max_message_size:
                # Say why (1009, as aiohttp does), then abort at once: neither buffer the
                # rest nor wait for the close handshake.
                too_big = self._too_big(f"{size} bytes of fragments so far")
                self._fail(transport, too_big, picows.WSCloseCode.MESSAGE_TOO_BIG)
                return
            self._parts += payload
            if frame.fin:
                data, self._parts = self._parts, None
                self._message(transport, memoryview(data))
        elif t is picows.WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def _disconnected(self) -> None:
        if not self._done.done():
            self._done.set_result(None)


class _Listener(picows.WSListener):
    def __init__(self, ws: PicowsWebSocket) -> None:
        self.ws = ws
        self.handler: FrameHandler | None = None  # set by PicowsWebSocket.run()

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        # The common case in as few steps as possible: a whole TEXT message, reader running.
        # (A TEXT frame cannot arrive in the middle of a fragmented message.)
        h = self.handler
        if h is not None and frame.fin and frame.msg_type is _TEXT:
            try:
                # bytes: cheaper to make than a memoryview at this size, and what the
                # compiled reader of Updates takes
                h(frame.get_payload_as_bytes())
            except Exception as exc:
                self.ws._fail(transport, exc)
            return
        self.ws._frame(transport, frame)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.ws._disconnected()


def _compiled_listener() -> type[CompiledListener] | None:
    """The compiled listener, if it was built against this very picows (it reads picows'
    objects by their C layout) and extensions are not disabled."""
    if os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") not in ("", "0"):
        return None
    try:
        with warnings.catch_warnings():
            # a picows of another layout: Cython warns at import; the version check decides
            warnings.simplefilter("ignore")
            from . import _picows_listener
    except Exception:  # not built (no compiler, or no picows at build time)
        return None
    if _picows_listener.PICOWS_VERSION != getattr(picows, "__version__", None):
        log.debug(
            "compiled picows listener built for picows %s, not %s: using the pure one",
            _picows_listener.PICOWS_VERSION,
            getattr(picows, "__version__", "?"),
        )
        return None
    return _picows_listener.CompiledListener


_COMPILED = _compiled_listener()
_LISTENER_CLASS: type[_Listener] | type[CompiledListener] = _COMPILED or _Listener


def _chunked_reads(proto: Any) -> asyncio.BufferedProtocol:
    """picows' protocol with its reads capped at :data:`READ_CHUNK`: compiled with the
    listener (no Python frame per read), else :class:`_ChunkedReads`."""
    if _COMPILED is not None:
        from ._picows_listener import ChunkedReads

        return ChunkedReads(proto, READ_CHUNK)
    return _ChunkedReads(proto)


#: "compiled" or "pure": the picows listener connections use
LISTENER = "compiled" if _COMPILED is not None else "pure"


def _context(url: str, ssl_option: ssl.SSLContext | bool | None) -> ssl.SSLContext | None:
    if not url.startswith("wss:"):
        return None
    if isinstance(ssl_option, ssl.SSLContext):
        return ssl_option
    ctx = ssl.create_default_context()
    if ssl_option is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def connect(
    url: str,
    *,
    protocols: Sequence[str],
    ssl_option: ssl.SSLContext | bool | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    proxy: str | None = None,
) -> PicowsWebSocket:
    """Open a WebSocket offering ``protocols`` (through the HTTP ``proxy``, tunnelled with
    CONNECT, if given); raises :class:`ConnectFailed` on failure. A message (all its
    fragments) over ``max_message_size`` bytes ends the connection, and
    :meth:`PicowsWebSocket.run` raises :class:`~ertcloud.exceptions.LimitExceeded`."""
    ws = PicowsWebSocket(max_message_size)
    extra = dict(headers or {})
    extra["Sec-WebSocket-Protocol"] = ", ".join(protocols)
    kwargs: dict[str, Any] = {}
    if proxy:
        if not PROXY_SUPPORT:
            raise ConfigError(
                f"picows {getattr(picows, '__version__', '?')} cannot connect through a proxy: "
                "upgrade picows or use transport='aiohttp'"
            )
        kwargs["proxy"] = proxy

    def listener() -> _Listener | CompiledListener:
        ws._listener = _LISTENER_CLASS(ws)
        return ws._listener

    try:
        transport, _ = await picows.ws_connect(
            listener,
            url,
            ssl_context=_context(url, ssl_option),
            websocket_handshake_timeout=timeout,
            extra_headers=extra,
            enable_auto_pong=True,
            max_frame_size=max_message_size,
            **kwargs,
        )
    except picows.WSHandshakeError as exc:
        why = _refusal(exc, proxy)
        raise ConnectFailed(f"WebSocket handshake with {url} failed: {why}") from None
    except ssl.SSLError as exc:
        raise ConnectFailed(f"TLS failure with {url}: {via(exc, proxy)}") from None
    except (OSError, asyncio.TimeoutError, picows.WSError) as exc:
        raise ConnectFailed(f"cannot connect to {url}: {via(exc, proxy)}") from None
    except Exception as exc:
        if proxy and type(exc).__name__.startswith("Proxy"):  # python-socks' ProxyError
            raise ConnectFailed(f"cannot connect to {url}: {via(exc, proxy)}") from None
        raise
    ws._transport = transport
    response = transport.response
    if response is None or transport.is_disconnected:
        # picows returns, rather than raises, when the peer hangs up mid-handshake.
        await ws.close()
        raise ConnectFailed(f"{url} closed the connection during the WebSocket handshake")
    raw = transport.underlying_transport
    picows_protocol = raw.get_protocol()
    if picows_protocol is not None:  # None: the connection is already lost
        raw.set_protocol(_chunked_reads(picows_protocol))
    ws._subprotocol = response.headers.get("Sec-WebSocket-Protocol")
    return ws


def _refusal(exc: picows.WSHandshakeError, proxy: str | None) -> str:
    """Why the server refused the handshake: its HTTP status as the aiohttp adapter words it
    (picows says "expected upgrade response with status 101 ..."), else picows' words."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status", None)
    if not isinstance(status, int) or status == 101:
        return via(exc, proxy)
    text = http_status(status)
    return f"{text} (through proxy {redact(proxy)})" if proxy else text


class PicowsTransport:
    """Connections on picows (see :mod:`ertcloud.client.transport`)."""

    async def connect(self, url: str, options: ConnectOptions) -> PicowsWebSocket:
        return await connect(
            url,
            protocols=options.protocols,
            ssl_option=options.ssl if options.ssl is not None else True,
            headers=options.headers,
            timeout=options.timeout,
            max_message_size=options.max_message_size,
            proxy=options.proxy,
        )

    async def aclose(self) -> None:
        """Nothing to release: each connection owns its socket."""
