"""Limits on what a session accepts from the server, so that a broken or hostile server
costs bounded memory, and how long to wait before reconnecting after a breach.

A breach (a message too large, an image with too many fields) is reported as a
:class:`~ertcloud.protocol.events.ProtocolViolation` with its ``limit``; the session drops
the connection and reconnects, re-requesting every stream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_STREAMS",
    "MAX_DERIVED_MESSAGE_SIZE",
    "MESSAGE_SIZE_MARGIN",
    "BreachPenalty",
    "message_size_limit",
]

#: The largest message accepted before the server has advertised its MaxMsgSize, and the
#: least after (bytes). A real server keeps each frame within MaxMsgSize (about 60 KB).
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
#: Messages up to this many times the advertised MaxMsgSize are accepted.
MESSAGE_SIZE_MARGIN = 16
#: ... but never more than this, whatever MaxMsgSize the server advertises (bytes).
MAX_DERIVED_MESSAGE_SIZE = 64 * 1024 * 1024
#: Default cap on the item streams of one session (a benchmark opens 100,000).
DEFAULT_MAX_STREAMS = 1_000_000


def message_size_limit(max_msg_size: int | None) -> int:
    """The largest incoming message accepted, given the server's MaxMsgSize (if known):
    ``MESSAGE_SIZE_MARGIN`` times it, within ``DEFAULT_MAX_MESSAGE_SIZE`` ..
    ``MAX_DERIVED_MESSAGE_SIZE``."""
    if not max_msg_size or max_msg_size <= 0:
        return DEFAULT_MAX_MESSAGE_SIZE
    derived = max_msg_size * MESSAGE_SIZE_MARGIN
    return min(MAX_DERIVED_MESSAGE_SIZE, max(DEFAULT_MAX_MESSAGE_SIZE, derived))


class BreachPenalty:
    """How long to wait before reconnecting after a connection was dropped for a breach:
    1, 2, 4 ... ``maximum`` seconds (jittered) for consecutive breaches, so that a server
    that sends the same offending message after every login is not hammered. A breach more
    than ``forget_after`` seconds after the previous one starts over."""

    def __init__(
        self,
        *,
        initial: float = 1.0,
        maximum: float = 60.0,
        forget_after: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.forget_after = forget_after
        self._clock = clock
        self.count = 0
        self._last = 0.0

    def next_delay(self) -> float:
        """Record a breach; returns the wait before the next connection attempt."""
        now = self._clock()
        if self.count and now - self._last > self.forget_after:
            self.count = 0
        self._last = now
        delay = min(self.maximum, self.initial * 2.0**self.count)
        self.count += 1
        return delay * (0.75 + 0.25 * random.random())
