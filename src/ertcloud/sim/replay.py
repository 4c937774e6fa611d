"""Serving a recording back: ``ertcloud sim --replay FILE [--speed X]``.

The recording is a JSON-lines file written by ``ertcloud record --to jsonl:FILE``. The
simulator keeps its gateway, discovery, Login, Pings and token checks; only the items
change: a requested item that is in the recording gets the recorded Refresh at once and
then every recorded message after it with the original spacing (divided by ``speed``),
each with its ``ID`` rewritten to the client's stream id and otherwise unchanged. Items
not in the recording are answered NotFound, as a live server answers an unknown RIC.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..exceptions import ConfigError
from ..protocol import codec
from ..protocol.enums import DOMAIN_NAMES
from ..protocol.fields import lookup
from ..protocol.messages import Close, Message, Refresh, Request, State, Status, Update
from ..sinks.jsonl import JsonlSink
from .ads import ServerConfig, StreamingServer
from .gateway import Gateway
from .market import Market
from .session import ClientSession

__all__ = ["RecordedItem", "Recording", "ReplayServer"]

log = logging.getLogger("ertcloud.sim.replay")

_NOT_FOUND = State(
    stream="Closed", data="Suspect", code="NotFound", text="**The record could not be found"
)


@dataclass
class RecordedItem:
    """The messages of one item, with their offsets (s) from the item's first message."""

    domain: str
    ric: str
    messages: list[tuple[float, Refresh | Update | Status]] = field(default_factory=list)


@dataclass
class Recording:
    """A recording by (domain, RIC), ready to serve."""

    items: dict[tuple[str, str], RecordedItem]

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a JSON-lines recording; a bad file is a :class:`ConfigError`."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"no such recording: {path}")
        items: dict[tuple[str, str], RecordedItem] = {}
        first_ts: dict[tuple[str, str], float] = {}
        try:
            for row in JsonlSink(p).read_rows():
                msgs = codec.decode(row.raw)
                msg = msgs[0] if msgs else None
                if not isinstance(msg, (Refresh, Update, Status)):
                    continue
                k = (row.domain, row.ric)
                item = items.get(k)
                if item is None:
                    item = items[k] = RecordedItem(row.domain, row.ric)
                    first_ts[k] = row.ts
                item.messages.append((max(0.0, row.ts - first_ts[k]), msg))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not an ertcloud JSON-lines recording: {exc}") from None
        if not items:
            raise ConfigError(f"{path} holds no item messages to replay")
        return cls(items)

    def get(self, domain: str, ric: str) -> RecordedItem | None:
        return self.items.get((domain, ric))


def _with_view(msg: Message, view: frozenset[str] | None) -> Message | None:
    fields = getattr(msg, "fields", None)
    if view is None or fields is None:
        return msg
    kept = {k: v for k, v in fields.items() if k in view}
    if not kept and isinstance(msg, Update):
        return None
    return msgspec.structs.replace(msg, fields=kept)


class ReplayClientSession(ClientSession):
    """A connection whose items come from the recording instead of the market."""

    server: ReplayServer

    def __init__(self, server: ReplayServer, *args: Any) -> None:
        super().__init__(server, *args)
        self.replays: dict[int, asyncio.Task[None]] = {}

    def _open_item(self, req: Request, sid: int, name: str | None) -> None:
        domain: Any = req.domain if req.domain is not None else "MarketPrice"
        if isinstance(domain, int):
            domain = DOMAIN_NAMES.get(domain, domain)
        item = self.server.recording.get(str(domain), name) if name is not None else None
        if item is None or not item.messages:
            if name is None:
                super()._open_item(req, sid, name)  # the usual errors
                return
            dom = None if domain == "MarketPrice" else domain
            self._status(sid, name, None, _NOT_FOUND, dom)
            return
        self._stop(sid)
        view: frozenset[str] | None = None
        if req.view:
            view = frozenset(fd.name for v in req.view if (fd := lookup(v)) is not None)
        streaming = req.streaming is not False
        _, first = item.messages[0]
        head: Message | None = msgspec.structs.replace(first, id=sid)
        if not streaming and isinstance(head, Refresh):
            head = msgspec.structs.replace(
                head, state=State(stream="NonStreaming", data="Ok", text="All is well")
            )
        head = _with_view(head, view) if head is not None else None
        if head is not None:
            self.queue(head)
        if streaming:
            self.replays[sid] = asyncio.ensure_future(self._play(sid, item, view))

    async def _play(self, sid: int, item: RecordedItem, view: frozenset[str] | None) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        speed = self.server.speed
        for offset, msg in item.messages[1:]:
            delay = start + offset / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.closed:
                return
            out = _with_view(msgspec.structs.replace(msg, id=sid), view)
            if out is not None:
                self.queue(out)
                await self.flush()
        self.replays.pop(sid, None)

    def _stop(self, sid: int) -> None:
        t = self.replays.pop(sid, None)
        if t is not None:
            t.cancel()

    def _close_msg(self, msg: Close) -> None:
        for sid in msg.id if isinstance(msg.id, list) else [msg.id]:
            self._stop(sid)
        super()._close_msg(msg)

    def _drop_all_streams(self) -> None:
        for sid in list(self.replays):
            self._stop(sid)
        super()._drop_all_streams()


class ReplayServer(StreamingServer):
    """The streaming server of ``ertcloud sim --replay``: items from a recording."""

    def __init__(
        self,
        market: Market,
        gateway: Gateway,
        config: ServerConfig | None,
        recording: Recording,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ConfigError("--speed must be positive")
        super().__init__(market, gateway, config)
        self.recording = recording
        self.speed = speed

    def connect(
        self,
        send: Callable[[bytes], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        peer: str,
    ) -> ClientSession:
        cs = ReplayClientSession(self, send, close, peer)
        self.sessions.add(cs)
        return cs
