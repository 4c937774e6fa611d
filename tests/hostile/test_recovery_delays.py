"""The reconnect delays: immediate after a healthy connection, at most a second apart while
a restarting server is down, bounded in rate whatever the server does."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from ertcloud.client.reconnect import ReconnectDelays

seeds = st.integers(min_value=0, max_value=2**32)


def _policy(seed: int) -> ReconnectDelays:
    return ReconnectDelays(rng=random.Random(seed))


@given(seeds, st.floats(min_value=0.0, max_value=19.0))
def test_the_first_attempt_after_the_server_is_back_is_within_a_second(
    seed: int, down: float
) -> None:
    """A server down for ``down`` s (a restart): attempts keep coming, the one that finds it
    back is at most ``fast_max`` after it came back."""
    p = _policy(seed)
    now = 100.0
    p.lost(now, up_since=0.0)  # it had been up for long: a fresh outage
    back = now + down
    while True:
        now += p.next_delay(now)
        if now >= back:
            break
    assert now - back <= p.fast_max


@given(seeds)
def test_the_first_retry_after_a_healthy_connection_is_immediate(seed: int) -> None:
    p = _policy(seed)
    p.lost(50.0, up_since=10.0)
    assert 0.0 <= p.next_delay(50.0) <= p.first


@given(seeds, st.integers(min_value=1, max_value=200))
def test_the_rate_is_bounded_after_the_first_retry(seed: int, attempts: int) -> None:
    p = _policy(seed)
    now = 0.0
    p.lost(now, up_since=None)
    now += p.next_delay(now)
    for _ in range(attempts):
        d = p.next_delay(now)
        assert d >= p.initial * (1 - p.jitter)
        assert d <= p.maximum
        start = p.outage_start
        assert start is not None
        if now - start < p.fast_window:
            assert d <= p.fast_max
        now += d


@given(seeds)
def test_the_delay_grows_to_the_maximum_past_the_fast_window(seed: int) -> None:
    p = _policy(seed)
    now = 0.0
    p.lost(now, up_since=None)
    delays = []
    while now < p.fast_window + 300:
        d = p.next_delay(now)
        delays.append(d)
        now += d
    assert delays[-1] >= p.maximum * (1 - p.jitter)


@given(seeds, st.integers(min_value=1, max_value=50))
def test_a_flapping_server_does_not_get_immediate_retries(seed: int, flaps: int) -> None:
    """A connection lost soon after it came up continues the outage: no fresh start, so no
    immediate retry and no reset of the growth."""
    p = _policy(seed)
    now = 0.0
    p.lost(now, up_since=None)
    now += p.next_delay(now)
    for _ in range(flaps):
        up = now
        now += 0.5  # logged in, then dropped half a second later
        p.lost(now, up_since=up)
        d = p.next_delay(now)
        assert d >= p.initial * (1 - p.jitter)
        now += d
    assert p.attempts == flaps + 1


@given(seeds, st.floats(min_value=1.0, max_value=120.0))
def test_throttled_delays_start_at_the_given_wait(seed: int, initial: float) -> None:
    p = _policy(seed)
    p.lost(0.0, up_since=None)
    p.next_delay(0.0)
    p.throttle(initial)
    first = p.next_delay(0.0)
    assert initial * (1 - p.jitter) <= first <= initial
    for _ in range(20):
        assert p.next_delay(0.0) <= p.throttled_maximum
    p.lost(100.0, up_since=50.0)  # a healthy connection ends the throttling
    assert p.next_delay(100.0) <= p.first
