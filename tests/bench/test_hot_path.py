"""The in-process breakdown of the hot path runs and measures what it says (no thresholds)."""

from __future__ import annotations

import pytest

from benchmarks.hot_path import main, measure, refreshed_protocol, update_frames
from ertcloud.protocol import core
from ertcloud.protocol.events import ItemUpdated


def test_the_frames_update_the_refreshed_images_of_the_core() -> None:
    proto, market = refreshed_protocol(30)
    assert len(proto.streams) == 30
    before = {s.id: dict(s.fields) for s in proto.streams}
    assert all(len(f) > 10 for f in before.values())
    seen: list[ItemUpdated] = []
    for s in proto.streams:
        s.deliver = seen.append
    frames = update_frames(proto, market, per_frame=10)
    for f in frames:
        assert proto.receive(f, 0.0) == []  # every Update went to its stream's callback
    assert len(seen) == 10 * len(frames)
    changed = [s for s in proto.streams if s.fields != before[s.id]]
    assert len(changed) == 30
    for ev in seen[:200]:  # updates only carry fields the record holds
        assert ev.message.fields and ev.message.fields.keys() <= before[ev.stream.id].keys()


def test_measure_reports_every_step_per_message() -> None:
    res = measure(items=20, per_frame=1, rounds=2, seconds=0.05)
    steps = res["us_per_msg"]
    expected = {
        *("decode", "decode + image", "receive", "image update", "event and rest"),
        "of parse-only",
    }
    if core.CORE == "compiled":  # the pure core runs beside it, round by round
        expected |= {"receive, pure", "pure / compiled", "of parse-only, pure"}
        assert res["us_per_msg"]["pure / compiled"]["median"] > 0
    assert res["us_per_msg"]["of parse-only"]["median"] > 0
    assert set(steps) == expected
    assert res["core"] == core.CORE
    for name in ("decode", "decode + image", "receive"):
        v = steps[name]
        assert 0 < v["min"] <= v["median"] <= v["max"]


def test_the_command_prints_the_table_and_rejects_bad_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--items", "10", "--rounds", "1", "--seconds", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "10 items, 1 msg/frame" in out and "image update" in out
    with pytest.raises(SystemExit) as exc:
        main(["--items", "0"])
    assert exc.value.code == 2


def test_the_cpu_clock_measures_too() -> None:
    res = measure(items=10, per_frame=10, rounds=1, seconds=0.05, clock="cpu")
    assert res["clock"] == "cpu"
    assert res["us_per_msg"]["receive"]["median"] > 0


def test_order_book_updates_change_the_books_and_are_measured() -> None:
    proto, market = refreshed_protocol(12, "MarketByPrice")
    books = {s.id: repr(s.map.entries) for s in proto.streams if s.map is not None}
    assert len(books) == 12 and all(len(s.map.entries) == 20 for s in proto.streams if s.map)
    for f in update_frames(proto, market, 10, "MarketByPrice")[:50]:
        proto.receive(f, 0.0)
    assert all(s.map is not None and repr(s.map.entries) != books[s.id] for s in proto.streams)
    res = measure(items=10, per_frame=10, rounds=1, seconds=0.05, domain="MarketByPrice")
    assert res["domain"] == "MarketByPrice"
    assert res["us_per_msg"]["of parse-only"]["median"] > 0
