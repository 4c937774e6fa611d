"""The compiled core's delivery of a subscription's Updates against the pure core's.

Random sequence numbers (in order, gaps, repeats, going back, none) and random changes of the
subscription's and the session's state between frames (a local pause, ``on_update`` unset or
raising, ``on_event`` set) go to one protocol per core, each with a real ``Subscription`` and
``IntegrityMonitor`` on its streams: the callbacks, ``on_event`` calls, integrity events,
health counters and log records must be the same. The compiled core delivers the common case
itself (``_speedups.fast_delivery``) and hands everything else to the Python method."""

from __future__ import annotations

import dataclasses
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.client.integrity import IntegrityMonitor
from ertcloud.client.subscription import Subscription
from ertcloud.protocol import ClientProtocol, codec
from ertcloud.protocol.core import compiled_dispatch, select
from ertcloud.protocol.messages import Key, Refresh, State

pytestmark = pytest.mark.skipif(compiled_dispatch is None, reason="the compiled core is not built")

OK = State(stream="Open", data="Ok")
NAMES = ["A.N", "B.N", "C.N"]
FRAME = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from([16, 16, 16, 16, 32, 48, 0, -16, None])),
    min_size=1,
    max_size=3,
)
#: each item's step learned first, so that in-order Updates can take the core's path
WARM_UP: list[tuple[str, Any]] = [("frame", [(i, 16)]) for _ in range(5) for i in range(3)]
STEP = st.one_of(
    st.tuples(st.just("frame"), FRAME),
    st.tuples(st.just("run"), st.tuples(st.integers(0, 2), st.integers(1, 6))),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("on_event"), st.booleans()),
    st.tuples(st.just("on_update"), st.sampled_from(["record", "raise", "none"])),
)


class _Records(logging.Handler):
    def __init__(self, out: list[Any]) -> None:
        super().__init__(logging.DEBUG)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        where = (record.pathname, record.lineno, record.funcName)
        self.out.append(("log", record.levelname, record.getMessage(), repr(exc), where))


def run(core: str, steps: list[tuple[str, Any]]) -> list[Any]:
    """What one protocol on ``core`` with a subscription on its streams sees of ``steps``."""
    out: list[Any] = []

    def summary(ev: Any) -> tuple[Any, ...]:
        return (ev.stream.name, ev.seq_number, dict(ev.message.fields or {}))

    def record(ev: Any) -> None:
        out.append(("cb", *summary(ev)))

    def raising(ev: Any) -> None:
        record(ev)
        raise ValueError(ev.stream.name)

    def on_event(ev: Any) -> None:
        out.append(("on_event", type(ev).__name__, *summary(ev)))

    def on_integrity(ev: Any) -> None:
        rest = [getattr(ev, f.name) for f in dataclasses.fields(ev) if f.name != "stream"]
        out.append(("integrity", type(ev).__name__, ev.stream.name, *rest))

    proto = ClientProtocol()
    proto.dispatch, proto.fast_decode = select(core)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("tok")
    login = Refresh(id=1, domain="Login", state=OK, elements={"PingTimeout": 30})
    proto.receive(codec.encode([login]), 0.0)
    streams = [proto.request(name)[0] for name in NAMES]
    for s in streams:
        refresh = Refresh(id=s.id, key=Key(name=s.name), state=OK, fields={"BID": 1.0, "ASK": 2.0})
        proto.receive(codec.encode([refresh]), 0.0)
    integrity = IntegrityMonitor(on_event=on_integrity, clock=lambda: 0.0)
    session = SimpleNamespace(on_event=None, integrity=integrity, _blocked=set())
    sub = Subscription(session, on_update=record, queue=False)  # type: ignore[arg-type]
    sub._attach(streams)
    for s in streams:
        integrity.health(s)
    callbacks = {"record": record, "raise": raising, "none": None}
    seq = [16, 16, 16]
    handler = _Records(out)
    log = logging.getLogger("ertcloud.client")
    log.addHandler(handler)
    try:
        for k, (what, arg) in enumerate(steps):
            if what == "run":  # in order: one item's Updates, one a frame
                i, n = arg
                for _ in range(n):
                    seq[i] += 16
                    msg = {"Type": "Update", "ID": streams[i].id, "SeqNumber": seq[i]}
                    proto.receive(json.dumps({**msg, "Fields": {"BID": float(k)}}).encode(), 0.0)
            elif what == "frame":
                msgs = []
                for i, delta in arg:
                    msg: dict[str, Any] = {"Type": "Update", "ID": streams[i].id}
                    if delta is not None:
                        seq[i] += delta
                        msg["SeqNumber"] = seq[i]
                    msgs.append({**msg, "Fields": {"BID": float(k)}})
                for ev in proto.receive(json.dumps(msgs).encode(), 0.0):
                    ev.stream.owner.deliver_update(ev)  # as the session's dispatch does
            elif what == "pause":
                sub.paused_locally = arg
            elif what == "on_event":
                session.on_event = on_event if arg else None
            else:
                sub.on_update = callbacks[arg]
    finally:
        log.removeHandler(handler)
    for s in streams:
        h = s.health
        out.append(("health", s.name, dict(s.fields), dataclasses.astuple(h)))  # type: ignore[call-overload]
    return out


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(STEP, max_size=30))
def test_the_compiled_delivery_matches_the_pure_one(steps: list[tuple[str, Any]]) -> None:
    steps = WARM_UP + steps
    assert run("compiled", steps) == run("pure", steps)


def test_the_common_case_is_delivered_by_the_core() -> None:
    """In-order Updates after the step is learned do not reach the Python method (and the
    property above compares that path, not only the Python one)."""
    steps: list[tuple[str, Any]] = [("frame", [(i, 16)]) for i in range(3) for _ in range(8)]
    code = Subscription.deliver_update.__code__
    calls = {"pure": 0, "compiled": 0}
    import sys

    for core in calls:

        def profile(frame: Any, event: str, arg: Any, core: str = core) -> None:
            if event == "call" and frame.f_code is code:
                calls[core] += 1

        sys.setprofile(profile)
        try:
            seen = run(core, steps)
        finally:
            sys.setprofile(None)
        assert sum(1 for x in seen if x[0] == "cb") == 24
    assert calls["pure"] == 24
    assert calls["compiled"] < 24 - 3 * 3  # past the learning of each item's step
