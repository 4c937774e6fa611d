"""The server side of one WebSocket connection, with no I/O: frames in, frames out.

A :class:`ServerConnection` is what the simulated ADS does for one client, in the style of
the client core (:class:`~ertcloud.protocol.client.ClientProtocol`):

* :meth:`ServerConnection.receive_data` takes one received text or binary frame: it is read
  by :func:`ertcloud.protocol.validate.read_client_frame` and each message is handled
  (logins, item requests of every domain, closes, posts, generics, pings, pongs);
* :meth:`ServerConnection.data_to_send` packs the messages queued since (answers and the
  updates the server pushed) into JSON arrays of at most ``MaxMsgSize`` bytes, with the
  frame packer the client core uses (:func:`ertcloud.protocol.framing.pack_frames`);
* :meth:`ServerConnection.tick` is the timer: Pings, the liveness drop, token expiry;
* :meth:`ServerConnection.request_close` records that the connection is to be closed
  (``close_after``) -- closing is the driver's job.

Time is passed in as ``now``. The driver is :class:`ertcloud.sim.session.ClientSession`
(the aiohttp handler's send queue and writer); tests drive this class with no socket.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ..protocol import codec
from ..protocol.dictionary import Dictionary, builtin
from ..protocol.enums import DOMAIN_NAMES
from ..protocol.fields import ENUM, INT, REAL, UINT
from ..protocol.framing import pack_frames
from ..protocol.messages import (
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
    Qos,
    Refresh,
    Request,
    State,
    Status,
    Update,
)
from ..protocol.standby import (
    CONNECTION_STATUS,
    STANDBY,
    WARM_STANDBY_SUPPORT,
    warm_standby_mode,
)
from ..protocol.streams import RIPPLES
from ..protocol.validate import CONVERTER_FILE, read_client_frame
from .dictionary import dictionary_messages
from .domains import (
    book_summary,
    directory_refresh,
    market_maker_entries,
    split_refresh,
)
from .market import Instrument
from .news import MRN_ITEMS
from .symbols import SymbolList

if TYPE_CHECKING:
    from .ads import StreamingServer

__all__ = ["NOT_FOUND", "ServerConnection", "Stream"]

log = logging.getLogger("ertcloud.sim")

_PONG = codec.encode_one(Pong())
_PING = codec.encode_one(Ping())
_REALTIME = Qos(timeliness="Realtime", rate="TickByTick")
_DELAYED = Qos(timeliness="Delayed", rate="TickByTick", time_info=15)
_OK = State(stream="Open", data="Ok", text="All is well")

_MAP_DOMAINS = ("MarketByPrice", "MarketByOrder", "MarketMaker")
#: domains without a field list a View could select from
_VIEWLESS_DOMAINS = (*_MAP_DOMAINS, "SymbolList")
#: item requests held back before the Login Refresh (lenient login); more are refused
_MAX_PENDING = 1000


def _closed(text: str, code: str | None = None) -> State:
    """The state of a stream the server closes (or refuses): Closed, Suspect."""
    return State(stream="Closed", data="Suspect", code=code, text=text)


_UNKNOWN_SERVICE = _closed("A18: Unknown service.", "SourceUnknown")
#: the state of a request for an item that does not exist
NOT_FOUND = _closed("**The record could not be found", "NotFound")


@dataclass(eq=False)
class Stream:
    id: int
    ric: str
    instrument: Instrument  # a stand-in with an empty image for lists, curves, directory
    service: str
    domain: str
    view: frozenset[str] | None
    delayed: bool
    key_in_updates: bool = True
    paused: bool = False
    private: bool = False

    def update_key(self) -> Key | None:
        """The Key this stream's Updates carry (none if the request asked for none)."""
        return Key(service=self.service, name=self.ric) if self.key_in_updates else None


_NUMERIC = frozenset((REAL, INT, UINT))
_SPECIAL_REALS = frozenset(("Inf", "-Inf", "NaN"))


def _wrong_value(name: str, ftype: str, v: Any) -> str | None:
    """The converter's Error text for a posted value that its field's type cannot take."""
    if v is None or (ftype == ENUM and isinstance(v, (int, str)) and not isinstance(v, bool)):
        return None  # blank is valid for every type; an enum is a number or its display string
    numeric = ftype in _NUMERIC or ftype == ENUM
    if isinstance(v, (dict, list)) or (isinstance(v, str) != (not numeric)):
        if numeric and ftype == REAL and v in _SPECIAL_REALS:
            return None
        got = "OBJECT" if isinstance(v, dict) else "ARRAY" if isinstance(v, list) else None
        got = got or ("STRING" if isinstance(v, str) else "PRIMITIVE")
        want = "PRIMITIVE" if numeric else "STRING"
        return (
            f"JSON Converter Token Type error: Expected '{want}' for key '{name}' Received '{got}'"
        )
    if isinstance(v, bool) or (
        ftype in (INT, UINT) and (not isinstance(v, int) or (ftype == UINT and v < 0))
    ):
        text = msgspec.json.encode(v).decode()
        return f"JSON Unexpected Value. Received '{text}' for key '{name}'"
    return None


@dataclass
class _Held:
    """The Updates of one stream merged while its connection was congested."""

    names: set[str]
    seq: int | None
    count: int


class ServerConnection:
    """One client's connection to the streaming server, with no I/O (see the module)."""

    def __init__(self, server: StreamingServer, peer: str, now: float | None = None) -> None:
        self.server = server
        self.peer = peer
        self.streams: dict[int, Stream] = {}
        self.login_id: int | None = None
        self.user: str | None = None
        self.token_expires_at: float | None = None
        now = time.monotonic() if now is None else now
        #: when a frame last came in and (set by the driver) last went out
        self.last_in = self.last_out = now
        self.ping_sent_at: float | None = None
        self.out: list[Message | bytes] = []
        self.closed = False
        #: False once the login was closed: the ADS stops serving the connection (8.3)
        self.serving = True
        #: seconds after which the driver is to close the connection (None: stay open)
        self.close_after: float | None = None
        self.pongs = 0
        self.pings_sent = 0
        self.messages_in = 0
        #: item requests that came before the Login Refresh (lenient login, A11)
        self.pending: list[Request] = []
        #: updates held back while congested (conflate policy), by stream id
        self._held: dict[int, _Held] = {}
        #: warm standby mode set by the client's ConsumerConnectionStatus Generic: a
        #: standby connection gets header-only Refreshes and Status, no Updates
        self.standby = False

    # -- output --------------------------------------------------------------------------

    def queue(self, msg: Message) -> None:
        self.out.append(msg)

    @property
    def holding(self) -> bool:
        """True while Updates are held back (merged) for a congested connection."""
        return bool(self._held)

    def discard_held(self) -> None:
        """Forget the Updates held back (the connection is being dropped)."""
        self._held.clear()

    def data_to_send(self, congested: bool = False) -> list[bytes]:
        """The frames of everything queued since the last call, in order.

        ``congested``: the driver's send queue is over its bound, so Updates are merged
        per stream (conflate) or discarded (drop) until :meth:`release_held`.
        """
        if not self.out or self.closed:
            self.out.clear()
            return []
        out, self.out = self.out, []
        if congested or self._held:
            out = self._thin(out)
        return self._pack(out)

    def request_close(self, delay: float = 0.0) -> None:
        """Ask the driver to close the connection (no JSON goodbye) after ``delay`` s."""
        if self.close_after is None or delay < self.close_after:
            self.close_after = delay

    def _thin(self, out: list[Message | bytes]) -> list[Message | bytes]:
        """A congested connection: its Updates are merged per stream (conflate) or
        discarded (drop); everything else still goes out in order."""
        conflate = self.server.config.slow_consumer == "conflate"
        kept: list[Message | bytes] = []
        for m in out:
            if type(m) is Update and m.id in self.streams:
                if conflate:
                    held = self._held.get(m.id)
                    if held is None:
                        self._held[m.id] = _Held(set(m.fields or ()), m.seq_number, 1)
                    else:
                        held.names.update(m.fields or ())
                        held.seq = m.seq_number
                        held.count += 1
                    self.server.conflated += 1
                else:
                    self.server.dropped_updates += 1
                continue
            if type(m) in (Refresh, Status):
                self._held.pop(getattr(m, "id", 0), None)  # superseded by the new image/state
            kept.append(m)
        return kept

    def release_held(self) -> list[bytes]:
        """The driver's queue drained: the frames of each conflated stream's merged state
        (MarketPrice: one Update with the current values and ``DoNotRipple``; other
        domains: a new image)."""
        held, self._held = self._held, {}
        out: list[Message | bytes] = []
        for sid, h in held.items():
            s = self.streams.get(sid)
            if s is None:
                continue
            if s.domain != "MarketPrice":
                out.extend(self._images(s, solicited=False))
                continue
            image = s.instrument.image
            names = set(h.names)
            for f in h.names:
                names.update(RIPPLES.get(f, ()))
            if s.view is not None:
                names &= s.view
            fields = {n: image.get(n) for n in names if n in image}
            if not fields:
                continue
            out.append(
                Update(
                    id=sid,
                    update_type="Unspecified",
                    key=s.update_key(),
                    seq_number=h.seq,
                    do_not_ripple=True,
                    conflation_info={"Count": h.count, "Time": 0} if h.count > 1 else None,
                    fields=fields,
                )
            )
        return self._pack(out)

    def _pack(self, out: list[Message | bytes]) -> list[bytes]:
        cfg = self.server.config
        return pack_frames(out, cfg.max_msg_size, max_count=cfg.max_per_frame)

    # -- input ---------------------------------------------------------------------------

    def receive_data(self, data: str | bytes, now: float | None = None) -> None:
        """Handle one received frame; the answers wait in :attr:`out`."""
        self.last_in = time.monotonic() if now is None else now
        self.ping_sent_at = None
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
        if size > self.server.config.max_msg_size:
            log.info("%s sent %d bytes > MaxMsgSize: dropping it", self.peer, size)
            self.serving = False
            self.request_close(0)
            return
        if not self.serving:
            return  # the login is closed and the connection about to be dropped
        msgs = read_client_frame(data, catch_unknown_keys=self.server.config.catch_unknown_keys)
        for i, msg in enumerate(msgs):
            self.messages_in += 1
            refused = self._bad_stream_id(msg, data, i)
            self.handle(msg if refused is None else refused)

    # -- time ----------------------------------------------------------------------------

    def tick(self, now: float, wall: float) -> None:
        """Liveness and token checks (``now`` monotonic, ``wall`` the gateway's clock):
        a Ping after a third of PingTimeout of silence, a close request for a client gone
        quiet, the login closed once its token expired (``ServerConfig.ping_mode``)."""
        if self.closed or self.close_after is not None:
            return
        cfg = self.server.config
        pt = cfg.ping_timeout
        silent = now - self.last_in
        if cfg.ping_mode == "rssl":
            if silent >= pt:
                log.info("%s: no traffic for %.1f s: dropping", self.peer, silent)
                self.request_close(0)
                return
            if cfg.send_pings and now - self.last_out >= pt / 3 and not self.out:
                self.out.append(_PING)
                self.last_out = now
                self.ping_sent_at = now
                self.pings_sent += 1
        elif cfg.ping_mode == "spec":
            if self.ping_sent_at is not None and now - self.ping_sent_at >= pt:
                log.info("%s: no traffic for %.1f s after Ping: dropping", self.peer, silent)
                self.request_close(0)
                return
            if cfg.send_pings and self.ping_sent_at is None and silent >= pt / 3:
                self.out.append(_PING)
                self.ping_sent_at = now
                self.pings_sent += 1
        if (
            self.login_id is not None
            and self.token_expires_at is not None
            and wall >= self.token_expires_at + cfg.token_grace
        ):
            log.info("%s: token not renewed in time: closing login", self.peer)
            self.close_login()

    def _bad_stream_id(
        self, msg: AnyMessage | Error, frame: str | bytes, index: int
    ) -> Error | None:
        """The Error for a stream id a client may not use, or None.

        Client-opened streams have positive ids; negative ones belong to streams the
        server opens (the cookie auto-login's -1), so a Request, Post or Generic on a
        non-positive id other than such a stream is refused. A batch Close must name at
        least one id (its reply is sent on the first one)."""
        if isinstance(msg, Close):
            if msg.id != []:
                return None
            text = "JSON Unexpected Value. Received '[]' for key 'ID'"
            return self._id_error(0, text, frame, index)
        if not isinstance(msg, (Request, Post, Generic)):
            return None
        sid = msg.id
        if not isinstance(sid, int) or sid > 0 or sid == self.login_id:
            return None
        text = f"JSON Unexpected Value. Received '{sid}' for key 'ID'"
        return self._id_error(sid, text, frame, index)

    @staticmethod
    def _id_error(eid: int, text: str, frame: str | bytes, index: int) -> Error:
        """An Error in the converter's form: ``Debug.Message`` is the message as received
        (the whole frame when it is one object, else that member re-encoded)."""
        raw = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
        if not raw.lstrip().startswith("{"):
            raw = msgspec.json.encode(codec.decode_raw(raw)[index]).decode("utf-8", "replace")
        debug: dict[str, Any] = {"File": CONVERTER_FILE, "Line": 441}
        at = raw.find('"ID"')
        if at >= 0:
            debug["Offset"] = at + 5
        debug["Message"] = raw
        return Error(id=eid, text=text, debug=debug)

    def handle(self, msg: AnyMessage | Error) -> None:
        t = type(msg)
        if t is Error:
            self.queue(msg)
        elif t is Ping:
            if self.server.config.answer_pings:
                self.out.append(_PONG)
        elif t is Pong:
            self.pongs += 1
        elif t is Request:
            self._request(msg)  # type: ignore[arg-type]
        elif t is Close:
            self._close_msg(msg)  # type: ignore[arg-type]
        elif t is Post:
            self._post(msg)  # type: ignore[arg-type]
        elif t is Generic:
            self._generic(msg)  # type: ignore[arg-type]
        else:
            mid = getattr(msg, "id", 0)
            self.queue(
                Error(id=mid if isinstance(mid, int) else 0, text="Unsupported Message Type")
            )

    # -- login ---------------------------------------------------------------------------

    def _is_login(self, req: Request) -> bool:
        return req.domain in ("Login", 1)

    def _login(self, req: Request) -> None:
        cfg = self.server.config
        key = req.key or Key()
        elements = dict(key.elements or {})
        token = elements.get("AuthenticationToken")
        reissue = self.login_id is not None and req.id == self.login_id
        if self.login_id is not None and not reissue:
            # One login per connection: a second one on another id is refused, the first stays.
            self._status(
                req.id,
                None,
                None,
                _closed(
                    f"Login rejected: a login is already open on stream {self.login_id}",
                    "UsageError",
                ),
                "Login",
            )
            return
        if req.streaming is False:
            self._reject_login(
                req, "Login rejected: a Login request must be streaming", "UsageError"
            )
            return
        if token is None and not (cfg.allow_user_login and key.name):
            self._reject_login(req, "Login rejected: no AuthenticationToken", "NotEntitled")
            return
        if token is not None:
            info, why = self.server.gateway.check(str(token))
            if info is None:
                self._reject_login(req, f"Login rejected: {why}", "NotEntitled")
                return
            user = info.user
            expires = info.expires_at
        else:
            user = str(key.name)
            expires = None
        if reissue and user != self.user:
            self._reject_login(req, "Login rejected: token belongs to another user", "NotEntitled")
            return
        if not reissue and not self.server.allow_login(user):
            # RTO answers clients that reconnect too aggressively like this (observed).
            self._reject_login(req, "Login rejected. Already pending login.", "UsageError")
            return
        self.user = user
        self.login_id = req.id
        self.token_expires_at = expires
        if reissue and req.refresh is False:
            return  # token reissue: nothing comes back
        refresh_key = dict(elements)
        refresh_key.pop("AuthenticationToken", None)
        refresh_key.update(
            {
                "AllowSuspectData": 1,
                "ApplicationId": str(elements.get("ApplicationId", "256")),
                "ApplicationName": "ADS",
                "Position": str(elements.get("Position", self.peer)),
                "ProvidePermissionExpressions": 1,
                "ProvidePermissionProfile": 0,
                "SingleOpen": 1,
                "SupportBatchRequests": 7,
                "SupportEnhancedSymbolList": 1,
                "SupportOMMPost": 1 if cfg.support_post else 0,
                "SupportOptimizedPauseResume": 0,
                "SupportPauseResume": 1 if cfg.pause_resume else 0,
                "SupportStandby": 1 if cfg.support_standby else 0,
                "SupportViewRequests": 1,
            }
        )
        if cfg.support_standby:
            refresh_key["SupportStandbyMode"] = WARM_STANDBY_SUPPORT
        if token is not None:
            refresh_key["AuthenticationErrorCode"] = 0
            refresh_key["AuthenticationErrorText"] = {"Type": "AsciiString", "Data": None}
            refresh_key["AuthenticationTTReissue"] = int(expires or 0)
        name = user if token is None else f"{user}@sim-{id(self) & 0xFFFF:04x}"
        self.queue(
            Refresh(
                id=req.id,
                domain="Login",
                key=Key(name=name, elements=dict(sorted(refresh_key.items()))),
                elements={"MaxMsgSize": cfg.max_msg_size, "PingTimeout": cfg.ping_timeout},
                state=State(
                    stream="Open", data="Ok", text=f"Login accepted by host {cfg.host_name}."
                ),
            )
        )
        held, self.pending = self.pending, []
        for r in held:  # the requests a lenient login held back, in the order they came
            self._request(r)

    def _reject_login(self, req: Request, text: str, code: str) -> None:
        elements: dict[str, Any] = {
            "AuthenticationErrorCode": 1,
            "AuthenticationErrorText": text.split(": ", 1)[-1],
        }
        self.queue(
            Status(
                id=req.id,
                domain="Login",
                key=Key(name_type="AuthnToken", elements=elements),
                state=_closed(text, code),
            )
        )
        self._stop_serving()

    def _stop_serving(self) -> None:
        """After a closed login: answer nothing more, drop the connection shortly."""
        self.drop_all_streams()
        self.pending.clear()
        self.login_id = None
        self.serving = False
        self.request_close(0.2)

    def close_login(
        self, text: str = "Login stream was closed.", code: str | None = "NotEntitled"
    ) -> None:
        """Close the login stream (and with it every item) and then the connection."""
        if self.login_id is not None:
            self.queue(
                Status(
                    id=self.login_id,
                    domain="Login",
                    state=_closed(text, code),
                )
            )
        self._stop_serving()

    # -- items ---------------------------------------------------------------------------

    def _request(self, req: Request) -> None:
        if self._is_login(req):
            self._login(req)
            return
        names = req.key.name if req.key is not None else None
        if req.id == self.login_id:
            # A reissue of the login stream in another domain. The ADS's answer is not
            # published; refusing it and keeping the login open is the safe choice.
            self._status(
                req.id,
                names if isinstance(names, str) else None,
                None,
                _closed("Domain change not allowed on reissue", "UsageError"),
                req.domain,
            )
            return
        if self.login_id is None and not self.server.config.strict_login:
            if len(self.pending) < _MAX_PENDING:
                # lenient login (A11): served once the Login Refresh has gone out
                self.pending.append(req)
                return
        if self.login_id is None:
            for sid, name in self._ids(req, names):
                self.queue(
                    Status(
                        id=sid,
                        key=Key(name=name) if name is not None else None,
                        state=_closed("Login not complete", "NotOpen"),
                    )
                )
            return
        if isinstance(names, list):
            n = len(names)
            text = f"Processed {n} total items from Batch Request.  {n} Ok."
            self.queue(Status(id=req.id, state=State(stream="Closed", data="Ok", text=text)))
            for sid, name in self._ids(req, names):
                self._open_item(req, sid, name)
        else:
            self._open_item(req, req.id, names)

    @staticmethod
    def _ids(req: Request, names: Any) -> list[tuple[int, str | None]]:
        if isinstance(names, list):
            return [(req.id + i, str(n)) for i, n in enumerate(names, start=1)]
        return [(req.id, names if isinstance(names, str) else None)]

    def _status(
        self, sid: int, name: str | None, service: str | None, state: State, domain: Any = None
    ) -> None:
        self.queue(Status(id=sid, domain=domain, key=Key(name=name, service=service), state=state))

    def _open_item(self, req: Request, sid: int, name: str | None) -> None:
        server = self.server
        cfg = server.config
        domain = req.domain if req.domain is not None else "MarketPrice"
        if isinstance(domain, int):
            dname = DOMAIN_NAMES.get(domain)
            if dname is None:
                self._status(
                    sid,
                    name,
                    None,
                    _closed(f"Unsupported domain {domain}", "UsageError"),
                    domain,
                )
                return
            domain = dname
        service = self._service(req.key)
        if service is None:
            self._status(sid, name, None, _UNKNOWN_SERVICE)
            return
        if domain == "Source":
            self._directory(req, sid)
            return
        if domain == "Dictionary":
            self.out.extend(
                dictionary_messages(
                    sid,
                    req.key,
                    service,
                    streaming=req.streaming is not False,
                    part_entries=cfg.dictionary_part_entries,
                    serve=cfg.serve_dictionary,
                    dictionary=self.dictionary,
                )
            )
            return
        if name is None:
            self.queue(Error(id=sid, text="JSON Missing required key 'Name'"))
            return
        existing = self.streams.get(sid)
        if existing is not None:
            changed = (
                "Key"
                if existing.ric != name or existing.service != service
                else "Domain"
                if existing.domain != domain
                else None
            )
            if changed is not None:
                # The Status closes the stream: the old item stops updating on this id.
                self._close_stream(sid)
                self._status(
                    sid,
                    name,
                    None,
                    _closed(f"{changed} change not allowed on reissue", "UsageError"),
                )
                return
            self._reissue(existing, req)
            return
        dom = None if domain == "MarketPrice" else domain
        inst = self._resolve(domain, name)
        if inst is None:
            exists = domain in ("SymbolList", "YieldCurve") or server.market.get(name) is not None
            state = (
                _closed(f"Domain {domain} is not served for this item", "NotFound")
                if exists and domain not in ("SymbolList", "YieldCurve")
                else NOT_FOUND
            )
            self._status(sid, name, service, state, dom)
            return
        denied = cfg.entitlements.get(self.user or "", frozenset())
        if name in denied or name.lstrip("/") in denied:
            self._status(
                sid,
                name,
                service,
                _closed("Access denied", "NotEntitled"),
                dom,
            )
            return
        delayed = name.startswith("/")
        if req.qos is not None and req.qos.timeliness == "Realtime" and delayed:
            self._status(
                sid,
                name,
                service,
                _closed("Requested QoS not available"),
                dom,
            )
            return
        streaming = req.streaming is not False
        other = self._open_elsewhere(name, service, domain) if cfg.already_open else None
        if other is not None and streaming and not req.private:
            state = _closed(
                f"Item already open on this connection (stream {other.id})", "AlreadyOpen"
            )
            self._status(sid, name, service, state, dom)
            return
        view: frozenset[str] | None = None
        if req.view:
            got = self._view_of(domain, name, inst, req.view)
            if isinstance(got, State):
                self._status(sid, name, service, got, dom)
                return
            view = got
        stream = Stream(
            sid,
            name,
            inst,
            service,
            domain,
            view,
            delayed,
            key_in_updates=req.key_in_updates is not False,
            private=bool(req.private),
        )
        parts = self._images(stream, streaming)
        self.out.append(parts[0])
        if streaming:
            self.streams[sid] = stream
            server.subscribe(self, stream)
            if len(parts) > 1 and domain == "MarketByOrder" and server.config.interleave_refresh:
                server.interleave(inst)  # conformance I02: an Update before the last part
        self.out.extend(parts[1:])

    def _open_elsewhere(self, name: str, service: str, domain: str) -> Stream | None:
        """The stream (not private) of this connection that has this item open, if any."""
        for o in self.streams.values():
            if o.ric == name and o.service == service and o.domain == domain and not o.private:
                return o
        return None

    def _view_of(
        self, domain: str, ric: str, inst: Instrument, view: list[Any]
    ) -> frozenset[str] | State:
        """The fields a View selects, or the State that refuses it.

        A View selects fields of a field list (a "Level 1" record, spec 8.1): the fields of
        a MarketPrice record, and the top-level fields of a YieldCurve (whose refresh
        "contains all fields requested by the view", spec 34.4). The Map domains
        (MarketByPrice, MarketByOrder, MarketMaker, SymbolList) have no such list: a View
        there is refused with ``UnsupportedViewType``. Unknown names and FIDs are dropped;
        a View left with nothing is ``InvalidView``."""
        if domain in _VIEWLESS_DOMAINS:
            return _closed(f"View is not supported on the {domain} domain", "UnsupportedViewType")
        if domain == "YieldCurve":
            available = self.server.curves[ric].image().keys()
        else:
            available = inst.image.keys()
        names: set[str] = set()
        lookup = self.dictionary.lookup
        for v in view:
            fd = lookup(v)
            if fd is not None:
                names.add(fd.name)
            elif isinstance(v, str):
                names.add(v)  # a curve's fields are not all in the field dictionary
        selected = frozenset(names & available)
        if not selected:
            return _closed("Requested view has no valid field", "InvalidView")
        return selected

    @property
    def dictionary(self) -> Dictionary:
        """The field dictionary of the server: it serves it, and Views and posts follow it."""
        return self.server.config.dictionary or builtin()

    def _service(self, key: Key | None) -> str | None:
        """The name of the service a key asks for (the default when it names none)."""
        cfg = self.server.config
        svc = key.service if key is not None else None
        if svc is None:
            return cfg.default_service
        if isinstance(svc, int):
            return next((n for n, i in cfg.services.items() if i == svc), None)
        return svc if svc in cfg.services else None

    def _close_stream(self, sid: int) -> None:
        s = self.streams.pop(sid, None)
        if s is not None:
            self.server.unsubscribe(self, s)

    def _resolve(self, domain: str, name: str) -> Instrument | None:
        """The record behind ``name`` in ``domain`` (a stand-in for lists and curves)."""
        server = self.server
        if domain in ("SymbolList", "YieldCurve"):
            table = server.symbols.lists if domain == "SymbolList" else server.curves
            return Instrument(name, domain, {}) if name in table else None
        if domain == "NewsTextAnalytics":
            return Instrument(name, domain, {}) if name in MRN_ITEMS else None
        inst = server.market.get(name)
        if inst is None or domain == "MarketPrice":
            return inst
        if domain in _MAP_DOMAINS and server.book(inst.ric) is not None:
            return inst
        return None

    def _directory(self, req: Request, sid: int) -> None:
        cfg = self.server.config
        svc = req.key.service if req.key is not None else None
        services = {n: i for n, i in cfg.services.items() if svc is None or svc == n or svc == i}
        streaming = req.streaming is not False
        self.queue(
            directory_refresh(
                sid,
                services,
                filter_=req.key.filter if req.key is not None else None,
                streaming=streaming,
                private=bool(req.private),
            )
        )
        if streaming:
            stand_in = Instrument("", "Source", {})
            self.streams[sid] = Stream(sid, "", stand_in, "", "Source", None, False)

    def _images(self, s: Stream, streaming: bool = True, solicited: bool = True) -> list[Refresh]:
        """The refresh (parts) of a stream's current image; on a warm standby connection
        one header-only Refresh (no payload)."""
        parts = self._full_images(s, streaming, solicited)
        if self.standby:
            return [msgspec.structs.replace(parts[0], fields=None, map=None, complete=None)]
        return parts

    def set_standby(self, standby: bool) -> None:
        """Switch the warm standby mode. A standby made active is sent an unsolicited full
        Refresh of every open item, then Updates resume (no re-subscribe needed)."""
        was, self.standby = self.standby, standby
        log.info("%s: warm standby mode %s", self.peer, "standby" if standby else "active")
        if was and not standby:
            for st in self.streams.values():
                if st.domain != "Source" and not st.paused:
                    self.out.extend(self._images(st, solicited=False))

    def _full_images(self, s: Stream, streaming: bool, solicited: bool) -> list[Refresh]:
        server = self.server
        if s.domain == "MarketPrice":
            return [self.image_refresh(s, streaming, s.private, solicited)]
        state = _OK if streaming else State(stream="NonStreaming", data="Ok", text="All is well")
        first = Refresh(
            id=s.id,
            domain=s.domain,
            key=Key(service=s.service, name=s.ric),
            state=state,
            solicited=None if solicited else False,
            qos=_DELAYED if s.delayed else _REALTIME,
            perm_data="AwO9ZWLA",
            seq_number=server.current_seq(s.ric),
            private=True if s.private else None,
        )
        if s.domain == "NewsTextAnalytics":
            first.fields = server.news.envelope(s.ric)
            return [first]
        if s.domain == "YieldCurve":
            image = server.curves[s.ric].image()
            first.fields = image if s.view is None else {k: image.get(k) for k in s.view}
            return [first]
        if s.domain == "SymbolList":
            sl = server.symbols.lists[s.ric]
            members = sl.members(server.market)
            if sl.ranked:
                server.list_last[s.ric] = members
            entries = SymbolList.entries(members)
            summary = sl.summary()
        else:
            book = server.books[s.instrument.ric]
            if s.domain == "MarketByPrice":
                entries = book.mbp_entries()
            elif s.domain == "MarketByOrder":
                entries = book.mbo_entries()
            else:
                table = book.market_makers()
                server.mm_last[s.instrument.ric] = table
                entries = market_maker_entries(table)
            summary = book_summary(s.instrument.image, server.market.stamp()[1])
        first.map = {"KeyType": "Buffer", "CountHint": len(entries), "Summary": {"Fields": summary}}
        return split_refresh(first, entries, server.config.max_msg_size)

    def image_refresh(
        self, s: Stream, streaming: bool, private: bool = False, solicited: bool = True
    ) -> Refresh:
        """A MarketPrice stream's Refresh with its current image (its View applied)."""
        image = s.instrument.image
        fields = dict(image) if s.view is None else {k: image.get(k) for k in s.view}
        return Refresh(
            id=s.id,
            key=Key(service=s.service, name=s.ric),
            state=_OK if streaming else State(stream="NonStreaming", data="Ok", text="All is well"),
            solicited=None if solicited else False,
            qos=_DELAYED if s.delayed else _REALTIME,
            perm_data="AwO9ZWLA",
            seq_number=self.server.current_seq(s.instrument.ric),
            private=True if private else None,
            fields=fields,
        )

    def _reissue(self, s: Stream, req: Request) -> None:
        if req.view:
            got = self._view_of(s.domain, s.ric, s.instrument, req.view)
            if isinstance(got, State):  # the refused reissue closes the stream
                self._close_stream(s.id)
                dom = None if s.domain == "MarketPrice" else s.domain
                self._status(s.id, s.ric, s.service, got, dom)
                return
            s.view = got
        elif req.view is not None:
            s.view = None  # an empty View: back to the whole record
        if self.server.config.pause_resume:
            s.paused = bool(req.pause)
        # else Pause is ignored, as the Login Refresh says (SupportPauseResume: 0, like RTO).
        if req.streaming is False:  # a snapshot now ends the stream: NonStreaming, id free
            self._close_stream(s.id)
            self.out.extend(self._images(s, streaming=False))
        elif req.refresh is not False:
            self.out.extend(self._images(s))

    def _close_msg(self, msg: Close) -> None:
        ids = msg.id if isinstance(msg.id, list) else [msg.id]
        if self.login_id is not None and self.login_id in ids:
            self.drop_all_streams()
            self.login_id = None
            self.serving = False
            self.request_close(0.05)
            return
        for sid in ids:
            self._close_stream(sid)
        if self.pending:
            self.pending = [r for r in self.pending if r.id not in ids]
        if isinstance(msg.id, list):
            n = len(ids)
            self.queue(
                Status(
                    id=ids[0] if ids else 0,
                    state=State(
                        stream="Closed",
                        data="Ok",
                        text=f"Processed {n} total stream ids from Batch Close Request.  {n} Ok. ",
                    ),
                )
            )

    def drop_all_streams(self) -> None:
        """Unsubscribe every stream of this connection."""
        for s in self.streams.values():
            self.server.unsubscribe(self, s)
        self.streams.clear()

    def _post(self, msg: Post) -> None:
        inner = msg.message if isinstance(msg.message, dict) else {}
        fields = inner.get("Fields")
        if isinstance(fields, dict):
            lookup = self.dictionary.lookup
            for k, v in fields.items():
                fd = lookup(k)
                if fd is None:
                    self._post_error(msg, f"JSON Unexpected FID. Received '{k}' for key 'Fields'")
                    return
                wrong = _wrong_value(k, fd.type, v)
                if wrong is not None:
                    self._post_error(msg, wrong)
                    return
        cfg = self.server.config
        target = msg.key.name if msg.id == self.login_id and msg.key is not None else None
        if target is None and msg.id in self.streams:
            target = self.streams[msg.id].ric
        denied = cfg.entitlements.get(self.user or "", frozenset())
        off_stream = msg.id == self.login_id
        refusal = (
            ("DeniedBySrc", "Posting is not supported by this service")
            if not cfg.support_post
            else ("InvalidContent", "Post carries no Message")
            if msg.message is None
            else ("SourceUnknown", "A18: Unknown service.")
            if off_stream
            and self._service(msg.key) is None
            and (msg.key is None or msg.key.service not in cfg.post_services)
            else ("AccessDenied", "Not permissioned to post to this item")
            if isinstance(target, str) and (target in denied or target.lstrip("/") in denied)
            else None
        )
        if refusal is not None:
            if msg.ack:
                self.queue(
                    Ack(
                        id=msg.id,
                        ack_id=msg.post_id or 0,
                        key=msg.key,
                        nak_code=refusal[0],
                        text=refusal[1],
                    )
                )
            return
        market = self.server.market
        is_refresh = inner.get("Type") == "Refresh"
        created = False
        if off_stream:
            name = msg.key.name if msg.key is not None else None
            inst = market.get(name) if isinstance(name, str) else None
            if inst is None and is_refresh and self.server.config.post_creates and name:
                inst = market.create(str(name), dict(fields or {}))
                created = True
            ack_key = msg.key
        else:
            s = self.streams.get(msg.id)
            inst = s.instrument if s is not None and s.domain == "MarketPrice" else None
            ack_key = None
        if inst is None:
            if msg.ack:
                code = "SymbolUnknown" if off_stream else "NotOpen"
                self.queue(
                    Ack(
                        id=msg.id,
                        ack_id=msg.post_id or 0,
                        key=ack_key,
                        nak_code=code,
                        text="Symbol unknown" if off_stream else "Stream not open",
                    )
                )
            return
        if msg.ack and msg.complete is not False:  # the Ack, then the Update it caused (F01)
            self.queue(Ack(id=msg.id, ack_id=msg.post_id or 0, key=ack_key))
        if isinstance(fields, dict) and fields and not created:
            if is_refresh:
                self.server.publish_refresh(inst, dict(fields))
            else:
                self.server.publish(inst, "Unspecified", dict(fields))

    def _post_error(self, msg: Post, text: str) -> None:
        debug = {
            "File": "Converter/jsonToRwfSimple.C",
            "Line": 1020,
            "Message": codec.encode_one(msg).decode(),
        }
        self.queue(Error(id=msg.id, text=text, debug=debug))

    def _generic(self, msg: Generic) -> None:
        domain = msg.domain
        if (
            self.server.config.support_standby
            and msg.id == self.login_id
            and domain in ("Login", 1)
            and msg.key is not None
            and msg.key.name == CONNECTION_STATUS
        ):
            mode = warm_standby_mode(msg)
            if mode is not None:
                self.set_standby(mode == STANDBY)
            else:
                log.info("%s: ConsumerConnectionStatus without a WarmStandbyMode", self.peer)
            return  # no reply is expected
        if domain in (
            None,
            "MarketPrice",
            "MarketByPrice",
            "MarketByOrder",
            "MarketMaker",
            "YieldCurve",
            "SymbolList",
        ):
            if self.server.config.strict_generic:
                self.queue(Error(id=msg.id, text="Unsupported Message Type"))
            return  # Generic is not supported on the market-data domains: ignored
        # echoed as sent, payload and sequence numbers included (Complete: true is the default)
        self.queue(msgspec.structs.replace(msg, complete=None if msg.complete else msg.complete))

    # -- server pushes -------------------------------------------------------------------

    def push_update(
        self, s: Stream, utype: str, fields: dict[str, Any], seq: int, stamp: int | None
    ) -> None:
        if s.paused or self.standby:
            return
        fields = _in_view(fields, s.view)
        if not fields:
            return
        self.out.append(
            Update(
                id=s.id,
                update_type=utype,
                key=s.update_key(),
                seq_number=seq,
                fields=fields,
                sim_ts=stamp,
            )
        )

    def push_container(
        self,
        s: Stream,
        seq: int,
        *,
        entries: list[dict[str, Any]] | None = None,
        summary: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        utype: str = "Unspecified",
    ) -> None:
        """An Update of a Map domain (``entries``, ``summary``) or of a YieldCurve
        (``fields`` holding Vectors)."""
        if s.paused or self.standby:
            return
        if fields is not None:
            fields = _in_view(fields, s.view)
            if not fields:
                return
        cmap: dict[str, Any] | None = None
        if entries is not None:
            cmap = {"KeyType": "Buffer", "Entries": entries}
            if summary:
                cmap["Summary"] = {"Fields": summary}
        self.out.append(
            Update(
                id=s.id,
                domain=s.domain,
                update_type=utype,
                key=s.update_key(),
                seq_number=seq,
                fields=fields,
                map=cmap,
            )
        )

    def push_news(self, s: Stream, fields: dict[str, Any], seq: int) -> None:
        """One fragment of an MRN story: Domain set, not cached, not conflated."""
        if not (s.paused or self.standby):
            self.out.append(
                Update(
                    id=s.id,
                    domain=s.domain,
                    update_type="Unspecified",
                    key=s.update_key(),
                    seq_number=seq,
                    do_not_cache=True,
                    do_not_conflate=True,
                    do_not_ripple=True,
                    fields=fields,
                )
            )

    def push_refresh(self, s: Stream) -> None:
        """An unsolicited Refresh (the record was re-imaged, e.g. by a posted Refresh)."""
        if not (s.paused or self.standby):
            self.out.extend(self._images(s, solicited=False))


def _in_view(fields: dict[str, Any], view: frozenset[str] | None) -> dict[str, Any]:
    """The fields a View selects (all of them without a View)."""
    return fields if view is None else {k: v for k, v in fields.items() if k in view}
