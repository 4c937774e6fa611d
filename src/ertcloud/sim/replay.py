"""Serving a recording back: ``ertcloud sim --replay FILE [--speed X|max]``.

The recording is what ``ertcloud record`` wrote: a JSON-lines or CSV file, a DuckDB
database or a folder of Parquet parts (the kind is told by the content). The simulator
keeps its gateway, discovery, Login, Pings and token checks; only the items change: a
requested item that is in the recording gets the recorded Refresh at once and then every
recorded message after it, each with its ``ID`` rewritten to the client's stream id and
otherwise unchanged. The messages of the items a connection has open go out in the order
they were recorded, with the recorded spacing divided by ``speed`` (``max``: no waiting).
Items not in the recording are answered NotFound, as a live server answers an unknown RIC.

``start``/``end`` (epoch seconds) cut the recording to a window: an item's messages before
``start`` that change only Fields are folded into its Refresh, so the replay begins with
the image the item had at ``start``; other messages before it are sent right after the
Refresh.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ..exceptions import ConfigError
from ..protocol import codec
from ..protocol.enums import DOMAIN_NAMES
from ..protocol.messages import Close, Message, Refresh, Request, State, Status, Update
from ..sinks.readback import RecordingError, read_recording
from .ads import ServerConfig, StreamingServer
from .connection import NOT_FOUND
from .gateway import Gateway
from .market import Market
from .session import ClientSession

__all__ = ["RecordedItem", "Recording", "ReplayServer"]

log = logging.getLogger("ertcloud.sim.replay")

ItemMessage = Refresh | Update | Status


@dataclass
class RecordedItem:
    """The messages of one item: (offset in s from the recording's start, seq, message)."""

    domain: str
    ric: str
    messages: list[tuple[float, int, ItemMessage]] = field(default_factory=list)


def _fold(item: RecordedItem, before: list[tuple[float, int, ItemMessage]]) -> None:
    """Fold the messages recorded before the window into its first message: the latest
    Refresh, with the later Updates' fields applied (those carrying more than Fields are
    kept, at offset 0)."""
    refreshes = [i for i, (_, _, m) in enumerate(before) if isinstance(m, Refresh)]
    if not refreshes:
        return
    _, seq, image = before[refreshes[-1]]
    assert isinstance(image, Refresh)
    fields = dict(image.fields or {})
    kept: list[tuple[float, int, ItemMessage]] = []
    for _, s, m in before[refreshes[-1] + 1 :]:
        if isinstance(m, Update) and m.fields is not None and m.map is None:
            fields.update(m.fields)
        elif isinstance(m, Refresh):
            kept.append((0.0, s, m))  # a later part of a multi-part image
        elif isinstance(m, Update):
            kept.append((0.0, s, m))
    folded = msgspec.structs.replace(image, fields=fields) if image.fields is not None else image
    item.messages[:0] = [(0.0, seq, folded), *kept]


@dataclass
class Recording:
    """A recording by (domain, RIC), ready to serve."""

    items: dict[tuple[str, str], RecordedItem]

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        start: float | None = None,
        end: float | None = None,
        rics: Collection[str] = (),
    ) -> Recording:
        """Read a recording (JSON lines, CSV, DuckDB or Parquet), optionally only the
        window ``start``..``end`` (epoch s) and the items ``rics``; a file that cannot
        be served is a :class:`ConfigError`."""
        rows = read_recording(path)
        wanted = frozenset(rics)
        items: dict[tuple[str, str], RecordedItem] = {}
        early: dict[tuple[str, str], list[tuple[float, int, ItemMessage]]] = {}
        t0: float | None = None
        for row in rows:
            if wanted and row.ric not in wanted:
                continue
            if end is not None and row.ts > end:
                continue
            try:
                msgs = codec.decode(row.raw)
            except (ValueError, TypeError, KeyError) as exc:
                raise RecordingError(
                    f"{path}: message {row.seq} is not a protocol message: {exc}"
                ) from None
            msg = msgs[0] if msgs else None
            if not isinstance(msg, (Refresh, Update, Status)):
                continue
            k = (row.domain, row.ric)
            if start is not None and row.ts < start:
                early.setdefault(k, []).append((0.0, row.seq, msg))
                continue
            if t0 is None:
                t0 = row.ts
            item = items.get(k)
            if item is None:
                item = items[k] = RecordedItem(row.domain, row.ric)
            item.messages.append((max(0.0, row.ts - t0), row.seq, msg))
        for k, before in early.items():
            item = items.get(k)
            if item is None:
                item = items[k] = RecordedItem(*k)
            _fold(item, before)
        for item in items.values():
            # a window that starts between an item's Refresh and its Updates has no image
            if not item.messages or not isinstance(item.messages[0][2], (Refresh, Status)):
                item.messages = []
        items = {k: v for k, v in items.items() if v.messages}
        if not items:
            what = " in that window" if start is not None or end is not None else ""
            which = f" for {', '.join(sorted(wanted))}" if wanted else ""
            raise RecordingError(f"{path} holds no item messages to replay{which}{what}")
        return cls(items)

    def get(self, domain: str, ric: str) -> RecordedItem | None:
        return self.items.get((domain, ric))

    @property
    def span(self) -> tuple[int, float]:
        """(messages, seconds recorded)."""
        n = sum(len(i.messages) for i in self.items.values())
        last = max((i.messages[-1][0] for i in self.items.values()), default=0.0)
        return n, last


def _with_view(msg: Message, view: frozenset[str] | None) -> Message | None:
    fields = getattr(msg, "fields", None)
    if view is None or fields is None:
        return msg
    kept = {k: v for k, v in fields.items() if k in view}
    if not kept and isinstance(msg, Update):
        return None
    return msgspec.structs.replace(msg, fields=kept)


@dataclass
class _Playing:
    """An item being replayed on one stream of a connection."""

    item: RecordedItem
    view: frozenset[str] | None
    started: float  # loop time of the request
    gen: int  # tells this replay from an earlier one on the same stream id
    pos: int = 1  # next message to send


class ReplayClientSession(ClientSession):
    """A connection whose items come from the recording instead of the market."""

    server: ReplayServer

    def __init__(self, server: ReplayServer, *args: Any) -> None:
        super().__init__(server, *args)
        self.playing: dict[int, _Playing] = {}
        self._due: list[tuple[float, int, int, int]] = []  # (due time, seq, stream id, gen)
        self._wake = asyncio.Event()
        self._player: asyncio.Task[None] | None = None
        self._gen = 0
        self._batch_time: float | None = None

    def _request_time(self) -> float:
        """One time for all the items opened by one request (a batch), so that they play
        in recorded order relative to each other."""
        if self._batch_time is None:
            loop = asyncio.get_running_loop()
            self._batch_time = loop.time()
            loop.call_soon(setattr, self, "_batch_time", None)
        return self._batch_time

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
            self._status(sid, name, None, NOT_FOUND, dom)
            return
        self._stop(sid)
        view: frozenset[str] | None = None
        if req.view:
            lookup = self.dictionary.lookup
            view = frozenset(fd.name for v in req.view if (fd := lookup(v)) is not None)
        streaming = req.streaming is not False
        _, _, first = item.messages[0]
        head: Message | None = msgspec.structs.replace(first, id=sid)
        if not streaming and isinstance(head, Refresh):
            head = msgspec.structs.replace(
                head, state=State(stream="NonStreaming", data="Ok", text="All is well")
            )
        head = _with_view(head, view) if head is not None else None
        if head is not None:
            self.queue(head)
        if streaming and len(item.messages) > 1:
            self._gen += 1
            p = self.playing[sid] = _Playing(item, view, self._request_time(), self._gen)
            self._schedule(sid, p)
            if self._player is None or self._player.done():
                self._player = asyncio.ensure_future(self._play())
            self._wake.set()

    def _schedule(self, sid: int, p: _Playing) -> None:
        offset, seq, _ = p.item.messages[p.pos]
        speed = self.server.speed
        # offsets count from the recording's start, so items opened together interleave
        # as recorded; at speed max everything is due now and goes out in seq order
        due = 0.0 if math.isinf(speed) else p.started + offset / speed
        heapq.heappush(self._due, (due, seq, sid, p.gen))

    async def _play(self) -> None:
        """Send the due messages of every open item, in recorded order."""
        loop = asyncio.get_running_loop()
        while not self.closed:
            if not self._due:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, sid, gen = self._due[0]
            delay = due - loop.time()
            if delay > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
                continue
            heapq.heappop(self._due)
            p = self.playing.get(sid)
            if p is None or p.gen != gen:
                continue  # closed (or reopened) meanwhile
            _, _, msg = p.item.messages[p.pos]
            out = _with_view(msgspec.structs.replace(msg, id=sid), p.view)
            if out is not None:
                self.queue(out)
            p.pos += 1
            if p.pos < len(p.item.messages):
                self._schedule(sid, p)
            else:
                del self.playing[sid]
            if not self._due or self._due[0][0] > loop.time():
                await self.flush()
            elif len(self.out) >= 64:
                await self.flush()  # at --speed max, frames of many messages
        self._due.clear()

    def _stop(self, sid: int) -> None:
        # its entries in the heap are skipped when they come up
        self.playing.pop(sid, None)

    def _close_msg(self, msg: Close) -> None:
        for sid in msg.id if isinstance(msg.id, list) else [msg.id]:
            self._stop(sid)
        super()._close_msg(msg)

    def drop_all_streams(self) -> None:
        self.playing.clear()
        self._due.clear()
        if self._player is not None:
            self._player.cancel()
        super().drop_all_streams()


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
        if not speed > 0:
            raise ConfigError("--speed must be positive (or max)")
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
