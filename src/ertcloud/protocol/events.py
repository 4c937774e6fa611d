"""Events the client protocol core hands to whatever drives it.

Events are frozen msgspec Structs: one is built for every message received, and a Struct
is created in C (about 60 ns, against about 450 ns for a frozen dataclass).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgspec

from .codec import Malformed
from .messages import Ack, Error, Generic, Refresh, State, Status, Update

if TYPE_CHECKING:
    from .streams import ItemStream


class _Event(msgspec.Struct, frozen=True):
    pass


class LoginAccepted(_Event, frozen=True):
    """The Login Refresh arrived with Open/Ok: the session may now carry items."""

    message: Refresh


class LoginDenied(_Event, frozen=True):
    """The login was refused (Closed/ClosedRecover before it was ever open). The session
    then raises the exception :class:`~ertcloud.exceptions.LoginRejected`."""

    state: State
    message: Refresh | Status


class LoginClosed(_Event, frozen=True):
    """An open login was closed by the server; every item stream went with it."""

    state: State
    message: Refresh | Status


class LoginStateChanged(_Event, frozen=True):
    """The login stream stayed open but its state changed (e.g. Open/Suspect)."""

    state: State


class ItemRefreshed(_Event, frozen=True):
    """A Refresh applied to its stream's image (``stream.fields``) or book (``stream.map``).

    Where the compiled core is built this name is its twin (same fields, equality, ``repr``
    and pickling; not a msgspec Struct); where that core built the image straight from the
    frame, it reads ``message`` from the frame's bytes only when it is first accessed."""

    stream: ItemStream
    message: Refresh

    @property
    def seq_number(self) -> int | None:
        """``message.seq_number``, which the compiled core gives without reading the message."""
        return self.message.seq_number

    @property
    def state(self) -> State | None:
        """``message.state``, which the compiled core gives without reading the message."""
        return self.message.state


class ItemUpdated(_Event, frozen=True):
    """An Update applied to its stream's image (``stream.fields``) or book (``stream.map``).

    Where the compiled core is built this name is its twin (same fields, equality, ``repr``
    and pickling; not a msgspec Struct), which reads ``message`` from the frame's bytes
    only when it is first accessed."""

    stream: ItemStream
    message: Update

    @property
    def seq_number(self) -> int | None:
        """``message.seq_number``, which the compiled core gives without reading the message."""
        return self.message.seq_number

    @property
    def sim_ts(self) -> int | None:
        """``message.sim_ts``, which the compiled core gives without reading the message."""
        return self.message.sim_ts


class ItemStatus(_Event, frozen=True):
    stream: ItemStream
    message: Status


class StreamClosed(_Event, frozen=True):
    """An item stream reached a final state (NonStreaming, Closed, ClosedRecover, Redirected)."""

    stream: ItemStream
    state: State


class BatchAcknowledged(_Event, frozen=True):
    """The Status on a batch request's own id (``Processed N total items ...``)."""

    message: Status


class AckReceived(_Event, frozen=True):
    message: Ack


class GenericReceived(_Event, frozen=True):
    message: Generic


class ErrorReceived(_Event, frozen=True):
    """The server rejected something we sent with an Error message."""

    message: Error


class PingReceived(_Event, frozen=True):
    """A Ping arrived; the core has already queued the Pong."""


class PongReceived(_Event, frozen=True):
    pass


class ProtocolViolation(_Event, frozen=True):
    """Something unreadable arrived: a non-JSON frame or a malformed message; or a limit
    was passed (``limit`` set: message size, fields per image...), and then the session
    drops the connection and reconnects."""

    reason: str
    raw: Any = None
    #: the limit that was passed, if this is a limit breach
    limit: int | None = None

    @classmethod
    def from_malformed(cls, m: Malformed) -> ProtocolViolation:
        return cls(m.reason, m.raw)


class ConnectionDead(_Event, frozen=True):
    """Nothing arrived within PingTimeout after our Ping: the connection must be dropped."""

    silence: float


# the compiled core's twins of ItemUpdated and ItemRefreshed, imported once every event class
# is defined (the compiled module may import them)
if not TYPE_CHECKING and os.environ.get("ERTCLOUD_NO_EXTENSIONS", "") in ("", "0"):
    try:
        from ._speedups import ItemRefreshed, ItemUpdated
    except Exception:  # not built, or built against layouts it no longer finds
        pass

Event = (
    LoginAccepted
    | LoginDenied
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

#: Former name of :class:`LoginDenied` (it clashed with the exception of that name).
LoginRejected = LoginDenied
