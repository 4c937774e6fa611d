"""The health record keeps its rarely moved counters apart, yet reads as the dataclass it was;
a stream's record lives in the stream's own slots, ``stream.health`` a view of them."""

from __future__ import annotations

import dataclasses
import gc
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from ertcloud.client.integrity import IntegrityMonitor, StreamHealth, _HealthFields
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated, StreamClosed
from ertcloud.protocol.messages import Refresh, Request, State, Update
from ertcloud.protocol.streams import ItemStream, StreamTable

_VALUES = {
    "last_seq": st.none() | st.integers(0, 2**31),
    "step": st.none() | st.integers(1, 10),
    "learned": st.integers(0, 5),
    "gaps": st.integers(0, 3),
    "missing": st.integers(0, 3),
    "skipped": st.integers(0, 3),
    "out_of_order": st.integers(0, 3),
    "stale": st.booleans(),
    "stale_reason": st.sampled_from(["", "silent", "suspect"]),
    "last_message": st.floats(0, 1e9),
    "seen": st.integers(0, 1000),
    "next_seq": st.integers(-1, 2**31),
}
_ASSIGNMENTS = st.lists(
    st.sampled_from(sorted(_VALUES)).flatmap(lambda n: st.tuples(st.just(n), _VALUES[n])),
    max_size=20,
)


def _stream(sid: int = 2) -> ItemStream:
    return ItemStream(sid, Request(id=sid), f"X{sid}")


@given(st.fixed_dictionaries({}, optional=_VALUES), _ASSIGNMENTS, st.booleans())
def test_reads_as_the_dataclass(
    init: dict[str, object], steps: list[tuple[str, object]], on_a_stream: bool
) -> None:
    h, model = StreamHealth(**init), _HealthFields(**init)  # type: ignore[arg-type]
    if on_a_stream:  # the record becomes the stream's: h is then a view of its slots
        stream = _stream()
        stream.health = h
        assert stream.health == h and stream.health is not h
    for name, value in steps:
        setattr(h, name, value)
        setattr(model, name, value)
    assert dataclasses.astuple(h) == dataclasses.astuple(model)
    assert dataclasses.asdict(h) == dataclasses.asdict(model)
    assert repr(h) == repr(model).replace("_HealthFields", "StreamHealth")
    assert h == StreamHealth(**dataclasses.asdict(model))
    assert dataclasses.replace(h, seen=7) == StreamHealth(
        **{**dataclasses.asdict(model), "seen": 7}
    )
    if on_a_stream:
        assert dataclasses.astuple(stream.health) == dataclasses.astuple(model)


def test_a_healthy_record_has_no_rare_part() -> None:
    h = StreamHealth(last_seq=10, step=1, learned=3, next_seq=11)
    h.gaps = 0  # a default assigned makes no rare part
    h.stale, h.stale_reason = False, ""
    assert h._rare is None
    assert len(StreamHealth.__slots__) < len(dataclasses.fields(StreamHealth))
    h.gaps += 1
    assert h._rare is not None and h.gaps == 1 and h.missing == 0
    assert StreamHealth.__match_args__ == tuple(f.name for f in dataclasses.fields(StreamHealth))


def test_a_streams_record_is_its_slots() -> None:
    mon = IntegrityMonitor(clock=lambda: 5.0)
    a, b = _stream(2), _stream(3)
    assert a.health is None  # no record until the monitor keeps one
    h = mon.health(a)
    assert a.health == h == StreamHealth(last_message=5.0)
    h.gaps += 1
    h.next_seq, h.step = 32, 16
    assert a.health is not None and a.health.gaps == 1 and a.health.next_seq == 32
    assert a._h_next_seq == 32 and a._h_step == 16  # what the hot path reads
    b.health = a.health  # a copy of a's values, then a view of b's
    b.health.gaps += 1  # type: ignore[union-attr]
    assert mon.health(a).gaps == 1 and mon.health(b).gaps == 2
    copy = dataclasses.replace(mon.health(b), seen=3)  # a record of its own
    copy.gaps = 9
    assert mon.health(b).gaps == 2 and copy.seen == 3
    mon.forget(b)
    assert b.health is None and b._h_next_seq == -1 and b._h_rare is None


def test_the_monitor_keeps_no_object_per_stream() -> None:
    mon = IntegrityMonitor(clock=lambda: 7.0)
    table = StreamTable()
    streams = [_stream(i) for i in range(2, 2002)]
    for s in streams:
        table.add(s)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, s in enumerate(streams):
            mon.observe(
                ItemRefreshed(s, Refresh(id=s.id, seq_number=100, state=State("Open", "Ok")))
            )
            mon.observe(ItemUpdated(s, Update(id=s.id, seq_number=116 + i % 2)))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(mon.health(s).last_seq in (116, 117) for s in streams)
    # (sequence numbers and the clock's reading that are no new objects): a record of its own
    # per stream took 88 bytes
    assert grown < 16 * len(streams), grown
    mon.observe(StreamClosed(streams[0], State("Closed", "Suspect")))
    assert streams[0].health is None and streams[1].health is not None


def test_a_stream_that_was_never_observed_takes_no_fast_path_record() -> None:
    s = _stream()
    assert s.health is None and s._h_next_seq == -1 and s._h_last_message is None
    s.health = None  # no record: nothing to drop
    assert s.health is None
