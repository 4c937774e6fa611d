"""A small HTTP proxy on loopback for the tests: CONNECT tunnels (counted, with their
targets) and absolute-form requests (forwarded, counted), optional Basic credentials."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from urllib.parse import urlsplit

__all__ = ["ConnectProxy"]


class ConnectProxy:
    """``async with ConnectProxy(user="u", password="p") as proxy``: ``proxy.url`` (with the
    credentials), ``tunnels`` (CONNECT targets, in order), ``forwarded`` (absolute-form
    request lines), ``refused`` (requests answered 407)."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.user = user
        self.password = password
        self.tunnels: list[str] = []
        self.forwarded: list[str] = []
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    async def __aenter__(self) -> ConnectProxy:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._server, self.port = server, server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()  # no new connections; then end the open ones
        open_ones = list(self._tasks)
        for task in open_ones:
            task.cancel()
        await asyncio.gather(*open_ones, return_exceptions=True)

    def _authorised(self, head: list[str]) -> bool:
        if self.user is None:
            return True
        want = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "proxy-authorization":
                return value.strip() == f"Basic {want}"
        return False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            head = raw.decode("latin-1").split("\r\n")[:-2]
            method, target, _ = head[0].split(" ", 2)
            if not self._authorised(head):
                self.refused += 1
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n'
                    b"Connection: close\r\n\r\n"
                )
                await writer.drain()
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                self.tunnels.append(target)
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                parts = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port)
                self.forwarded.append(f"{method} {target}")
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                lines = [f"{method} {path} {head[0].rsplit(' ', 1)[1]}"]
                lines += [h for h in head[1:] if not h.lower().startswith("proxy-")]
                if not any(h.lower().startswith("upgrade:") for h in head):
                    lines = [h for h in lines if not h.lower().startswith("connection:")]
                    lines.append("Connection: close")  # one request per forwarded connection
                up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a cancelled task would be logged as an error by asyncio's stream callback
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.close()
