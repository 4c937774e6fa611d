"""The latency jobs' stamp (``ItemUpdated.sim_ts``) and the tails trace's accounting."""

from __future__ import annotations

import gc
from array import array
from collections.abc import Iterator

import pytest

from benchmarks import tails
from benchmarks.common import Probe
from benchmarks.hot_path import refreshed_protocol, update_frames


@pytest.mark.parametrize("core_name", ["compiled", "pure"])
def test_the_stamp_is_the_events_own_before_its_message_is_read(core_name: str) -> None:
    # what the latency jobs' callback reads: ``event.sim_ts``, not ``event.message.sim_ts``
    proto, market = refreshed_protocol(3, core_name=core_name)
    plain, other = update_frames(proto, market, 1)[:2]
    stamped = plain[:-2] + b',"SimTs":1765000000123456789}]'  # as the simulator ends it
    [ev] = proto.receive(stamped, 0.0)
    assert ev.sim_ts == 1765000000123456789
    assert ev.message.sim_ts == ev.sim_ts  # the message, read after, agrees
    assert ev.sim_ts == 1765000000123456789
    [ev] = proto.receive(other, 0.0)  # an unstamped frame
    assert ev.sim_ts is None and ev.message.sim_ts is None


@pytest.fixture
def trace() -> Iterator[tails.Trace]:
    saved = tails.TRACE
    tails.TRACE = t = tails.Trace()
    yield t
    tails.TRACE = saved


def _handle(t: tails.Trace, kind: str, start: int, end: int, msgs: int, cpu: int) -> None:
    t.kinds.setdefault(kind, len(t.kinds))
    t.h_start.append(start)
    t.h_end.append(end)
    t.h_kind.append(t.kinds[kind])
    t.h_msgs.append(msgs)
    t.h_cpu.append(cpu)


def test_a_late_messages_wait_is_split_by_what_the_process_did(trace: tails.Trace) -> None:
    # 1,000 messages 10 us apart, each read 5 us after its stamp, except the last: sent
    # while a 300 us timer callback ran (250 us of CPU), 50 us of it the collector; it is
    # read in its own 5 us read after the callback.
    read = "SelectorSocketTransport._read_ready"
    lat = array("q")
    for i in range(1000):
        ts = 1_000_000 + i * 10_000
        trace.sim_ts.append(ts)
        if i == 999:
            _handle(trace, "task Session._timer", ts - 1_000, ts + 299_000, 0, 250_000)
            trace.g_start.append(ts + 50_000)
            trace.g_end.append(ts + 100_000)
            trace.g_gen.append(2)
            trace.g_n.append(0)
            _handle(trace, read, ts + 299_000, ts + 304_000, 1, 5_000)
            lat.append(304_000)
        else:
            trace.s_start.append(ts - 4_000)
            trace.s_end.append(ts + 1_000)
            _handle(trace, read, ts + 1_000, ts + 5_000, 1, 4_000)
            lat.append(5_000)
    out = tails.analyse(lat)
    assert out["late_messages"] == 1 and out["late_clusters"] == 1
    split = out["late_us_by_activity"]
    assert split["gc gen2"] == 50
    assert split[tails.OFF_CPU] == pytest.approx(50, abs=1)  # 1/6 of its 299 us in the window
    assert split["task Session._timer"] == pytest.approx(199, abs=1)  # less the two above
    assert split["reading frames"] == 5
    assert sum(split.values()) == pytest.approx(304, abs=1)  # the whole latency, no more
    assert out["largest_share_at_cluster_start"] == {"task Session._timer": 1}
    assert out["gc_runs"] == [{"gen": 2, "us": 50.0, "collected": 0}]
    assert out["msgs_per_read"] == {"reads": 1000, "mean": 1.0, "max": 1}


def test_the_probe_counts_the_collections_of_the_stream_only() -> None:
    probe = Probe()
    gc.collect(0)
    gc.collect(2)
    g = probe.stop()["gc"]
    assert g["runs"][0] >= 1 and g["runs"][2] >= 1
    assert 0 < g["max_ms"] <= g["total_ms"]
    assert probe._on_gc not in gc.callbacks  # nothing counted, or kept, after the stream
