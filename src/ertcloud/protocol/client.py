"""The client side of a connection, with no I/O: bytes in, events and bytes out.

The driver (the asyncio session, a test, a benchmark) feeds every received frame to
:meth:`ClientProtocol.receive`, calls :meth:`ClientProtocol.tick` when
:meth:`ClientProtocol.next_deadline` passes, and writes whatever
:meth:`ClientProtocol.data_to_send` returns. Time is always passed in as ``now``.

The seam
--------
This is all the layer above uses, and all a faster (compiled) receive core has to
provide to replace the pure-Python one:

* ``ClientProtocol.receive(payload: bytes | bytearray | memoryview | str, now: float)
  -> list[Event]`` -- one whole WebSocket message in. For each message of the frame it
  finds the stream with ``streams.lookup(id)`` and applies it with
  ``ItemStream.apply_update`` / ``apply_refresh`` / ``apply_status``. An
  :class:`~ertcloud.protocol.events.ItemUpdated` goes to the stream's ``deliver``
  (:class:`~ertcloud.protocol.streams.UpdateSink`) while no other event of the same frame
  is waiting, else into the returned list, so the order of events per frame is kept.
  A :class:`~ertcloud.exceptions.LimitExceeded` raised by an apply path propagates: the
  driver drops the connection. The frame is decoded by ``ClientProtocol.fast_decode`` (the
  compiled core's reader of frames made only of Updates) when it reads it, else by msgspec;
  the messages then go to ``ClientProtocol.dispatch`` (see :mod:`ertcloud.protocol.core`).
* ``ClientProtocol.has_data_to_send`` / ``data_to_send(now) -> list[bytes]`` -- what to
  write after a receive (a Pong, requests released by the Login Refresh).
* ``ClientProtocol.tick(now)`` / ``next_deadline()`` -- liveness (Pings, dead peers).
* ``ClientProtocol.connection_made(now)`` / ``connection_lost()`` / ``start_login`` /
  ``request`` / ``rerequest`` / ``close`` / ``post`` / ``reissue_token`` / ``logout``.
* The :class:`~ertcloud.protocol.streams.StreamTable` owns the streams and their shared
  values (:class:`~ertcloud.protocol.streams.Interner`); the layer above attaches to a
  stream only through ``owner``, ``deliver`` and ``health``.

The core keeps the desired subscriptions: item requests made before the login is accepted
wait for it, and after a new connection every stream still open is requested again with
its original parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from . import codec
from .codec import DecodeError, Malformed
from .core import CORE, FastDecode
from .core import compiled_receiver as _compiled_receiver
from .core import compiled_refresh as _compiled_refresh
from .core import dispatch as _dispatch
from .core import fast_decode as _fast_decode
from .core import pure_dispatch as _pure_dispatch
from .enums import FINAL_STREAM_STATES
from .events import (
    AckReceived,
    BatchAcknowledged,
    ConnectionDead,
    ErrorReceived,
    Event,
    GenericReceived,
    ItemRefreshed,
    ItemStatus,
    LoginAccepted,
    LoginClosed,
    LoginDenied,
    LoginStateChanged,
    PingReceived,
    PongReceived,
    ProtocolViolation,
    StreamClosed,
)
from .framing import pack_frames
from .login import LoginParams, LoginStream
from .messages import (
    Ack,
    AnyMessage,
    Close,
    Error,
    Generic,
    Key,
    Message,
    Ping,
    Pong,
    Post,
    PostUserInfo,
    Priority,
    Qos,
    Refresh,
    Request,
    Status,
)
from .streams import ItemStream, Phase, SharedRequest, StreamOwner, StreamTable

__all__ = ["DEFAULT_MAX_MSG_SIZE", "DEFAULT_PING_TIMEOUT", "ClientProtocol"]

DEFAULT_PING_TIMEOUT = 30.0
DEFAULT_MAX_MSG_SIZE = 61430
_PONG = codec.encode_one(Pong())
_PING = codec.encode_one(Ping())
_FRAME_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(list[AnyMessage] | AnyMessage)


class ClientProtocol:
    """Sans-I/O consumer connection: login stream, item streams, liveness."""

    #: the per-frame loop, compiled or pure (chosen at import by :mod:`.core`)
    dispatch = staticmethod(_dispatch)
    #: the compiled core's reader of frames made only of Updates (None: the msgspec decoder)
    fast_decode = staticmethod(_fast_decode)  # type: ignore[arg-type]  # None: pure core

    def __init__(
        self,
        params: LoginParams | None = None,
        *,
        dead_after_pings: float = 2.0,
    ) -> None:
        self.login = LoginStream(params or LoginParams())
        self.streams = StreamTable(reserved=frozenset({self.login.id}))
        self._out: list[Message | bytes] = []
        self._token: str | None = None
        self._sent_token: str | None = None  # the token the server holds for our login
        self.dead_after_pings = dead_after_pings
        self.last_received = 0.0
        self.last_sent = 0.0
        self.messages_received = 0
        self._post_ids = 0
        #: called on every Login Refresh that opens the login; what it returns is sent
        #: before the item requests (warm standby's ConsumerConnectionStatus)
        self.after_login: Callable[[], list[Message]] | None = None

    # -- connection lifecycle -------------------------------------------------------------

    @property
    def ping_timeout(self) -> float:
        return self.login.ping_timeout or DEFAULT_PING_TIMEOUT

    @property
    def max_msg_size(self) -> int:
        return self.login.max_msg_size or DEFAULT_MAX_MSG_SIZE

    def connection_made(self, now: float) -> None:
        """A new WebSocket is up: reset timers and forget what was sent on the last one."""
        self.last_received = self.last_sent = now
        self._out.clear()
        self.login.reset()
        self.streams.clear_batches()
        for s in self.streams:
            s.sent = False

    def connection_lost(self) -> None:
        """The WebSocket is gone. Open streams stay wanted and are re-requested next time."""
        self.login.reset()
        self._out.clear()
        for s in self.streams:
            s.sent = False

    def start_login(self, token: str | None) -> None:
        """Queue the Login request (AuthnToken form when ``token`` is given)."""
        self._token = token
        self._sent_token = token
        self._out.append(self.login.login(token))

    def reissue_token(self, token: str) -> None:
        """Send a fresh token on the open login stream with ``Refresh: false``."""
        self._token = token
        if self.login.is_open:
            self._sent_token = token
            self._out.append(self.login.reissue(token))
        # else: a login is under way with the previous token; it is reissued once accepted

    def logout(self) -> None:
        if self.login.is_open or self.login.phase.value == "pending":
            self._out.append(self.login.logout())

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        names: str | Sequence[str],
        *,
        domain: str | int = "MarketPrice",
        service: str | int | None = None,
        view: Sequence[str | int] | None = None,
        streaming: bool = True,
        private: bool = False,
        qos: Qos | None = None,
        priority: Priority | None = None,
        batch: bool = True,
        user: StreamOwner | None = None,
        key_filter: int | None = None,
        stream_id: int | None = None,
    ) -> list[ItemStream]:
        """Open item streams. Several names go out as batch requests (split to fit
        MaxMsgSize) when ``batch`` is true, else as one request each; ``user`` becomes
        each stream's ``owner``. ``key_filter`` sets ``Key.Filter`` (the verbosity of a
        Dictionary request); ``stream_id`` gives the id of a single request (one outside
        the allocated range leaves item ids as they are)."""
        if isinstance(names, str):
            names = [names]
        template = Request(
            id=0,
            domain=None if domain in ("MarketPrice", 6) else domain,
            streaming=None if streaming else False,
            view=list(view) if view else None,
            private=True if private else None,
            qos=qos,
            priority=priority,
        )
        created: list[ItemStream] = []
        chunk = self._batch_chunk(template) if batch and len(names) > 1 else 1
        for i in range(0, len(names), chunk):
            group = list(names[i : i + chunk])
            created.extend(self._open_group(group, template, service, user, key_filter, stream_id))
        return created

    def _batch_chunk(self, template: Request) -> int:
        # Names are ~10-30 bytes each on the wire; keep a wide safety margin.
        overhead = len(codec.encode_one(template)) + 64
        return max(1, (self.max_msg_size - overhead) // 48)

    def _open_group(
        self,
        names: list[str],
        template: Request,
        service: str | int | None,
        user: StreamOwner | None,
        key_filter: int | None = None,
        stream_id: int | None = None,
    ) -> list[ItemStream]:
        domain = _domain_name(template.domain)
        if len(names) == 1:
            sid = stream_id if stream_id is not None else self.streams.allocate(1)
            key = Key(name=names[0], service=service, filter=key_filter)
            req = msgspec.structs.replace(template, id=sid, key=key)
            stream = ItemStream(sid, req, names[0], domain, service, owner=user)
            self.streams.add(stream)
            if self.login.is_open:
                self._out.append(req)
                stream.sent = True
            return [stream]
        batch_id = self.streams.allocate(len(names) + 1)
        members: list[ItemStream] = []
        # one request held for all members (each one's is built from it when read)
        shared = SharedRequest(msgspec.structs.replace(template, key=Key(service=service)))
        for n, name in enumerate(names, start=1):
            sid = batch_id + n
            s = ItemStream(
                sid, shared.template, name, domain, service, batch_id=batch_id, owner=user
            )
            shared.attach(s)
            self.streams.add(s)
            members.append(s)
        if self.login.is_open:
            self.streams.add_batch(batch_id, [s.id for s in members])
            self._out.append(
                msgspec.structs.replace(template, id=batch_id, key=Key(name=names, service=service))
            )
            for s in members:
                s.sent = True
        return members

    def rerequest(self, stream: ItemStream) -> ItemStream:
        """Ask again for a stream that ended with ClosedRecover (same id if still free)."""
        old = self.streams.get(stream.id)
        sid = stream.id if old is None or old is stream else self.streams.allocate(1)
        req = msgspec.structs.replace(stream.request, id=sid, refresh=None)
        new = ItemStream(sid, req, stream.name, stream.domain, stream.service, owner=stream.owner)
        self.streams.add(new)
        if self.login.is_open:
            self._out.append(req)
            new.sent = True
        return new

    def reissue(self, stream: ItemStream, **changes: Any) -> None:
        """Re-send a stream's request with changes (``view``, ``pause``, ``priority``,
        ``refresh``...)."""
        stream.request = msgspec.structs.replace(stream.request, **changes)
        if self.login.is_open and stream.is_open:
            self._out.append(stream.request)

    def close(self, streams: Iterable[ItemStream | int]) -> None:
        """Close streams: one Close message, batch form (``ID`` list) for several."""
        ids: list[int] = []
        for s in streams:
            stream = self.streams.get(s) if isinstance(s, int) else s
            if stream is None:
                continue
            if self.streams.get(stream.id) is not stream:
                # An old stream whose id now belongs to a replacement: nothing to send.
                if stream.is_open:
                    stream.mark_closed()
                continue
            was_sent = stream.sent
            stream.mark_closed()
            self.streams.remove(stream.id)
            if was_sent:
                ids.append(stream.id)
        if not ids or not self.login.is_open:
            return
        if len(ids) == 1:
            self._out.append(Close(id=ids[0]))
        else:
            per = max(1, (self.max_msg_size - 64) // 12)
            for i in range(0, len(ids), per):
                part = ids[i : i + per]
                self._out.append(Close(id=part if len(part) > 1 else part[0]))

    def post(
        self,
        stream_id: int,
        message: dict[str, Any],
        *,
        post_id: int | None = None,
        ack: bool = True,
        key: Key | None = None,
        domain: str | None = None,
        user_info: PostUserInfo | None = None,
    ) -> int:
        """Contribute a Refresh/Update (``message``) on a stream (or off-stream on the login
        id with ``key``). Returns the PostID (allocated if not given) that the Ack carries."""
        if post_id is None:
            self._post_ids += 1
            post_id = self._post_ids
        self._out.append(
            Post(
                id=stream_id,
                domain=domain,
                key=key,
                message=message,
                ack=True if ack else None,
                post_id=post_id,
                post_user_info=user_info,
            )
        )
        return post_id

    def send_generic(self, message: Generic) -> None:
        self._out.append(message)

    def send_raw(self, data: bytes) -> None:
        """Queue an already-encoded frame (tests and tools)."""
        self._out.append(data)

    # -- output -----------------------------------------------------------------------------

    @property
    def has_data_to_send(self) -> bool:
        """True when :meth:`data_to_send` has frames to give (cheap: for the hot path)."""
        return bool(self._out)

    def data_to_send(self, now: float | None = None) -> list[bytes]:
        """Frames to write, in order. Several queued messages are packed into arrays that
        stay under MaxMsgSize; a lone message goes as a bare object like the vendor's
        clients send."""
        if not self._out:
            return []
        if now is not None:
            self.last_sent = now
        out, self._out = self._out, []
        return pack_frames(out, self.max_msg_size, bare_single=True, bytes_are_frames=True)

    # -- input ------------------------------------------------------------------------------

    def receive(self, data: str | bytes | bytearray | memoryview, now: float) -> list[Event]:
        """Process one received frame; returns the events it caused.

        An :class:`ItemUpdated` of a stream whose ``deliver`` is set goes to that callable
        instead, as long as no other event of the same frame is waiting in the list (so
        that the order of events per frame is kept)."""
        self.last_received = now
        fast: FastDecode | None = self.fast_decode
        msgs: Sequence[Any] | None = fast(data) if fast is not None else None
        if msgs is None:
            try:
                # The whole frame straight into typed structs, no copy.
                out = _FRAME_DECODER.decode(data)
            except Exception:  # bad UTF-8, odd Types, malformed messages: the general path
                try:
                    out = codec.decode(data)
                except DecodeError as exc:
                    raw = bytes(data[:200]) if not isinstance(data, str) else data[:200]
                    return [ProtocolViolation(str(exc), raw)]
            msgs = out if type(out) is list else (out,)
        self.messages_received += len(msgs)
        return self.dispatch(msgs, self.streams.lookup, self._on_other)

    def _on_other(self, msg: AnyMessage | Malformed, events: list[Event]) -> None:
        t = type(msg)
        if t is Refresh or t is Status:
            self._on_state_message(msg, events)  # type: ignore[arg-type]
        elif t is Ping:
            self._out.append(_PONG)
            events.append(PingReceived())
        elif t is Pong:
            events.append(PongReceived())
        elif t is Ack:
            events.append(AckReceived(msg))  # type: ignore[arg-type]
        elif t is Error:
            events.append(ErrorReceived(msg))  # type: ignore[arg-type]
        elif t is Generic:
            events.append(GenericReceived(msg))  # type: ignore[arg-type]
        elif t is Malformed:
            events.append(ProtocolViolation.from_malformed(msg))  # type: ignore[arg-type]
        else:
            events.append(ProtocolViolation(f"unexpected {t.__name__} message from server"))

    def _on_state_message(self, msg: Refresh | Status, events: list[Event]) -> None:
        if msg.id == self.login.id and (msg.domain in (None, "Login", 1)):
            self._on_login(msg, events)
            return
        s = self.streams.get(msg.id)
        if s is None:
            if isinstance(msg, Status) and self.streams.pop_batch(msg.id) is not None:
                events.append(BatchAcknowledged(msg))
            return
        if isinstance(msg, Refresh):
            # compact images go with the compiled dispatch (the one in use may be swapped),
            # built straight from the Fields by the compiled core where it takes the Refresh
            compact = s.interner.compact = self.dispatch is not _pure_dispatch
            if not (compact and _compiled_refresh is not None and _compiled_refresh(s, msg)):
                s.apply_refresh(msg)
            events.append(ItemRefreshed(s, msg))
        else:
            s.apply_status(msg)
            events.append(ItemStatus(s, msg))
        if s.phase is Phase.CLOSED and s.state is not None:
            self.streams.remove(s.id)
            events.append(StreamClosed(s, s.state))

    def _on_login(self, msg: Refresh | Status, events: list[Event]) -> None:
        what = self.login.receive(msg)
        state = self.login.state
        if what == "accepted":
            events.append(LoginAccepted(msg))  # type: ignore[arg-type]
            token = self._token
            if token is not None and self._sent_token is not None and token != self._sent_token:
                self._sent_token = token  # renewed while the login was on its way
                self._out.append(self.login.reissue(token))
            if self.after_login is not None:
                self._out.extend(self.after_login())
            self._send_unsent()
        elif what == "rejected" and state is not None:
            events.append(LoginDenied(state, msg))
        elif what == "closed" and state is not None:
            for s in self.streams:
                s.sent = False
            events.append(LoginClosed(state, msg))
        elif state is not None:
            events.append(LoginStateChanged(state))

    def _send_unsent(self) -> None:
        for s in self.streams:
            if not s.sent and s.phase is not Phase.CLOSED:
                s.phase = Phase.PENDING
                req = s.request
                if req.refresh is False:  # a new stream on this connection needs its image
                    s.request = req = msgspec.structs.replace(req, refresh=None)
                self._out.append(req)
                s.sent = True

    # -- time -------------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """When :meth:`tick` next has something to do."""
        pt = self.ping_timeout
        return min(self.last_sent + pt / 3, self.last_received + pt * self.dead_after_pings)

    def tick(self, now: float) -> list[Event]:
        """Send a Ping after PingTimeout/3 of our own silence; declare the connection dead
        after ``dead_after_pings`` x PingTimeout without receiving anything."""
        pt = self.ping_timeout
        silence = now - self.last_received
        if silence >= pt * self.dead_after_pings:
            return [ConnectionDead(silence)]
        if now - self.last_sent >= pt / 3:
            self._out.append(_PING)
        return []


if CORE == "compiled" and _compiled_receiver is not None:
    # one compiled call per frame of Updates (or Refreshes); the method above for the rest
    ClientProtocol.receive = _compiled_receiver(ClientProtocol)  # type: ignore[method-assign,assignment]


def _domain_name(domain: str | int | None) -> str:
    from .enums import DOMAIN_NAMES

    if domain is None:
        return "MarketPrice"
    if isinstance(domain, int):
        return DOMAIN_NAMES.get(domain, str(domain))
    return domain


def is_final(state: str) -> bool:
    return state in FINAL_STREAM_STATES
