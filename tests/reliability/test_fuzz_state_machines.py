"""Hostile input against both state machines, with no sockets: the client core
(:class:`ClientProtocol`) and the simulator's per-connection session.

Whatever arrives, neither raises: the client turns what it cannot read into
:class:`ProtocolViolation` events and keeps its streams; the server answers with the
protocol's Error message (or drops that one connection)."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import ClientProtocol, codec
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated, ProtocolViolation
from ertcloud.protocol.messages import Refresh, State
from ertcloud.protocol.streams import Phase
from ertcloud.sim.ads import ServerConfig, StreamingServer
from ertcloud.sim.gateway import Gateway
from ertcloud.sim.market import Market

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    # RMTES escape sequences and non-ASCII text as the real service sends them
    | st.sampled_from(["\x1b%0", "\x1b[0`", "Ünïcødé", "株式会社", "\x00", "\ud800x", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
types = st.sampled_from(
    [
        "Refresh",
        "Update",
        "Status",
        "Ping",
        "Pong",
        "Ack",
        "Error",
        "Generic",
        "Post",
        "Request",
        "Close",
        "Bogus",
        2,
        4,
        99,
        None,
        [],
        {},
    ]
)
keys = st.sampled_from(
    [
        "Fields",
        "Map",
        "State",
        "SeqNumber",
        "Domain",
        "Key",
        "Complete",
        "ClearCache",
        "Elements",
        "Solicited",
        "DoNotCache",
        "DoNotRipple",
        "Qos",
        "PermData",
        "AckID",
    ]
)
domains = st.sampled_from(["MarketPrice", "MarketByPrice", "Login", "Nonsense", 6, 8, 1, None])
state_values = st.fixed_dictionaries(
    {
        "Stream": st.sampled_from(["Open", "NonStreaming", "Closed", "ClosedRecover", "Bad", 3]),
        "Data": st.sampled_from(["Ok", "Suspect", "NoChange", None]),
    }
)
map_values = st.fixed_dictionaries(
    {},
    optional={
        "Entries": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "Action": st.sampled_from(["Add", "Update", "Delete", "X", 1]),
                        "Key": json_values,
                        "Fields": json_values,
                    },
                ),
                max_size=3,
            ),
            json_values,
        ),
        "Summary": json_values,
    },
)


# Built once: a strategy built inside the composite is rebuilt (and its properties worked
# out again) at every draw; the values and their odds are the same.
_booleans = st.booleans()
_plausible_types = st.sampled_from(["Refresh", "Update", "Status"])
_key_lists = st.lists(keys, max_size=5, unique=True)


@functools.cache
def _some_ids(ids: tuple[int, ...], plausible: bool) -> st.SearchStrategy[Any]:
    return st.sampled_from(ids) if plausible else st.sampled_from([*ids, 0, 1, -1, 2**40, "x"])


@st.composite
def hostile_message(draw: st.DrawFn, ids: list[int]) -> Any:
    plausible = draw(_booleans)
    msg: dict[str, Any] = {"ID": draw(_some_ids(tuple(ids), plausible))}
    t = draw(_plausible_types if plausible else types)
    if t is not None:
        msg["Type"] = t
    for k in draw(_key_lists):
        msg[k] = draw(state_values if k == "State" else map_values if k == "Map" else json_values)
    if draw(_booleans):
        msg["Domain"] = draw(domains)
    return msg


def _logged_in_client(names: list[str]) -> tuple[ClientProtocol, list[int]]:
    c = ClientProtocol()
    c.connection_made(0.0)
    c.start_login("token")
    c.data_to_send(0.0)
    c.receive(
        codec.encode([Refresh(id=c.login.id, domain="Login", state=State("Open", "Ok"))]), 0.0
    )
    streams = c.request(names, batch=False)
    c.data_to_send(0.0)
    return c, [s.id for s in streams]


_frame_counts = st.integers(1, 6)


@functools.cache
def _hostile_frames(ids: tuple[int, ...]) -> st.SearchStrategy[list[Any]]:
    return st.lists(hostile_message(list(ids)), min_size=1, max_size=4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_client_core_survives_hostile_frames(data: st.DataObject) -> None:
    c, ids = _logged_in_client(["TRI.N", "IBM.N", "0#BOOK"])
    for _ in range(data.draw(_frame_counts)):
        frame = data.draw(_hostile_frames(tuple(ids)))
        raw = json.dumps(frame if data.draw(_booleans) else frame[0]).encode(
            "utf-8", "surrogatepass"
        )
        if data.draw(_booleans):
            raw = raw.decode("utf-8", "surrogatepass").encode("latin-1", "replace")
        c.receive(raw, 1.0)  # must not raise
    # the client still works: a good refresh and update for a surviving stream apply
    live = [s for s in c.streams if s.phase is not Phase.CLOSED]
    for s in live:
        evs = c.receive(
            json.dumps(
                [
                    {
                        "Type": "Refresh",
                        "ID": s.id,
                        "State": {"Stream": "Open", "Data": "Ok"},
                        "Fields": {"BID": 1.5},
                    },
                    {"Type": "Update", "ID": s.id, "Fields": {"BID": 2.5}},
                ]
            ).encode(),
            2.0,
        )
        assert [type(e) for e in evs] == [ItemRefreshed, ItemUpdated]
        assert s.fields == {"BID": 2.5}


@given(
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_client_core_reports_garbage_as_violation(raw: bytes) -> None:
    c, _ = _logged_in_client(["TRI.N"])
    for ev in c.receive(raw, 1.0):
        assert not isinstance(ev, (ItemRefreshed, ItemUpdated)) or ev.stream.name == "TRI.N"


def test_map_with_wrong_types_is_ignored() -> None:
    c, [sid] = _logged_in_client(["0#BOOK"])
    c.receive(b'{"Type":"Refresh","ID":%d,"Map":{"Entries":5,"Summary":3}}' % sid, 1.0)
    c.receive(
        b'{"Type":"Update","ID":%d,"Map":{"Entries":[7,{"Action":"Add",'
        b'"Key":{"a":[1]},"Fields":5}]}}' % sid,
        1.0,
    )
    [s] = list(c.streams)
    assert s.map is not None and list(s.map.entries.values()) == [{}]


def test_updates_before_refresh_and_duplicate_refresh_keep_the_stream() -> None:
    c, [sid] = _logged_in_client(["TRI.N"])
    evs = c.receive(b'{"Type":"Update","ID":%d,"Fields":{"BID":1}}' % sid, 1.0)
    assert [type(e) for e in evs] == [ItemUpdated]
    refresh = b'{"Type":"Refresh","ID":%d,"State":{"Stream":"Open","Data":"Ok"},"Fields":{"ASK":2}}'
    c.receive(refresh % sid, 1.0)
    c.receive(refresh % sid, 1.0)  # a duplicate: same image again
    [s] = list(c.streams)
    assert s.phase is Phase.OPEN and s.fields == {"ASK": 2} and s.refreshes == 2
    evs = c.receive(b'{"Type":"Wat","ID":%d}' % sid, 1.0)
    assert [type(e) for e in evs] == [ProtocolViolation]
    assert s.phase is Phase.OPEN


class _Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed = False

    async def send(self, data: bytes) -> None:
        self.frames.append(data)

    async def close(self) -> None:
        self.closed = True


def _server() -> tuple[StreamingServer, str]:
    gw = Gateway(users={"demo": "demo"}, clients={})
    _, body = gw.token(
        "/auth/oauth2/v1/token",
        {
            "grant_type": "password",
            "username": "demo",
            "password": "demo",
            "client_id": "x",
            "scope": "trapi",
            "takeExclusiveSignOnControl": "true",
        },
        None,
    )
    return StreamingServer(Market(42), gw, ServerConfig()), str(body["access_token"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(hostile_message([1, 2, 3, 5]), min_size=1, max_size=4), max_size=5))
def test_server_session_answers_hostile_messages(frames: list[list[Any]]) -> None:
    async def run() -> None:
        server, token = _server()
        sink = _Sink()
        cs = server.connect(sink.send, sink.close, "fuzz")
        login = {"ID": 1, "Domain": "Login", "Key": {"Elements": {"AuthenticationToken": token}}}
        await cs.receive(json.dumps(login).encode())
        await cs.receive(b'{"ID":2,"Key":{"Name":"TRI.N"}}')
        for frame in frames:
            if cs.closed:
                break
            await cs.receive(json.dumps(frame).encode("utf-8", "surrogatepass"))
        for f in sink.frames:
            for m in json.loads(f):
                assert isinstance(m, dict) and "Type" in m
        server.forget(cs)

    asyncio.run(run())


def test_server_answers_garbage_with_error_and_keeps_the_connection() -> None:
    async def run() -> None:
        server, _token = _server()
        sink = _Sink()
        cs = server.connect(sink.send, sink.close, "fuzz")
        for bad in (b"not json", b"\xff\xfe\x00", b"42", b'[1, "x"]', b'{"Type":"Bogus","ID":3}'):
            await cs.receive(bad)
        replies = [m for f in sink.frames for m in json.loads(f)]
        assert replies and all(m["Type"] == "Error" for m in replies)
        assert not sink.closed
        await cs.receive(b"x" * (server.config.max_msg_size + 1))
        assert sink.closed  # over MaxMsgSize: that one connection is dropped

    asyncio.run(run())
