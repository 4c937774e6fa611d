"""Events the client protocol core hands to whatever drives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import Malformed
from .messages import Ack, Error, Generic, Refresh, State, Status, Update

if TYPE_CHECKING:
    from .streams import ItemStream


@dataclass(frozen=True, slots=True)
class LoginAccepted:
    """The Login Refresh arrived with Open/Ok: the session may now carry items."""

    message: Refresh


@dataclass(frozen=True, slots=True)
class LoginRejected:
    """The login was refused (Closed/ClosedRecover before it was ever open)."""

    state: State
    message: Refresh | Status


@dataclass(frozen=True, slots=True)
class LoginClosed:
    """An open login was closed by the server; every item stream went with it."""

    state: State
    message: Refresh | Status


@dataclass(frozen=True, slots=True)
class LoginStateChanged:
    """The login stream stayed open but its state changed (e.g. Open/Suspect)."""

    state: State


@dataclass(frozen=True, slots=True)
class ItemRefreshed:
    stream: ItemStream
    message: Refresh


@dataclass(frozen=True, slots=True)
class ItemUpdated:
    stream: ItemStream
    message: Update


@dataclass(frozen=True, slots=True)
class ItemStatus:
    stream: ItemStream
    message: Status


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """An item stream reached a final state (NonStreaming, Closed, ClosedRecover, Redirected)."""

    stream: ItemStream
    state: State


@dataclass(frozen=True, slots=True)
class BatchAcknowledged:
    """The Status on a batch request's own id (``Processed N total items ...``)."""

    message: Status


@dataclass(frozen=True, slots=True)
class AckReceived:
    message: Ack


@dataclass(frozen=True, slots=True)
class GenericReceived:
    message: Generic


@dataclass(frozen=True, slots=True)
class ErrorReceived:
    """The server rejected something we sent with an Error message."""

    message: Error


@dataclass(frozen=True, slots=True)
class PingReceived:
    """A Ping arrived; the core has already queued the Pong."""


@dataclass(frozen=True, slots=True)
class PongReceived:
    pass


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """Something unreadable arrived: a non-JSON frame or a malformed message."""

    reason: str
    raw: Any = None

    @classmethod
    def from_malformed(cls, m: Malformed) -> ProtocolViolation:
        return cls(m.reason, m.raw)


@dataclass(frozen=True, slots=True)
class ConnectionDead:
    """Nothing arrived within PingTimeout after our Ping: the connection must be dropped."""

    silence: float


Event = (
    LoginAccepted
    | LoginRejected
    | LoginClosed
    | LoginStateChanged
    | ItemRefreshed
    | ItemUpdated
    | ItemStatus
    | StreamClosed
    | BatchAcknowledged
    | AckReceived
    | GenericReceived
    | ErrorReceived
    | PingReceived
    | PongReceived
    | ProtocolViolation
    | ConnectionDead
)
