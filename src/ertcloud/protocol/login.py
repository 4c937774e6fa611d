"""The Login stream: initial login, token reissue with ``Refresh: false``, acceptance and loss.

States and moves are the table ``TRANSITIONS``; :meth:`LoginStream.receive` maps a Login
Refresh/Status onto it and says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .messages import Close, Key, Refresh, Request, State, Status

__all__ = [
    "MAX_PING_TIMEOUT",
    "MIN_PING_TIMEOUT",
    "TRANSITIONS",
    "LoginParams",
    "LoginPhase",
    "LoginStream",
]

#: The range an advertised PingTimeout is clamped to (seconds). Below, a Ping every third
#: of it would flood the server; above, a silent server would go unnoticed for ages.
MIN_PING_TIMEOUT = 1.0
MAX_PING_TIMEOUT = 300.0


class LoginPhase(Enum):
    IDLE = "idle"  # nothing sent on this connection yet
    PENDING = "pending"  # Login request sent, waiting for the Login Refresh
    OPEN = "open"  # accepted: items may be requested
    CLOSED = "closed"  # rejected, closed by the server, or logged out


#: (phase, what happened) -> next phase.
TRANSITIONS: dict[tuple[LoginPhase, str], LoginPhase] = {
    (LoginPhase.IDLE, "send"): LoginPhase.PENDING,
    (LoginPhase.CLOSED, "send"): LoginPhase.PENDING,
    (LoginPhase.PENDING, "accepted"): LoginPhase.OPEN,
    (LoginPhase.PENDING, "suspect"): LoginPhase.PENDING,
    (LoginPhase.PENDING, "closed"): LoginPhase.CLOSED,
    (LoginPhase.OPEN, "accepted"): LoginPhase.OPEN,
    (LoginPhase.OPEN, "suspect"): LoginPhase.OPEN,
    (LoginPhase.OPEN, "closed"): LoginPhase.CLOSED,
    (LoginPhase.OPEN, "reissue"): LoginPhase.OPEN,
    (LoginPhase.PENDING, "logout"): LoginPhase.CLOSED,
    (LoginPhase.OPEN, "logout"): LoginPhase.CLOSED,
    (LoginPhase.IDLE, "reset"): LoginPhase.IDLE,
    (LoginPhase.PENDING, "reset"): LoginPhase.IDLE,
    (LoginPhase.OPEN, "reset"): LoginPhase.IDLE,
    (LoginPhase.CLOSED, "reset"): LoginPhase.IDLE,
}

_CLOSED = frozenset({"Closed", "ClosedRecover", "NonStreaming", "Redirected"})


@dataclass(frozen=True, slots=True)
class LoginParams:
    """What goes into the Login request."""

    application_id: str = "256"
    position: str = "127.0.0.1/net"
    user: str | None = None  # DACS user name (deployed ADS); None for token logins
    login_id: int = 1
    extra_elements: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LoginStream:
    params: LoginParams
    phase: LoginPhase = LoginPhase.IDLE
    state: State | None = None
    refresh: Refresh | None = None
    #: Elements of the Login Refresh (PingTimeout, MaxMsgSize) and of its Key (Support*...).
    elements: dict[str, Any] = field(default_factory=dict)
    key_elements: dict[str, Any] = field(default_factory=dict)
    #: the upper bound of :attr:`ping_timeout` (seconds)
    max_ping_timeout: float = MAX_PING_TIMEOUT

    @property
    def id(self) -> int:
        return self.params.login_id

    @property
    def is_open(self) -> bool:
        return self.phase is LoginPhase.OPEN

    @property
    def ping_timeout(self) -> float | None:
        """The server's PingTimeout, clamped to ``MIN_PING_TIMEOUT..max_ping_timeout``;
        None if it advertised none (or nonsense: not a positive number)."""
        v = self.elements.get("PingTimeout")
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            return None
        return min(self.max_ping_timeout, max(MIN_PING_TIMEOUT, float(v)))

    @property
    def max_msg_size(self) -> int | None:
        v = self.elements.get("MaxMsgSize")
        return int(v) if isinstance(v, int) and v > 0 else None

    def supports(self, feature: str) -> bool:
        """True if the server's Login Refresh advertised ``Support<feature>`` as non-zero."""
        v = self.key_elements.get(f"Support{feature}")
        return bool(v) if isinstance(v, int) else False

    def _step(self, what: str) -> None:
        self.phase = TRANSITIONS[(self.phase, what)]

    def _request(self, token: str | None, refresh: bool) -> Request:
        elements: dict[str, Any] = {
            "ApplicationId": self.params.application_id,
            "Position": self.params.position,
        }
        if token is not None:
            elements["AuthenticationToken"] = token
        elements.update(self.params.extra_elements)
        if token is not None:
            key = Key(name_type="AuthnToken", elements=elements)
        else:
            key = Key(name=self.params.user or "user", elements=elements)
        return Request(id=self.id, domain="Login", key=key, refresh=None if refresh else False)

    def login(self, token: str | None) -> Request:
        """The initial Login request (AuthnToken when a token is given, else user name)."""
        self._step("send")
        self.state = None
        return self._request(token, refresh=True)

    def reissue(self, token: str) -> Request:
        """Hand the server a new token on the open login stream, asking for no new refresh."""
        self._step("reissue")
        return self._request(token, refresh=False)

    def logout(self) -> Close:
        self._step("logout")
        return Close(id=self.id, domain="Login")

    def reset(self) -> None:
        """The connection is gone: the next one starts from scratch."""
        self._step("reset")
        self.state = None

    def receive(self, msg: Refresh | Status) -> str:
        """Apply a Login Refresh/Status; returns "accepted", "rejected", "closed" or "state"."""
        state = msg.state
        if state is None:
            return "state"
        self.state = state
        if self.phase in (LoginPhase.IDLE, LoginPhase.CLOSED):
            return "state"
        was_open = self.phase is LoginPhase.OPEN
        if state.stream in _CLOSED:
            self._step("closed")
            return "closed" if was_open else "rejected"
        if isinstance(msg, Refresh):
            self.refresh = msg
            if msg.elements:
                self.elements = dict(msg.elements)
            if msg.key is not None and msg.key.elements:
                self.key_elements = dict(msg.key.elements)
            if state.data == "Ok":
                self._step("accepted")
                return "state" if was_open else "accepted"
        self._step("suspect")
        return "state"
