"""When to try again after the connection is lost (pure: the session sleeps).

A server restart takes a few seconds; streams should flow again about a second after the
server is back. So the first attempt after a connection that had been up for a while is
immediate (a little jitter), then the attempts come at most ``fast_max`` apart for the first
``fast_window`` seconds of the outage, and only then does the delay grow to ``maximum``.
A connection that drops soon after it came up (a flapping server) does not start over:
its outage continues, so the rate of attempts stays bounded whatever the server does.
"""

from __future__ import annotations

import random

__all__ = ["ReconnectDelays"]


class ReconnectDelays:
    """The delays between reconnect attempts of one session."""

    def __init__(
        self,
        *,
        first: float = 0.1,
        initial: float = 0.25,
        fast_max: float = 1.0,
        fast_window: float = 20.0,
        maximum: float = 30.0,
        healthy_after: float = 3.0,
        throttled_maximum: float = 600.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        #: the first attempt waits a random time in [0, first]
        self.first = first
        self.initial = initial
        self.fast_max = fast_max
        self.fast_window = fast_window
        self.maximum = maximum
        #: a connection up this long was healthy: its loss starts a new outage
        self.healthy_after = healthy_after
        #: the cap of the delays after :meth:`throttle`
        self.throttled_maximum = throttled_maximum
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._attempts = 0
        self._outage_start: float | None = None
        self._fast_attempts: int | None = None  # attempts made within the fast window
        self._slow_base: float | None = None  # set by throttle()
        self._slow_attempts = 0

    @property
    def attempts(self) -> int:
        """Attempts made since the current outage began."""
        return self._attempts

    @property
    def outage_start(self) -> float | None:
        """When the current outage began (``None`` before the first loss)."""
        return self._outage_start

    def lost(self, now: float, up_since: float | None) -> None:
        """The connection is lost; it had been up since ``up_since`` (``None``: never)."""
        healthy = up_since is not None and now - up_since >= self.healthy_after
        if healthy or self._outage_start is None:
            self._attempts = 0
            self._outage_start = now
            self._fast_attempts = None
            self._slow_base = None

    def throttle(self, initial: float) -> None:
        """The server asks us to slow down: from now on wait ``initial``, doubling."""
        if self._slow_base is None:
            self._slow_base = initial
            self._slow_attempts = 0

    def next_delay(self, now: float) -> float:
        """The wait before the next attempt (call once per attempt)."""
        if self._outage_start is None:
            self._outage_start = now
        n = self._attempts
        self._attempts += 1
        if self._slow_base is not None:
            k = self._slow_attempts
            self._slow_attempts += 1
            return self._jittered(min(self.throttled_maximum, self._slow_base * 2.0**k))
        if n == 0:
            return self.first * self._rng.random()
        if now - self._outage_start < self.fast_window:
            return self._jittered(min(self.fast_max, self.initial * 2.0 ** (n - 1)))
        # Past the fast window: grow from fast_max, one doubling per attempt since then.
        if self._fast_attempts is None:
            self._fast_attempts = n
        past = n - self._fast_attempts + 1
        return self._jittered(min(self.maximum, self.fast_max * 2.0**past))

    def _jittered(self, delay: float) -> float:
        return delay * (1.0 - self.jitter * self._rng.random())
