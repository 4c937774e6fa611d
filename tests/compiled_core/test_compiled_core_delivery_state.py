"""The compiled core's delivery remembers what it last read of a subscription's and its
session's state (while neither changed); a change made between frames, or by the callback
itself, must take effect on the very next Update, as it does in the Python method. An event
the callback keeps stays valid and unchanged after later Updates."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from support import counting_python_deliveries

from ertcloud.client.integrity import IntegrityMonitor
from ertcloud.client.subscription import Subscription
from ertcloud.protocol import ClientProtocol, codec
from ertcloud.protocol.core import compiled_dispatch, select
from ertcloud.protocol.events import ItemUpdated
from ertcloud.protocol.messages import Key, Refresh, State
from ertcloud.protocol.streams import ItemStream, StreamTable

OK = State(stream="Open", data="Ok")


class Rig:
    """A protocol on ``core`` with one or two subscriptions, each on its own item."""

    def __init__(self, core: str, subs: int = 1) -> None:
        proto = ClientProtocol()
        proto.dispatch, proto.fast_decode = select(core)  # type: ignore[assignment]
        proto.connection_made(0.0)
        proto.start_login("tok")
        login = Refresh(id=1, domain="Login", state=OK, elements={"PingTimeout": 30})
        proto.receive(codec.encode([login]), 0.0)
        self.proto = proto
        self.streams = [proto.request(f"I{i}.N")[0] for i in range(subs)]
        for s in self.streams:
            refresh = Refresh(id=s.id, key=Key(name=s.name), state=OK, fields={"BID": 1.0})
            proto.receive(codec.encode([refresh]), 0.0)
        self.integrity = IntegrityMonitor(clock=lambda: 0.0)
        self.session = SimpleNamespace(on_event=None, integrity=self.integrity, _blocked=set())
        self.seen: list[tuple[str, str, int, float]] = []
        self.subs = []
        for s in self.streams:
            sub = Subscription(self.session, on_update=self.record, queue=False)  # type: ignore[arg-type]
            sub._attach([s])
            self.integrity.health(s)
            self.subs.append(sub)
        self.seq = [16] * subs
        for _ in range(5):  # each item's step learned: in-order Updates take the core's path
            for i in range(subs):
                self.push(i)
        self.seen.clear()

    def record(self, ev: Any) -> None:
        self.seen.append(("cb", ev.stream.name, ev.seq_number, ev.message.fields["BID"]))

    def on_event(self, ev: Any) -> None:
        self.seen.append(("on_event", ev.stream.name, ev.seq_number, ev.message.fields["BID"]))

    def push(self, i: int = 0, bid: float = 0.0) -> None:
        """One in-order Update of item ``i`` in a frame of its own (delivered by the core)."""
        self.seq[i] += 16
        msg = {"Type": "Update", "ID": self.streams[i].id, "SeqNumber": self.seq[i]}
        events = self.proto.receive(json.dumps({**msg, "Fields": {"BID": bid}}).encode(), 0.0)
        for ev in events:  # none when the core delivered it
            assert isinstance(ev, ItemUpdated) and ev.stream.owner is not None
            ev.stream.owner.deliver_update(ev)


def python_deliveries(rig: Rig, pushes: int) -> int:
    """How many of ``pushes`` in-order Updates of item 0 went to the Python method."""
    with counting_python_deliveries() as calls:
        for _ in range(pushes):
            rig.push()
    return calls[0]


def test_the_core_delivers_these_updates_itself() -> None:
    """What the tests below change is what the core's own delivery reads (not only the
    Python method's)."""
    if compiled_dispatch is None:
        pytest.skip("the compiled core is not built")
    assert python_deliveries(Rig("compiled"), 10) == 0
    assert python_deliveries(Rig("pure"), 10) == 10


CORES = [
    "pure",
    pytest.param(
        "compiled",
        marks=pytest.mark.skipif(
            compiled_dispatch is None, reason="the compiled core is not built"
        ),
    ),
]


@pytest.mark.parametrize("core", CORES)
def test_state_changed_between_frames_takes_effect_on_the_next_frame(core: str) -> None:
    rig = Rig(core)
    sub, session = rig.subs[0], rig.session
    rig.push(bid=1.0)
    rig.push(bid=2.0)  # the same state twice: what the core remembered
    session.on_event = rig.on_event
    rig.push(bid=3.0)
    session.on_event = None
    rig.push(bid=4.0)
    sub.paused_locally = True
    rig.push(bid=5.0)
    sub.paused_locally = False
    rig.push(bid=6.0)
    sub.on_update = None
    rig.push(bid=7.0)
    sub.on_update = rig.record
    rig.push(bid=8.0)
    other: list[float] = []
    sub.on_update = lambda ev: other.append(ev.message.fields["BID"])
    rig.push(bid=9.0)
    sub.on_update = rig.record
    rig.push(bid=10.0)
    assert [(w, b) for w, _, _, b in rig.seen] == [
        ("cb", 1.0),
        ("cb", 2.0),
        ("cb", 3.0),
        ("on_event", 3.0),
        ("cb", 4.0),
        ("cb", 6.0),
        ("cb", 8.0),
        ("cb", 10.0),
    ]
    assert other == [9.0]
    assert rig.streams[0].fields["BID"] == 10.0  # a paused subscription's image still follows
    health = rig.streams[0].health
    assert health is not None and health.last_seq == rig.seq[0]


@pytest.mark.parametrize("core", CORES)
def test_state_changed_by_the_callback_takes_effect_at_once(core: str) -> None:
    rig = Rig(core)
    sub, session = rig.subs[0], rig.session
    later: list[float] = []

    def switch(ev: Any) -> None:
        rig.record(ev)
        bid = ev.message.fields["BID"]
        if bid == 2.0:
            session.on_event = rig.on_event  # this very Update goes to on_event too
        elif bid == 3.0:
            session.on_event = None  # and this one not
        elif bid == 4.0:
            sub.on_update = lambda e: later.append(e.message.fields["BID"])

    sub.on_update = switch
    for bid in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        rig.push(bid=bid)
    assert [(w, b) for w, _, _, b in rig.seen] == [
        ("cb", 1.0),
        ("cb", 2.0),
        ("on_event", 2.0),
        ("cb", 3.0),
        ("cb", 4.0),
    ]
    assert later == [5.0, 6.0]


@pytest.mark.parametrize("core", CORES)
def test_subscriptions_taking_turns_each_get_their_own_state(core: str) -> None:
    rig = Rig(core, subs=2)
    a, b = rig.subs
    got: dict[str, list[float]] = {"a": [], "b": []}
    a.on_update = lambda ev: got["a"].append(ev.message.fields["BID"])
    b.on_update = lambda ev: got["b"].append(ev.message.fields["BID"])
    for k in range(6):
        if k == 2:
            b.paused_locally = True
        if k == 4:
            b.paused_locally = False
            a.on_update = None
        rig.push(0, float(k))
        rig.push(1, float(k) + 0.5)
    assert got == {"a": [0.0, 1.0, 2.0, 3.0], "b": [0.5, 1.5, 4.5, 5.5]}


@pytest.mark.parametrize("core", CORES)
def test_an_event_kept_by_the_callback_stays_as_it_was(core: str) -> None:
    rig = Rig(core)
    kept: list[Any] = []
    rig.subs[0].on_update = kept.append
    for k in range(50):
        rig.push(bid=float(k))
    assert len(kept) == 50
    assert len({id(ev) for ev in kept}) == 50  # none reused while it is kept
    first = rig.seq[0] - 49 * 16
    for k, ev in enumerate(kept):
        assert ev.stream is rig.streams[0]
        assert ev.seq_number == first + 16 * k
        assert ev.message.fields == {"BID": float(k)}
        assert ev.message.seq_number == first + 16 * k


def push_seq(rig: Rig, seq: int, bid: float) -> None:
    """An Update of item 0 with sequence number ``seq`` (in a frame of its own)."""
    msg = {"Type": "Update", "ID": rig.streams[0].id, "SeqNumber": seq, "Fields": {"BID": bid}}
    for ev in rig.proto.receive(json.dumps(msg).encode(), 0.0):
        assert isinstance(ev, ItemUpdated) and ev.stream.owner is not None
        ev.stream.owner.deliver_update(ev)


@pytest.mark.parametrize("core", CORES)
def test_an_update_going_back_is_counted_and_delivered(core: str) -> None:
    """A reordering (the core delivers it too where the session's monitor is the library's
    own) counts as IntegrityMonitor.observe counts it; the next in-order Update after it
    is expected from it again."""
    rig = Rig(core)
    s = rig.streams[0]
    top = rig.seq[0]
    with counting_python_deliveries() as calls:
        push_seq(rig, top - 32, 1.0)  # back
        push_seq(rig, top - 16, 2.0)  # in order after it
        push_seq(rig, top - 16, 3.0)  # a repeat
        push_seq(rig, top, 4.0)
    assert [(w, q, b) for w, _, q, b in rig.seen] == [
        ("cb", top - 32, 1.0),
        ("cb", top - 16, 2.0),
        ("cb", top - 16, 3.0),
        ("cb", top, 4.0),
    ]
    health = rig.integrity.health(s)
    assert (health.last_seq, health.next_seq, health.step) == (top, top + 16, 16)
    assert health.out_of_order == 2 and rig.integrity.out_of_order == 2
    assert health.gaps == 0 and not health.stale
    assert calls[0] == (0 if core == "compiled" else 4)


@pytest.mark.parametrize("core", CORES)
def test_an_update_going_back_on_a_stale_stream_is_left_to_the_method(core: str) -> None:
    rig = Rig(core)
    s = rig.streams[0]
    fresh: list[Any] = []
    rig.integrity.on_event = fresh.append
    rig.integrity.stale_after = 1.0
    now = [100.0]
    rig.integrity.clock = lambda: now[0]
    rig.integrity.check_silence([s])  # seen since the last check: not stale yet
    now[0] = 200.0
    rig.integrity.check_silence([s])
    assert rig.integrity.health(s).stale
    push_seq(rig, rig.seq[0] - 16, 1.0)
    health = rig.integrity.health(s)
    assert not health.stale and health.out_of_order == 1
    assert [type(e).__name__ for e in fresh] == ["StreamStale", "StreamFresh"]
    assert [b for _, _, _, b in rig.seen] == [1.0]


@pytest.mark.parametrize("core", CORES)
def test_the_streams_lookup_is_read_again_when_it_changes(core: str) -> None:
    """``receive`` remembers the table's ``lookup`` while the table is unchanged: one set
    in its place, or another table, is used from the next frame on."""
    rig = Rig(core)
    table = rig.proto.streams
    rig.push(bid=1.0)
    nothing: dict[int, ItemStream] = {}
    table.lookup = nothing.get  # no stream known: the Update is dropped
    rig.push(bid=2.0)
    table.lookup = table._streams.get
    rig.push(bid=3.0)
    rig.proto.streams = StreamTable()  # another table, empty
    rig.push(bid=4.0)
    rig.proto.streams = table
    rig.push(bid=5.0)
    assert [b for _, _, _, b in rig.seen] == [1.0, 3.0, 5.0]
    assert rig.streams[0].fields["BID"] == 5.0
