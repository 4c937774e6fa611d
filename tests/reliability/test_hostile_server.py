"""The real Session against a hostile fake server (aiohttp on a free loopback port) that
sends garbage, binary, huge and out-of-order frames: the session reports
:class:`ProtocolViolation` events, keeps its connection and subscriptions, and applies the
good data that follows."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from support import TRANSPORTS

from ertcloud import Session
from ertcloud.client.integrity import SequenceGap, StreamFresh, StreamStale
from ertcloud.protocol.events import Event, ProtocolViolation
from ertcloud.protocol.streams import Phase

from .helpers import eventually

OK = {"Stream": "Open", "Data": "Ok"}


def login_refresh(sid: int) -> dict[str, Any]:
    return {
        "ID": sid,
        "Type": "Refresh",
        "Domain": "Login",
        "State": {**OK, "Text": "Login accepted"},
        "Elements": {"PingTimeout": 30, "MaxMsgSize": 61430},
        "Key": {"Name": "hostile"},
    }


def hostile_frames(ids: list[int]) -> list[tuple[WSMsgType, bytes]]:
    """What a broken or malicious server might send once the items are requested."""
    a, b = ids
    text = WSMsgType.TEXT
    upd = lambda sid, seq, **f: {"Type": "Update", "ID": sid, "SeqNumber": seq, "Fields": f}  # noqa: E731
    huge = [upd(b, 16, FILLER="x" * 100) for _ in range(40_000)]  # ~5 MB in one frame
    return [
        # updates before the refresh: applied to the (empty) image, no crash
        (text, json.dumps([upd(a, 16, BID=1.0)]).encode()),
        (text, b"this is not JSON"),
        (WSMsgType.BINARY, os.urandom(64) + b"\xff\xfe"),
        (WSMsgType.BINARY, json.dumps([upd(a, 32, ASK=2.0)]).encode("latin-1")),
        (text, b"42"),
        (text, b"[" * 10_000 + b"]" * 10_000),
        (
            text,
            json.dumps(
                [{"Type": "Bogus", "ID": a}, {"Type": "Update", "ID": a, "Fields": 7}]
            ).encode(),
        ),
        (
            text,
            json.dumps(
                [
                    {
                        "Type": "Refresh",
                        "ID": a,
                        "Domain": "NoSuchDomain",
                        "State": OK,
                        "Fields": {"DSPLY_NAME": "\x1b%0Ünïcødé 株式"},
                    }
                ]
            ).encode(),
        ),
        # the proper refreshes, one of them twice (a duplicate id)
        (
            text,
            json.dumps(
                [
                    {
                        "Type": "Refresh",
                        "ID": sid,
                        "State": OK,
                        "SeqNumber": 48,
                        "Fields": {"BID": 10.0, "ASK": 11.0, "DSPLY_NAME": None},
                    }
                    for sid in (a, b, b)
                ]
            ).encode(),
        ),
        (text, json.dumps(huge).encode()),
        (text, json.dumps([{"Type": "Update", "ID": 999_999, "Fields": {"BID": 0}}]).encode()),
        (
            text,
            json.dumps(
                [
                    upd(a, 64, BID=10.5),
                    upd(a, 80, BID=10.6),
                    upd(a, 96, BID=10.7),
                    upd(a, 112, BID=10.8),
                ]
            ).encode(),
        ),
        # a gap: 128 and 144 never come
        (text, json.dumps([upd(a, 160, BID=11.0, ASK="")]).encode()),
        (
            text,
            json.dumps(
                [
                    {
                        "Type": "Status",
                        "ID": b,
                        "State": {**OK, "Data": "Suspect", "Text": "feed down"},
                    }
                ]
            ).encode(),
        ),
        (text, json.dumps([upd(b, 64, BID=20.0)]).encode()),
        (text, json.dumps([{"Type": "Status", "ID": b, "State": OK}]).encode()),
        (text, b'[{"Type":"Generic","ID":2,"Domain":"X"}, "junk"]'),
        (text, json.dumps([upd(a, 176, BID=12.0)]).encode()),
    ]


class HostileServer:
    def __init__(self) -> None:
        self.connections = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("tr_json2",), max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        wanted: list[int] = []
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            for m in data if isinstance(data, list) else [data]:
                if m.get("Domain") == "Login":
                    await ws.send_str(json.dumps([login_refresh(m["ID"])]))
                elif m.get("Type", "Request") == "Request":
                    wanted.append(m["ID"])
            if len(wanted) == 2:
                for kind, frame in hostile_frames(sorted(wanted)):
                    await ws.send_frame(frame, kind)
                wanted.clear()
        return ws

    async def __aenter__(self) -> HostileServer:
        app = web.Application()
        app.router.add_get("/WebSocket", self.ws)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/WebSocket"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_session_survives_a_hostile_server(hostile: HostileServer, transport: str) -> None:
    events: list[Event] = []
    integrity: list[Any] = []
    async with Session(
        hostile.url,
        reconnect=False,
        transport=transport,
        on_event=events.append,
        on_integrity=integrity.append,
        max_message_size=8 << 20,  # the 5 MB frame is over the 4 MiB default
    ) as session:
        sub = session.subscribe(
            ["TRI.N", "IBM.N"], batch=False, queue=False, on_update=lambda e: None
        )
        a, b = sub.streams
        await eventually(lambda: a.fields.get("BID") == 12.0, what="the last good update")
        violations = [e for e in events if isinstance(e, ProtocolViolation)]
        assert len(violations) >= 6
        assert session.connects == 1 and hostile.connections == 1
        assert a.phase is Phase.OPEN and b.phase is Phase.OPEN
        assert a.fields["ASK"] == ""  # blank values are values
        assert b.fields["FILLER"] == "x" * 100  # the 5 MB frame was applied
        assert b.updates == 40_001
        [gap] = [e for e in integrity if isinstance(e, SequenceGap)]
        assert (gap.stream, gap.expected, gap.received, gap.missing) == (a, 128, 160, 2)
        assert session.integrity.health(a).gaps == 1
        kinds = [
            (type(e).__name__, e.stream.name) for e in integrity if not isinstance(e, SequenceGap)
        ]
        assert kinds == [("StreamStale", "IBM.N"), ("StreamFresh", "IBM.N")]
        stale = [e for e in integrity if isinstance(e, StreamStale)]
        assert stale[0].reason == "suspect" and stale[0].text == "feed down"
        assert not session.integrity.stale
        assert isinstance(integrity[-1], StreamFresh)
