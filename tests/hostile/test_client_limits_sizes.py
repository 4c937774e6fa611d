"""The message size limit derived from the server's MaxMsgSize, and the growing wait
before reconnecting after consecutive limit breaches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ertcloud import Session
from ertcloud.client.limits import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_DERIVED_MESSAGE_SIZE,
    MESSAGE_SIZE_MARGIN,
    BreachPenalty,
    message_size_limit,
)
from ertcloud.protocol.messages import Key, Refresh, State

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("advertised", "limit"),
    [
        (None, DEFAULT_MAX_MESSAGE_SIZE),
        (0, DEFAULT_MAX_MESSAGE_SIZE),
        (61430, 4 * MiB),  # 16 x 61430 is under the 4 MiB floor
        (1 * MiB, 16 * MiB),
        (2**40, MAX_DERIVED_MESSAGE_SIZE),
    ],
)
def test_limit_derived_from_max_msg_size(advertised: int | None, limit: int) -> None:
    assert message_size_limit(advertised) == limit


@given(st.integers(min_value=1, max_value=2**50))
def test_derived_limit_is_within_bounds_and_has_the_margin(advertised: int) -> None:
    limit = message_size_limit(advertised)
    assert DEFAULT_MAX_MESSAGE_SIZE <= limit <= MAX_DERIVED_MESSAGE_SIZE
    assert limit == MAX_DERIVED_MESSAGE_SIZE or limit >= advertised * MESSAGE_SIZE_MARGIN


def test_session_limit_follows_the_login_refresh_unless_given() -> None:
    s = Session("ws://127.0.0.1:9/WebSocket")
    assert s.max_message_size == DEFAULT_MAX_MESSAGE_SIZE  # before any login
    s.protocol.login.login("t")
    s.protocol.login.receive(
        Refresh(
            id=1,
            domain="Login",
            key=Key(name="u"),
            state=State(stream="Open", data="Ok"),
            elements={"MaxMsgSize": 2 * MiB},
        )
    )
    assert s.max_message_size == 32 * MiB
    assert Session("ws://127.0.0.1:9/WebSocket", max_message_size=1000).max_message_size == 1000


def test_breach_waits_grow_then_start_over() -> None:
    now = [0.0]
    p = BreachPenalty(initial=1.0, maximum=8.0, forget_after=100.0, clock=lambda: now[0])
    waits = []
    for _ in range(6):
        waits.append(p.next_delay())
        now[0] += 10.0
    for got, nominal in zip(waits, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.75 * nominal <= got <= nominal
    now[0] += 1000.0  # a long quiet spell: the next breach starts over
    assert p.next_delay() <= 1.0
