"""The compiled delivery path against the pure one, end to end over real sockets.

With the compiled core, an in-order Update of a subscription with ``on_update`` and nothing
unusual set is delivered by the core itself, and the compiled picows listener calls the core
without a Python handler per frame. The same scripted server frames go to a session on each
combination of receive core and transport: in-order updates, a gap, a raising callback,
``on_event`` set and unset, ``on_update`` unset, a local pause, a queue consumer, frames of
several Updates. Every combination must see what the pure core on aiohttp sees (callbacks,
events, integrity events, health counters, log records)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from support import counting_python_deliveries, until, websocket_server

from ertcloud import Session
from ertcloud.protocol import core
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.streams import use_compact_images

OK = {"Stream": "Open", "Data": "Ok"}
NAMES = ["A.N", "B.N", "C.N"]


class ScriptedServer:
    """Answers the Login and each item's first request; everything else the test pushes."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.ws: web.WebSocketResponse | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("tr_json2",))
        await ws.prepare(request)
        self.ws = ws
        async for msg in ws:
            data = msg.json() if msg.type is WSMsgType.TEXT else []
            for m in data if isinstance(data, list) else [data]:
                if m.get("Domain") == "Login":
                    login = {"ID": m["ID"], "Type": "Refresh", "Domain": "Login", "State": OK}
                    await ws.send_str(json.dumps([{**login, "Key": {"Name": "user"}}]))
                elif m.get("Type", "Request") == "Request" and m["ID"] not in self.ids.values():
                    self.ids[m["Key"]["Name"]] = m["ID"]
                    refresh = {"ID": m["ID"], "Type": "Refresh", "State": OK, "SeqNumber": 16}
                    await ws.send_str(json.dumps([{**refresh, "Fields": {"BID": 1.0}}]))
        return ws

    async def push(self, *frames: list[tuple[str, int, float]]) -> None:
        """Each frame a list of Updates: (item, SeqNumber, BID)."""
        assert self.ws is not None
        for frame in frames:
            msgs = [
                {"Type": "Update", "ID": self.ids[n], "SeqNumber": q, "Fields": {"BID": b}}
                for n, q, b in frame
            ]
            await self.ws.send_str(json.dumps(msgs if len(msgs) > 1 else msgs[0]))


@contextmanager
def receive_core(name: str) -> Iterator[None]:
    """ClientProtocol on core ``name`` meanwhile (as tests/receive_cores.py does)."""
    fn, fast = core.select(name)
    saved = ClientProtocol.__dict__["dispatch"], ClientProtocol.__dict__["fast_decode"]
    ClientProtocol.dispatch = staticmethod(fn)  # type: ignore[assignment]
    ClientProtocol.fast_decode = staticmethod(fast)  # type: ignore[assignment,arg-type]
    use_compact_images(core.compiled_image, name == "compiled")
    try:
        yield
    finally:
        ClientProtocol.dispatch, ClientProtocol.fast_decode = saved
        use_compact_images(core.compiled_image, core.CORE == "compiled")


def summary(ev: Any) -> tuple[Any, ...]:
    return (type(ev).__name__, ev.stream.name, ev.seq_number, dict(ev.message.fields))


async def scenario(transport: str, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """What one session sees of the script, and how many updates took the Python path."""
    seen: list[Any] = []
    integrity: list[Any] = []

    def on_update(ev: Any) -> None:
        seen.append(("cb", *summary(ev)))
        if ev.seq_number == 80:
            raise ValueError(f"user bug at {ev.stream.name}")
        if ev.stream.name == "A.N" and ev.seq_number in (96, 112):
            # set within the callback: on_event gets this very update too
            session.on_event = on_event if ev.seq_number == 96 else None

    def on_event(ev: Any) -> None:
        if hasattr(ev, "message"):
            seen.append(("on_event", *summary(ev)))

    def on_integrity(ev: Any) -> None:
        rest = [getattr(ev, f.name) for f in dataclasses.fields(ev) if f.name != "stream"]
        integrity.append((type(ev).__name__, ev.stream.name, *rest))

    caplog.clear()
    server = ScriptedServer()
    async with (
        websocket_server(server.handler) as url,
        Session(url, transport=transport, reconnect=False, on_integrity=on_integrity) as session,
    ):
        sub = session.subscribe(NAMES[:2], batch=False, queue=False, on_update=on_update)
        queued = session.subscribe(NAMES[2:], batch=False)
        await sub.wait_complete(timeout=20)
        await queued.wait_complete(timeout=20)
        a, b = sub.streams
        (c,) = queued.streams

        async def push(*frames: list[tuple[str, int, float]]) -> None:
            want = {s: s.updates for s in (a, b, c)}
            for frame in frames:
                for name, _, _ in frame:
                    want[sub.records.get(name) or c] += 1
            await server.push(*frames)
            await until(lambda: all(s.updates == n for s, n in want.items()), 20, "updates")

        with counting_python_deliveries() as python:
            # in order (the step is learned), one raising callback, the queue's item too
            await push(*([(n, 16 * k, k / 10)] for k in range(2, 10) for n in NAMES))
            # a gap on A.N, then in order again
            await push([("A.N", 16 * 12, 1.2)], [("A.N", 16 * 13, 1.3)], [("B.N", 160, 1.0)])
            session.on_event = on_event
            await push([("A.N", 16 * 14, 1.4)], [("B.N", 176, 1.1)])
            session.on_event = None
            sub.on_update = None
            await push([("A.N", 16 * 15, 1.5)], [("B.N", 192, 1.2)])
            sub.on_update = on_update
            sub.pause()  # the server does not support PauseResume: held back locally
            assert sub.paused_locally
            await push([("A.N", 16 * 16, 1.6)], [("B.N", 208, 1.3)])
            sub.resume()
            # frames of several Updates, and out of order on B.N
            await push([("A.N", 16 * 17, 1.7), ("B.N", 224, 1.4)], [("B.N", 208, 1.5)])
            await push([("A.N", 16 * 18, 1.8)], [("B.N", 240, 1.6), ("C.N", 16 * 10, 2.0)])
        drained: list[Any] = []
        while queued.pending:
            drained.append(summary(await queued.__anext__()))
        health = [
            (h.last_seq, h.next_seq, h.step, h.gaps, h.missing)
            for h in (session.integrity.health(s) for s in (a, b, c))
        ]
        images = [dict(s.fields) for s in (a, b, c)]
    logged = [
        (r.name, r.levelname, r.getMessage(), r.exc_info and repr(r.exc_info[1]), r.lineno)
        for r in caplog.records
        if r.name == "ertcloud.client" and r.levelno >= logging.WARNING
    ]
    return {
        "seen": seen,
        "queued": drained,
        "integrity": integrity,
        "health": health,
        "images": images,
        "logged": logged,
        "python_deliveries": python[0],
    }


@pytest.fixture
async def oracle(caplog: pytest.LogCaptureFixture) -> AsyncIterator[dict[str, Any]]:
    with receive_core("pure"):
        yield await scenario("aiohttp", caplog)


@pytest.mark.parametrize(
    "name,transport",
    [("compiled", "picows"), ("compiled", "aiohttp"), ("pure", "picows")],
)
async def test_every_core_and_transport_delivers_as_the_pure_core(
    name: str, transport: str, oracle: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    if name == "compiled" and core.compiled_dispatch is None:
        pytest.skip("the compiled core is not built")
    if transport == "picows":
        pytest.importorskip("picows")
    # the script exercised what it is meant to
    assert ("on_event", "ItemUpdated", "A.N", 16 * 14, {"BID": 1.4}) in oracle["seen"]
    assert ("on_event", "ItemUpdated", "A.N", 96, {"BID": 0.6}) in oracle["seen"]
    assert ("on_event", "ItemUpdated", "A.N", 112, {"BID": 0.7}) not in oracle["seen"]
    assert [i[:2] for i in oracle["integrity"]].count(("SequenceGap", "A.N")) == 1
    assert [r[2] for r in oracle["logged"]].count(
        "subscription callback failed on ItemUpdated"
    ) == 2
    assert oracle["queued"] and oracle["queued"][-1][2:] == (160, {"BID": 2.0})
    updates = 3 * 8 + 3 + 2 + 2 + 2 + 3 + 3  # every Update pushed
    assert oracle["python_deliveries"] == updates
    with receive_core(name):
        got = await scenario(transport, caplog)
    python = got.pop("python_deliveries")
    oracle.pop("python_deliveries")
    assert got == oracle
    if name == "compiled":
        # the common case went through the core's delivery, the rest through Python
        assert 0 < python <= updates - 8, python
    if transport == "picows" and core.compiled_dispatch is not None:
        from ertcloud.client import transport_picows as tp

        if tp._COMPILED is not None:
            from ertcloud.client import _picows_listener

            assert _picows_listener.CORE_RECEIVE  # the listener calls the core as a C function
