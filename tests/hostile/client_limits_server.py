"""A scripted hostile WebSocket server for the client-limit tests (loopback, port 0).

It speaks just enough WebSocket by hand (handshake with tr_json2, masked client frames,
server frames of any size and fragmentation) to stream payloads far larger than memory
would allow if they were built whole: frames are written chunk by chunk, waiting for the
socket to drain, and the stream stops as soon as the client drops the connection.

After the Login it answers every item request with a small Refresh, then hands the
connection to ``script(conn, ids)`` to misbehave.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CONTINUATION = 0x1, 0x0
CHUNK = 256 * 1024


def login_refresh(sid: int, ping_timeout: float = 30) -> dict[str, Any]:
    return {
        "ID": sid,
        "Type": "Refresh",
        "Domain": "Login",
        "State": {"Stream": "Open", "Data": "Ok", "Text": "Login accepted"},
        "Elements": {"PingTimeout": ping_timeout, "MaxMsgSize": 61430},
        "Key": {"Name": "hostile"},
    }


def item_refresh(sid: int, **fields: Any) -> dict[str, Any]:
    return {
        "ID": sid,
        "Type": "Refresh",
        "State": {"Stream": "Open", "Data": "Ok"},
        "Fields": fields or {"BID": 1.0},
    }


class Conn:
    """One accepted client connection."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.number = number  # 1 for the first connection of the server, 2 ...
        self.reader = reader
        self.writer = writer
        self.messages: list[dict[str, Any]] = []  # every JSON message received
        self.bytes_sent = 0
        #: the status code of the client's CLOSE frame (0: one without a code), None: none came
        self.close_code: int | None = None

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    async def send_frame(self, payload: bytes, opcode: int = TEXT, fin: bool = True) -> None:
        self.writer.write(_header(opcode, len(payload), fin) + payload)
        self.bytes_sent += len(payload)
        await self.writer.drain()

    async def send_json(self, obj: Any) -> None:
        await self.send_frame(json.dumps(obj).encode())

    async def stream_frame(
        self, size: int, chunks: Iterator[bytes], opcode: int = TEXT, fin: bool = True
    ) -> None:
        """One frame of ``size`` bytes whose payload is written as ``chunks`` come."""
        self.writer.write(_header(opcode, size, fin))
        left = size
        for chunk in chunks:
            if left <= 0:
                break
            part = chunk[:left]
            self.writer.write(part)
            self.bytes_sent += len(part)
            left -= len(part)
            await self.writer.drain()

    async def stream_fragments(self, total: int, fragment: int) -> None:
        """A TEXT message of ``total`` bytes in fragments of ``fragment`` bytes."""
        sent, first = 0, True
        while sent < total:
            n = min(fragment, total - sent)
            opcode = TEXT if first else CONTINUATION
            await self.stream_frame(n, filler(), opcode, fin=sent + n >= total)
            sent += n
            first = False


def filler() -> Iterator[bytes]:
    """Endless JSON-ish bytes, generated on the fly."""
    block = b'{"Type":"Update","ID":2,"Fields":{"X":"' + b"x" * (CHUNK - 64) + b'"}},'
    while True:
        yield block


def _header(opcode: int, size: int, fin: bool) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    if size < 126:
        return struct.pack("!BB", b0, size)
    if size < 1 << 16:
        return struct.pack("!BBH", b0, 126, size)
    return struct.pack("!BBQ", b0, 127, size)


Script = Callable[[Conn, list[int]], Awaitable[None]]


class HostileServer:
    """``async with HostileServer(script) as server``: ``server.url`` is the WebSocket URL."""

    def __init__(self, script: Script, *, ping_timeout: float = 30, answer_pings: bool = True):
        self.script = script
        self.ping_timeout = ping_timeout
        self.answer_pings = answer_pings
        self.conns: list[Conn] = []
        self.logins = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self.url = ""

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/WebSocket"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.conns:
            conn.writer.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._handlers:  # they end on the closed sockets
            await asyncio.wait(self._handlers, timeout=5)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            self._handlers.add(me)
            me.add_done_callback(self._handlers.discard)
        conn = Conn(len(self.conns) + 1, reader, writer)
        self.conns.append(conn)
        try:
            await self._handshake(conn)
            await self._loop(conn)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def _handshake(self, conn: Conn) -> None:
        head = await conn.reader.readuntil(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        accept = base64.b64encode(
            hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest()
        ).decode()
        conn.writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                "Sec-WebSocket-Protocol: tr_json2\r\n\r\n"
            ).encode()
        )
        await conn.writer.drain()

    async def _read_frame(self, conn: Conn) -> tuple[int, bytes]:
        b0, b1 = await conn.reader.readexactly(2)
        size = b1 & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await conn.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await conn.reader.readexactly(8))
        mask = await conn.reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
        data = await conn.reader.readexactly(size)
        return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))

    async def _loop(self, conn: Conn) -> None:
        while True:
            opcode, data = await self._read_frame(conn)
            if opcode == 0x8:
                conn.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0
                return
            if opcode != TEXT:
                continue
            body = json.loads(data)
            ids: list[int] = []
            for m in body if isinstance(body, list) else [body]:
                conn.messages.append(m)
                if m.get("Domain") == "Login" and m.get("Type", "Request") == "Request":
                    self.logins += 1
                    if m.get("Refresh") is not False:
                        await conn.send_json([login_refresh(m["ID"], self.ping_timeout)])
                elif m.get("Type") == "Ping" and self.answer_pings:
                    await conn.send_json({"Type": "Pong"})
                elif m.get("Type", "Request") == "Request" and "Key" in m:
                    ids.append(m["ID"])
            if ids:
                await conn.send_json([item_refresh(i) for i in ids])
                task = asyncio.ensure_future(self._run_script(conn, ids))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run_script(self, conn: Conn, ids: list[int]) -> None:
        try:
            await self.script(conn, ids)
        except (ConnectionError, OSError):
            pass  # the client dropped the connection: what these tests expect
