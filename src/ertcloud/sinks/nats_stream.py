"""NATS JetStream fan-out: one subject per domain and item, and a key-value bucket holding
the latest full image of every item, so a late consumer starts from a complete picture.

Subjects look like ``ertcloud.MarketPrice.TRI_N`` (dots and characters NATS does not allow
in a token become ``_``); each message is the row as a JSON object (as in the JSON-lines
sink). The bucket (``ertcloud_latest``) maps ``MarketPrice.TRI_N`` to
``{"ric", "domain", "service", "seq", "ts", "kind", "fields"}`` where ``fields`` is the
whole current image (the Refresh with every later Update applied).

Options go in the URL's query: ``nats://127.0.0.1:4222?stream=ERTCLOUD&prefix=ertcloud
&bucket=ertcloud_latest``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..exceptions import SinkNotOpen
from .rows import COLUMNS, Row

__all__ = ["NatsSink", "subject_token"]

log = logging.getLogger("ertcloud.sinks")
T = TypeVar("T")
_BAD = re.compile(r"[^A-Za-z0-9_\-=/]")
_PUBLISH_WINDOW = 256  # publishes in flight at once


def subject_token(text: str) -> str:
    """``TRI.N`` -> ``TRI_N``: a valid subject token and key-value key part."""
    return _BAD.sub("_", text) or "_"


class _LoopThread:
    """An event loop of its own in a daemon thread, so a synchronous sink can use nats-py."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="ertcloud-nats", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class NatsSink:
    """Publishes rows to a JetStream stream and keeps the latest image per item in a
    key-value bucket (``nats://HOST:PORT``)."""

    def __init__(self, url: str) -> None:
        try:
            import nats  # noqa: F401
        except ImportError:
            raise ImportError("the nats sink needs nats-py: pip install 'ertcloud[nats]'") from None
        parts = urlsplit(url)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.server = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self.stream = q.get("stream", "ERTCLOUD")
        self.prefix = q.get("prefix", "ertcloud")
        self.bucket = q.get("bucket", "ertcloud_latest")
        self.name = re.sub(r"://[^@/]*@", "://***@", url)
        self._lt: _LoopThread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._kv: Any = None
        self._images: dict[str, dict[str, Any]] = {}

    def subject(self, domain: str, ric: str) -> str:
        return f"{self.prefix}.{subject_token(domain)}.{subject_token(ric)}"

    @staticmethod
    def key(domain: str, ric: str) -> str:
        return f"{subject_token(domain)}.{subject_token(ric)}"

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._lt is None:
            raise SinkNotOpen("sink is not open")
        return self._lt.run(coro)

    def open(self) -> None:
        self._probe()
        self._lt = _LoopThread()
        try:
            self._lt.run(self._open(), timeout=15)
        except BaseException:
            self.close()
            raise

    def _probe(self, timeout: float = 5.0) -> None:
        """Fail fast with one line when nothing listens: nats-py would retry (and log) for
        as long as its reconnect settings allow."""
        parts = urlsplit(self.server)
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ConnectionError(f"cannot connect to {host}:{port}: {reason}") from None
        with sock:
            # a NATS server greets every connection with an INFO line at once
            sock.settimeout(2.0)
            try:
                greeting = sock.recv(4)
            except OSError:
                greeting = b""
        if not greeting.upper().startswith(b"INFO"):
            raise ConnectionError(f"{host}:{port} is not a NATS server (no INFO greeting)")

    async def _error(self, exc: Exception) -> None:
        # nats-py logs every failed reconnect with a traceback unless told otherwise
        log.debug("nats: %s", exc)

    async def _open(self) -> None:
        import nats
        from nats.js.api import StreamConfig

        self._nc = await nats.connect(
            self.server,
            connect_timeout=5,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            name="ertcloud",
            error_cb=self._error,
        )
        self._js = self._nc.jetstream()
        await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
        try:
            self._kv = await self._js.key_value(self.bucket)
        except Exception:
            self._kv = await self._js.create_key_value(bucket=self.bucket, history=1)

    def last_seq(self) -> int:
        return self._run(self._last_seq())

    async def _last_seq(self) -> int:
        info = await self._js.stream_info(self.stream)
        if not info.state.messages:
            return 0
        msg = await self._js.get_msg(self.stream, info.state.last_seq)
        return int(json.loads(msg.data)["seq"])

    def write_batch(self, rows: Sequence[Row]) -> None:
        self._run(self._write(rows))

    async def _write(self, rows: Sequence[Row]) -> None:
        js = self._js
        touched: dict[str, Row] = {}
        for i in range(0, len(rows), _PUBLISH_WINDOW):
            chunk = rows[i : i + _PUBLISH_WINDOW]
            await asyncio.gather(
                *(
                    js.publish(
                        self.subject(r.domain, r.ric),
                        json.dumps(r.as_dict() | {"fields": r.fields}).encode(),
                        stream=self.stream,
                        headers={"Nats-Msg-Id": f"{self.prefix}-{r.seq}"},
                    )
                    for r in chunk
                )
            )
        for r in rows:
            k = self.key(r.domain, r.ric)
            img = self._images.get(k)
            if img is None or r.kind == "Refresh":
                img = self._images[k] = {"fields": {}}
            if r.fields:
                img["fields"].update(r.fields)
            img.update(
                ric=r.ric, domain=r.domain, service=r.service, seq=r.seq, ts=r.ts, kind=r.kind
            )
            touched[k] = r
        for k in touched:
            await self._kv.put(k, json.dumps(self._images[k]).encode())

    def flush(self) -> None:
        if self._nc is not None:
            self._run(self._nc.flush())

    def close(self) -> None:
        if self._lt is None:
            return
        try:
            if self._nc is not None and self._nc.is_connected:
                self._lt.run(self._nc.drain(), timeout=15)
        finally:
            self._nc = None
            self._lt.stop()
            self._lt = None

    def latest(self, domain: str, ric: str) -> dict[str, Any] | None:
        """The latest image of an item as stored in the bucket (None if there is none)."""
        return self._run(self._latest(self.key(domain, ric)))

    async def _latest(self, key: str) -> dict[str, Any] | None:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return json.loads(entry.value) if entry.value else None

    def read_rows(self) -> Iterator[Row]:
        yield from self._run(self._read_all())

    async def _read_all(self) -> list[Row]:
        from nats.js.api import DeliverPolicy

        info = await self._js.stream_info(self.stream)
        n = info.state.messages
        if not n:
            return []
        sub = await self._js.subscribe(
            f"{self.prefix}.>",
            stream=self.stream,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        out: list[Row] = []
        try:
            while len(out) < n:
                msg = await sub.next_msg(timeout=10)
                d = json.loads(msg.data)
                out.append(Row.from_values({k: d.get(k) for k in COLUMNS}))
        finally:
            await sub.unsubscribe()
        out.sort(key=lambda r: r.seq)
        return out
