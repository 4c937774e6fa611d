"""The bar builder: a hand-computed example, boundaries, out-of-order and late ticks,
quote-only records, intervals, and the volume of the bars against the trades."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ertcloud.bars import BarBuilder, parse_interval, tick_of
from ertcloud.sinks import bars as sink_bars


def test_hand_computed_minute_bars() -> None:
    b = BarBuilder("1m")
    out = []
    # minute [0, 60): 10.0 x 100, 10.5 x 200, 9.5 x 100, 10.2 x 100
    for ts, px, sz in [(0.0, 10.0, 100), (15.0, 10.5, 200), (30.0, 9.5, 100), (59.999, 10.2, 100)]:
        out += b.trade(ts, px, sz)
    assert out == []
    # 60.0 is on the boundary: it opens the next bar and closes the first
    out += b.trade(60.0, 11.0, 50)
    assert len(out) == 1
    first = out[0]
    assert (first.start, first.end) == (0.0, 60.0)
    assert (first.open, first.high, first.low, first.close) == (10.0, 10.5, 9.5, 10.2)
    assert first.volume == 500
    # VWAP = (1000 + 2100 + 950 + 1020) / 500 = 10.14
    assert first.vwap == pytest.approx(10.14)
    assert first.count == 4 and first.source == "trade"
    (second,) = b.flush()
    assert (second.start, second.open, second.close, second.volume) == (60.0, 11.0, 11.0, 50)


def test_out_of_order_ticks_inside_the_open_bar_are_merged_by_timestamp() -> None:
    b = BarBuilder(10)
    b.trade(5.0, 2.0, 1)
    b.trade(1.0, 1.0, 1)  # earlier: becomes the open
    b.trade(9.0, 3.0, 1)
    b.trade(7.0, 4.0, 1)  # later arrival, earlier time: not the close
    (bar,) = b.flush()
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (1.0, 4.0, 1.0, 3.0, 4)
    assert b.late == 0


def test_a_late_tick_is_dropped_and_counted_never_amending_an_emitted_bar() -> None:
    b = BarBuilder(10)
    b.trade(1.0, 1.0, 1)
    (done,) = b.trade(12.0, 2.0, 1)
    assert b.trade(9.0, 100.0, 1000) == []  # belongs to the bar already emitted
    assert b.late == 1
    assert done.high == 1.0 and done.volume == 1
    (cur,) = b.flush()
    assert cur.volume == 1 and cur.high == 2.0


def test_quote_midpoints_make_the_bar_when_there_is_no_trade() -> None:
    b = BarBuilder("1s")
    b.quote(0.1, 1.0, 1.2)
    b.quote(0.5, 1.2, 1.4)
    b.quote(0.9, 0.9, 1.1)
    (q,) = b.quote(1.0, 2.0, 2.2)
    assert q.source == "quote" and q.volume == 0 and q.vwap is None
    assert (q.open, q.high, q.low, q.close) == pytest.approx((1.1, 1.3, 1.0, 1.0))
    b.trade(1.5, 5.0, 10)  # a trade in the bar: quotes no longer count there
    (t,) = b.flush()
    assert t.source == "trade" and (t.open, t.high, t.low) == (5.0, 5.0, 5.0)


def test_close_until_emits_a_bar_whose_interval_is_over() -> None:
    b = BarBuilder(60)
    b.trade(61.0, 1.0, 1)
    assert b.close_until(119.9) == []
    (bar,) = b.close_until(120.0)
    assert bar.start == 60.0
    assert b.close_until(500.0) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1),
        ("30s", 30),
        ("1m", 60),
        ("5min", 300),
        ("1h", 3600),
        ("2hours", 7200),
        ("1d", 86400),
        ("m", 60),
    ],
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["7x", "", "1ms", "-1m", "0s", "m1", "1 m m"])
def test_bad_intervals_say_so_in_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="invalid interval") as info:
        parse_interval(text)
    assert "\n" not in str(info.value)


def test_tick_of_reads_trades_then_quotes() -> None:
    assert tick_of({"TRDPRC_1": 10.0, "TRDVOL_1": 5}) == ("trade", 10.0, 5.0)
    assert tick_of({"BID": 1.0, "ASK": 1.1}) == ("quote", 1.0, 1.1)
    assert tick_of({"TRDPRC_1": 10.0}) is None  # no size: not a trade
    assert tick_of({"BID": None, "ASK": 1.0}) is None


trades = st.lists(
    st.tuples(
        st.floats(0, 10_000, allow_nan=False),
        st.floats(0.01, 1e6, allow_nan=False),
        st.integers(1, 10_000),
    ),
    max_size=200,
)


@given(trades, st.sampled_from([1.0, 7.5, 60.0, 3600.0]))
def test_bar_volume_equals_the_trades_volume_in_time_order(
    ticks: list[tuple[float, float, int]], interval: float
) -> None:
    b = BarBuilder(interval)
    bars = []
    for ts, px, sz in sorted(ticks, key=lambda t: t[0]):
        bars += b.trade(ts, px, sz)
    bars += b.flush()
    assert sum(x.volume for x in bars) == sum(sz for _, _, sz in ticks)
    assert sum(x.count for x in bars) == len(ticks)
    starts = [x.start for x in bars]
    assert starts == sorted(set(starts))
    for x in bars:
        assert x.low <= min(x.open, x.close) <= max(x.open, x.close) <= x.high
        assert x.vwap is not None and x.low - 1e-9 * x.high <= x.vwap <= x.high * (1 + 1e-9)


@given(trades, st.sampled_from([1.0, 60.0]))
def test_in_any_arrival_order_volume_is_kept_or_counted_late(
    ticks: list[tuple[float, float, int]], interval: float
) -> None:
    b = BarBuilder(interval)
    bars = []
    dropped = 0
    for ts, px, sz in ticks:
        before = b.late
        bars += b.trade(ts, px, sz)
        dropped += sz if b.late > before else 0
    bars += b.flush()
    assert sum(x.volume for x in bars) + dropped == sum(sz for _, _, sz in ticks)


def test_bars_of_a_recording_table() -> None:
    import pandas as pd  # here: every xdist worker collects this module, few run it

    df = pd.DataFrame(
        {
            "seq": [1, 2, 3, 4, 5],
            "ts": [0.5, 1.5, 0.7, 2.0, 0.1],
            "ric": ["A", "A", "A", "A", "B"],
            "price": [1.0, 2.0, 3.0, 4.0, 9.0],
            "size": [1.0, 1.0, 2.0, 1.0, 5.0],
        }
    )
    out = sink_bars(df, "1s")
    assert list(out["ric"]) == ["A", "A", "A", "B"]
    a0 = out.iloc[0]
    assert (a0["open"], a0["high"], a0["close"], a0["volume"]) == (1.0, 3.0, 3.0, 3.0)
    assert a0["vwap"] == pytest.approx(7.0 / 3.0)
    assert out["volume"].sum() == df["size"].sum()
    assert not math.isnan(out.iloc[3]["vwap"])


def test_bars_of_a_table_without_prices_is_a_clear_error() -> None:
    import pandas as pd

    with pytest.raises(ValueError, match="trades, quotes or messages"):
        sink_bars(pd.DataFrame({"x": [1]}), "1m")
