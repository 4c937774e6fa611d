"""The WebSocket transport on aiohttp: the fallback where picows is not installed, and what
permessage-deflate needs (see :mod:`ertcloud.client.transport`)."""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiohttp

from ..exceptions import ConnectFailed, LimitExceeded, one_line
from ..proxy import redact, via
from .transport import ConnectOptions, FrameHandler, http_status

__all__ = ["AiohttpConnection", "AiohttpTransport"]

log = logging.getLogger("ertcloud.client")

_DATA = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)


class AiohttpConnection:
    """One client WebSocket of aiohttp, pushing its messages like the other adapters."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse[bool], max_message_size: int) -> None:
        self.ws = ws
        self.max_message_size = max_message_size
        self._reading = asyncio.Event()
        self._reading.set()

    @property
    def subprotocol(self) -> str | None:
        return self.ws.protocol

    @property
    def closed(self) -> bool:
        return self.ws.closed

    @property
    def compress(self) -> int:
        """The negotiated permessage-deflate window bits (0: none)."""
        return self.ws.compress

    async def send(self, data: bytes) -> None:
        try:
            await self.ws.send_frame(data, aiohttp.WSMsgType.TEXT)
        except aiohttp.ClientError as exc:
            raise ConnectionError(one_line(exc)) from exc

    async def close(self) -> None:
        self._reading.set()
        try:
            await self.ws.close()
        except Exception as exc:  # the connection is gone either way
            log.debug("closing the WebSocket: %s", one_line(exc))

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    async def run(self, on_frame: FrameHandler) -> None:
        ws, reading = self.ws, self._reading
        async for msg in ws:
            if msg.type in _DATA:
                on_frame(msg.data)
                if not reading.is_set():
                    await reading.wait()
            elif msg.type is aiohttp.WSMsgType.ERROR:
                err = msg.data
                if (
                    isinstance(err, aiohttp.WebSocketError)
                    and err.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
                ):
                    raise LimitExceeded(
                        f"message larger than max_message_size: {one_line(err)}",
                        limit=self.max_message_size,
                    )
                return


class AiohttpTransport:
    """Connections through an ``aiohttp.ClientSession`` (its own unless one is given)."""

    def __init__(self, http: aiohttp.ClientSession | None = None) -> None:
        self.http = http
        self._own_http = http is None

    async def connect(self, url: str, options: ConnectOptions) -> AiohttpConnection:
        if self.http is None:
            self.http = aiohttp.ClientSession()  # the proxy comes resolved in options
        proxy = options.proxy
        try:
            ws = await self.http.ws_connect(
                url,
                protocols=tuple(options.protocols),
                ssl=options.ssl if options.ssl is not None else True,
                autoping=True,
                heartbeat=None,
                max_msg_size=options.max_message_size,
                decode_text=False,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                headers=options.headers,
                compress=15 if options.compression else 0,
                proxy=proxy,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ConnectFailed(
                f"WebSocket handshake with {url} failed: {http_status(exc.status, exc.message)}"
                + (f" (through proxy {redact(proxy)})" if proxy else "")
            ) from None
        except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
            raise ConnectFailed(f"TLS failure with {url}: {via(exc, proxy)}") from None
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {url}: {via(exc, proxy)}") from None
        return AiohttpConnection(ws, options.max_message_size)

    async def aclose(self) -> None:
        if self._own_http and self.http is not None:
            http, self.http = self.http, None
            await http.close()
