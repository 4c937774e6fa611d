"""ClientProtocol: login gating, batches, packing, close, reconnect, liveness, events."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ertcloud.protocol import ClientProtocol, LoginParams, codec, events
from ertcloud.protocol.client import DEFAULT_MAX_MSG_SIZE, DEFAULT_PING_TIMEOUT
from ertcloud.protocol.messages import (
    Ack,
    Close,
    Error,
    Generic,
    Key,
    Ping,
    Pong,
    Post,
    Priority,
    Refresh,
    Request,
    State,
    Status,
    Update,
)
from ertcloud.protocol.streams import Phase

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)

OK = State(stream="Open", data="Ok")


def login_refresh(**elements: Any) -> bytes:
    els = {"PingTimeout": 30, "MaxMsgSize": 61430, **elements}
    return codec.encode([Refresh(id=1, domain="Login", state=OK, elements=els)])


def frame(*msgs: Any) -> bytes:
    return codec.encode(list(msgs))


def sent(c: ClientProtocol, now: float | None = None) -> list[Any]:
    """Every message written, decoded, in order."""
    out: list[Any] = []
    for f in c.data_to_send(now):
        out.extend(codec.decode(f))
    return out


def connected(now: float = 0.0, token: str | None = "tok", **kw: Any) -> ClientProtocol:
    c = ClientProtocol(LoginParams(**kw))
    c.connection_made(now)
    c.start_login(token)
    return c


def logged_in(now: float = 0.0, **elements: Any) -> ClientProtocol:
    c = connected(now)
    c.data_to_send(now)
    evs = c.receive(login_refresh(**elements), now)
    assert isinstance(evs[0], events.LoginAccepted)
    assert c.data_to_send(now) == []
    return c


# -- login gating ----------------------------------------------------------------------------


def test_login_request_is_sent_first_as_bare_object() -> None:
    c = connected(token="abc")
    [f] = c.data_to_send(0.0)
    assert f.startswith(b"{")
    [req] = codec.decode(f)
    assert isinstance(req, Request)
    assert req.id == 1 and req.domain == "Login"
    assert req.key is not None and req.key.name_type == "AuthnToken"
    assert req.key.elements is not None
    assert req.key.elements["AuthenticationToken"] == "abc"


def test_requests_wait_for_the_login_refresh() -> None:
    c = connected()
    c.data_to_send(0.0)
    [s] = c.request("TRI.N", service="ELEKTRON_DD")
    assert not s.sent
    assert c.data_to_send(0.0) == []
    evs = c.receive(login_refresh(), 1.0)
    assert [type(e) for e in evs] == [events.LoginAccepted]
    msgs = sent(c)
    assert msgs == [Request(id=s.id, key=Key(name="TRI.N", service="ELEKTRON_DD"))]
    assert s.sent


def test_suspect_login_refresh_does_not_release_requests() -> None:
    c = connected()
    c.data_to_send(0.0)
    c.request("A")
    evs = c.receive(
        frame(Refresh(id=1, domain="Login", state=State(stream="Open", data="Suspect"))), 0.0
    )
    assert [type(e) for e in evs] == [events.LoginStateChanged]
    assert c.data_to_send(0.0) == []


def test_login_rejected_keeps_requests_unsent() -> None:
    c = connected()
    c.data_to_send(0.0)
    [s] = c.request("A")
    st = State(stream="Closed", data="Suspect", code="NotEntitled", text="bad token")
    evs = c.receive(frame(Status(id=1, domain="Login", state=st)), 0.0)
    assert evs == [events.LoginRejected(st, Status(id=1, domain="Login", state=st))]
    assert c.data_to_send(0.0) == []
    assert not s.sent
    assert s.id in c.streams


def test_second_login_refresh_is_not_a_new_session() -> None:
    c = logged_in()
    c.request("A")
    sent(c)
    evs = c.receive(login_refresh(), 1.0)
    assert [type(e) for e in evs] == [events.LoginStateChanged]
    assert c.data_to_send(1.0) == []


def test_login_elements_drive_ping_timeout_and_max_msg_size() -> None:
    c = connected()
    assert c.ping_timeout == DEFAULT_PING_TIMEOUT
    assert c.max_msg_size == DEFAULT_MAX_MSG_SIZE
    c.receive(login_refresh(PingTimeout=12, MaxMsgSize=4096), 0.0)
    assert c.ping_timeout == 12.0
    assert c.max_msg_size == 4096


def test_login_closed_mid_session() -> None:
    c = logged_in()
    [a] = c.request("A")
    sent(c)
    st = State(stream="Closed", data="Suspect", text="Login stream was closed.")
    evs = c.receive(frame(Status(id=1, domain="Login", state=st)), 1.0)
    assert [type(e) for e in evs] == [events.LoginClosed]
    assert evs[0].state == st
    assert not a.sent
    assert not c.login.is_open
    # nothing goes out on a closed login
    c.request("B")
    c.close([a])
    assert c.data_to_send(1.0) == []


def test_reissue_token() -> None:
    c = connected()
    c.data_to_send(0.0)
    c.reissue_token("early")  # login not open yet: nothing to send
    assert c.data_to_send(0.0) == []
    c.receive(login_refresh(), 0.0)
    # the token renewed while the login was on its way goes out as soon as it is accepted
    [early] = sent(c)
    assert isinstance(early, Request) and early.refresh is False and early.key is not None
    assert early.key.elements is not None
    assert early.key.elements["AuthenticationToken"] == "early"
    c.receive(login_refresh(), 0.0)  # a login Refresh again: nothing new to reissue
    assert sent(c) == []
    c.reissue_token("new")
    [req] = sent(c)
    assert isinstance(req, Request)
    assert req.id == 1 and req.domain == "Login" and req.refresh is False
    assert req.key is not None and req.key.elements is not None
    assert req.key.elements["AuthenticationToken"] == "new"
    assert c.login.is_open


def test_logout() -> None:
    c = logged_in()
    c.logout()
    assert sent(c) == [Close(id=1, domain="Login")]
    assert not c.login.is_open
    c.logout()  # already closed: nothing more
    assert c.data_to_send() == []


def test_logout_while_pending_and_idle() -> None:
    c = connected()
    c.data_to_send()
    c.logout()
    assert sent(c) == [Close(id=1, domain="Login")]
    idle = ClientProtocol()
    idle.logout()
    assert idle.data_to_send() == []


# -- requests and batches --------------------------------------------------------------------


def test_single_request_options() -> None:
    c = logged_in()
    [s] = c.request(
        "TRI.N",
        domain="MarketByPrice",
        view=["BID", 22],
        streaming=False,
        private=True,
        priority=Priority(class_=1, count=2),
        user="owner",
    )
    [req] = sent(c)
    assert req == Request(
        id=s.id,
        key=Key(name="TRI.N"),
        domain="MarketByPrice",
        view=["BID", 22],
        streaming=False,
        private=True,
        priority=Priority(class_=1, count=2),
    )
    assert s.domain == "MarketByPrice"
    assert s.user == "owner"
    assert not s.streaming
    assert s.request == req


def test_marketprice_domain_is_omitted() -> None:
    c = logged_in()
    c.request("A", domain=6)
    [f] = c.data_to_send()
    assert b"Domain" not in f


def test_numeric_domain_names_the_stream() -> None:
    c = logged_in()
    [s] = c.request("A", domain=8)
    assert s.domain == "MarketByPrice"


def test_batch_request_reserves_ids() -> None:
    c = logged_in()
    members = c.request(["TRI.N", "BAD.RIC", "IBM.N"], service="ELEKTRON_DD")
    [req] = sent(c)
    n = req.id
    assert req.key == Key(name=["TRI.N", "BAD.RIC", "IBM.N"], service="ELEKTRON_DD")
    assert [s.id for s in members] == [n + 1, n + 2, n + 3]
    assert [s.name for s in members] == ["TRI.N", "BAD.RIC", "IBM.N"]
    assert all(s.batch_id == n and s.sent for s in members)
    assert n not in c.streams
    # each member keeps its own single-item request for later re-sends
    assert members[1].request == Request(id=n + 2, key=Key(name="BAD.RIC", service="ELEKTRON_DD"))
    # next allocation is past the reserved range
    [nxt] = c.request("X")
    assert nxt.id > n + 3


def test_batch_members_hold_one_request_and_read_their_own() -> None:
    """The members of a batch share one request object (memory per item), yet each reads,
    re-sends, changes and pickles its own single-item request."""
    import pickle

    from ertcloud.protocol import streams

    c = logged_in()
    a, b = c.request(["A.N", "B.N"], service="SVC", view=["BID"])
    held = streams._REQUEST_SLOT.__get__
    assert type(held(a)) is streams.SharedRequest and held(a) is held(b)
    assert type(a.request) is Request
    key = Key(name="B.N", service="SVC")
    assert a.request == Request(id=a.id, key=Key(name="A.N", service="SVC"), view=["BID"])
    c.reissue(b, pause=True)
    assert b.request == Request(id=b.id, key=key, view=["BID"], pause=True)
    assert type(held(b)) is Request
    assert a.request.pause is None  # the other member's is unchanged
    copied = pickle.loads(pickle.dumps(a))
    assert copied.request == a.request and copied.name == "A.N"
    sent(c)
    c.connection_lost()
    c.connection_made(5.0)
    c.start_login("t")
    c.receive(login_refresh(), 5.0)
    assert [m for m in sent(c) if isinstance(m, Request) and m.id > 1] == [a.request, b.request]


def test_batch_status_is_acknowledged_once() -> None:
    c = logged_in()
    members = c.request(["TRI.N", "BAD.RIC", "IBM.N"])
    [req] = sent(c)
    n = req.id
    status = Status(
        id=n,
        state=State(
            stream="Closed", data="Ok", text="Processed 3 total items from Batch Request. 3 Ok."
        ),
    )
    evs = c.receive(frame(status), 1.0)
    assert evs == [events.BatchAcknowledged(status)]
    assert c.receive(frame(status), 1.0) == []
    # the members are unaffected and route by position
    assert all(s.id in c.streams for s in members)
    nf = State(stream="Closed", data="Suspect", code="NotFound")
    evs = c.receive(
        frame(
            Refresh(id=n + 1, state=OK, fields={"BID": 1}),
            Status(id=n + 2, state=nf),
            Refresh(id=n + 3, state=OK, fields={"BID": 2}),
        ),
        2.0,
    )
    kinds = [type(e) for e in evs]
    assert kinds == [
        events.ItemRefreshed,
        events.ItemStatus,
        events.StreamClosed,
        events.ItemRefreshed,
    ]
    assert evs[0].stream is members[0]
    assert evs[2].stream is members[1] and evs[2].state == nf
    assert members[1].id not in c.streams
    assert members[2].fields == {"BID": 2}


def test_batch_with_view_and_snapshot() -> None:
    c = logged_in()
    members = c.request(["TRI.N", "IBM.N"], view=["BID", "ASK"], streaming=False)
    [req] = sent(c)
    assert req.view == ["BID", "ASK"] and req.streaming is False
    assert req.key.name == ["TRI.N", "IBM.N"]
    for s in members:
        assert s.request.view == ["BID", "ASK"]
        assert s.request.streaming is False


def test_batch_false_sends_individual_requests() -> None:
    c = logged_in()
    streams = c.request(["A", "B"], batch=False)
    msgs = sent(c)
    assert [m.id for m in msgs] == [s.id for s in streams]
    assert [m.key.name for m in msgs] == ["A", "B"]
    assert all(s.batch_id is None for s in streams)


def test_large_batch_is_split_to_fit_max_msg_size() -> None:
    c = logged_in(MaxMsgSize=400)
    names = [f"RIC{i:03d}.N" for i in range(25)]
    members = c.request(names)
    frames = c.data_to_send()
    msgs = [m for f in frames for m in codec.decode(f)]
    assert len(msgs) > 1
    got: list[str] = []
    for m in msgs:
        assert len(codec.encode_one(m)) <= 400
        if isinstance(m.key.name, list):
            assert [s.id for s in members if s.batch_id == m.id] == [
                m.id + k for k in range(1, len(m.key.name) + 1)
            ]
            got.extend(m.key.name)
        else:
            got.append(m.key.name)
    assert got == names
    assert all(len(f) <= 400 for f in frames)
    assert len({s.id for s in members}) == 25


def test_batch_before_login_is_sent_as_single_requests() -> None:
    c = connected()
    c.data_to_send()
    members = c.request(["A", "B", "C"])
    c.receive(login_refresh(), 0.0)
    msgs = sent(c)
    assert msgs == [s.request for s in members]
    assert [m.key.name for m in msgs] == ["A", "B", "C"]


# -- packing ---------------------------------------------------------------------------------


def test_single_message_is_a_bare_object_and_several_are_packed() -> None:
    c = logged_in()
    c.request("A")
    [f] = c.data_to_send()
    assert f.startswith(b"{")
    c.request(["B", "C"], batch=False)
    [f] = c.data_to_send()
    assert f.startswith(b"[")
    assert [m.key.name for m in codec.decode(f)] == ["B", "C"]


def test_packing_stays_below_max_msg_size() -> None:
    c = logged_in(MaxMsgSize=300)
    names = [f"ITEM{i:02d}.L" for i in range(40)]
    streams = c.request(names, batch=False)
    frames = c.data_to_send()
    assert len(frames) > 1
    assert all(len(f) <= 300 for f in frames)
    assert any(f.startswith(b"[") and len(codec.decode(f)) > 1 for f in frames)
    msgs = [m for f in frames for m in codec.decode(f)]
    assert [m.id for m in msgs] == [s.id for s in streams]


def test_oversized_single_message_goes_alone() -> None:
    c = logged_in(MaxMsgSize=100)
    c.request("A")
    c.post(2, {"Type": "Update", "Fields": {"X": "y" * 300}}, post_id=1)
    c.request("B")
    frames = c.data_to_send()
    msgs = [codec.decode(f) for f in frames]
    assert [len(m) for m in msgs] == [1, 1, 1]
    assert isinstance(msgs[1][0], Post)


def test_raw_frames_and_pongs_keep_their_order() -> None:
    c = logged_in()
    c.request("A")
    c.receive(b'[{"Type":"Ping"}]', 0.0)
    c.request("B")
    c.send_raw(b"RAW")
    frames = c.data_to_send()
    assert [m.key.name for m in codec.decode(frames[0])] == ["A"]
    assert frames[1] == b'{"Type":"Pong"}'
    assert codec.decode(frames[2])[0].key.name == "B"
    assert frames[3] == b"RAW"


# -- close -----------------------------------------------------------------------------------


def test_close_single_stream() -> None:
    c = logged_in()
    [s] = c.request("A")
    sent(c)
    c.close([s])
    assert sent(c) == [Close(id=s.id)]
    assert s.id not in c.streams
    assert s.phase is Phase.CLOSED
    # late messages for the closed id are dropped
    assert c.receive(frame(Update(id=s.id, fields={"A": 1})), 1.0) == []


def test_close_by_id_and_batch_close() -> None:
    c = logged_in()
    a, b, d = c.request(["A", "B", "D"], batch=False)
    sent(c)
    c.close([a.id, d, 999])
    assert sent(c) == [Close(id=[a.id, d.id])]
    assert [s.id for s in c.streams] == [b.id]


def test_batch_close_is_split_by_max_msg_size() -> None:
    c = logged_in(MaxMsgSize=100)
    streams = c.request([f"N{i}" for i in range(20)], batch=False)
    c.data_to_send()
    c.close(streams)
    msgs = sent(c)
    assert all(isinstance(m, Close) for m in msgs)
    assert len(msgs) > 1
    ids: list[int] = []
    for m in msgs:
        ids.extend(m.id if isinstance(m.id, list) else [m.id])
    assert ids == [s.id for s in streams]
    assert len(c.streams) == 0


def test_close_of_unsent_stream_sends_nothing() -> None:
    c = connected()
    c.data_to_send()
    [s] = c.request("A")
    c.close([s])
    assert s.id not in c.streams
    c.receive(login_refresh(), 0.0)
    assert c.data_to_send() == []


def test_close_of_stale_stream_object_leaves_its_successor_alone() -> None:
    c = logged_in()
    [old] = c.request("A")
    sent(c)
    cr = State(stream="ClosedRecover", data="Suspect")
    c.receive(frame(Status(id=old.id, state=cr)), 1.0)
    new = c.rerequest(old)
    assert new.id == old.id
    sent(c)
    c.close([old])  # the caller still holds the old object
    assert c.streams.get(new.id) is new
    assert new.is_open
    assert c.data_to_send() == []


# -- stream messages and final states --------------------------------------------------------


def test_refresh_update_status_events() -> None:
    c = logged_in()
    [s] = c.request("TRI.N")
    sent(c)
    r = Refresh(id=s.id, state=OK, fields={"BID": 1, "ASK": 2}, seq_number=1)
    u = Update(id=s.id, fields={"BID": 3}, seq_number=17)
    st = Status(id=s.id, state=State(stream="Open", data="Suspect", text="**F10: Service Down"))
    evs = c.receive(frame(r, u, st), 1.0)
    assert evs == [events.ItemRefreshed(s, r), events.ItemUpdated(s, u), events.ItemStatus(s, st)]
    assert s.fields == {"BID": 3, "ASK": 2}
    assert s.phase is Phase.OPEN
    assert not s.data_ok
    assert c.messages_received == 4  # login refresh + 3


def test_updates_go_to_deliver_while_nothing_else_of_the_frame_waits() -> None:
    c = logged_in()
    a, b = c.request(["A", "B"])
    sent(c)
    delivered: list[Any] = []
    a.deliver = b.deliver = delivered.append
    c.receive(frame(Refresh(id=a.id, state=OK), Refresh(id=b.id, state=OK)), 1.0)
    u1, u2 = Update(id=a.id, fields={"X": 1}), Update(id=b.id, fields={"X": 2})
    assert c.receive(frame(u1, u2), 2.0) == []  # the hot path: no event list at all
    assert delivered == [events.ItemUpdated(a, u1), events.ItemUpdated(b, u2)]
    # Once another event of the frame waits in the list, updates queue behind it: order kept.
    delivered.clear()
    st = Status(id=b.id, state=State(stream="Open", data="Suspect"))
    u3 = Update(id=a.id, fields={"X": 3})
    evs = c.receive(frame(u1, st, u3), 3.0)
    assert delivered == [events.ItemUpdated(a, u1)]
    assert evs == [events.ItemStatus(b, st), events.ItemUpdated(a, u3)]
    assert a.fields == {"X": 3}


@pytest.mark.parametrize("final", ["NonStreaming", "Closed", "ClosedRecover", "Redirected"])
@pytest.mark.parametrize("kind", ["refresh", "status"])
def test_final_states_remove_the_stream(final: str, kind: str) -> None:
    c = logged_in()
    [s] = c.request("A")
    sent(c)
    state = State(stream=final, data="Suspect")
    msg = (
        Refresh(id=s.id, state=state, fields={"A": 1})
        if kind == "refresh"
        else Status(id=s.id, state=state)
    )
    evs = c.receive(frame(msg), 1.0)
    assert [type(e) for e in evs][-1] is events.StreamClosed
    assert evs[-1] == events.StreamClosed(s, state)
    assert s.id not in c.streams
    assert s.phase is Phase.CLOSED


def test_multi_part_refresh_does_not_close_until_last_part() -> None:
    c = logged_in()
    [s] = c.request("TRI.TO", domain="MarketByPrice", streaming=False)
    sent(c)
    ns = State(stream="NonStreaming", data="Ok")
    p0 = Refresh(
        id=s.id,
        domain="MarketByPrice",
        state=ns,
        complete=False,
        part_number=0,
        map={"Entries": [{"Action": "Add", "Key": "a", "Fields": {"P": 1}}]},
    )
    p1 = Refresh(
        id=s.id,
        domain="MarketByPrice",
        state=ns,
        part_number=1,
        clear_cache=False,
        map={"Entries": [{"Action": "Add", "Key": "b", "Fields": {"P": 2}}]},
    )
    evs = c.receive(frame(p0), 1.0)
    assert [type(e) for e in evs] == [events.ItemRefreshed]
    assert s.phase is Phase.REFRESHING
    evs = c.receive(frame(p1), 1.0)
    assert [type(e) for e in evs] == [events.ItemRefreshed, events.StreamClosed]
    assert s.map is not None and set(s.map.entries) == {"a", "b"}


def test_messages_for_unknown_ids_are_ignored() -> None:
    c = logged_in()
    assert (
        c.receive(
            frame(Refresh(id=77, state=OK), Update(id=77, fields={}), Status(id=77, state=OK)), 1.0
        )
        == []
    )


def test_non_login_domain_on_login_id_is_ignored() -> None:
    c = logged_in()
    evs = c.receive(
        frame(Status(id=1, domain="MarketPrice", state=State(stream="Closed", data="Suspect"))), 1.0
    )
    assert evs == []
    assert c.login.is_open


def test_rerequest_after_closed_recover_reuses_id() -> None:
    c = logged_in()
    [s] = c.request("A", view=["BID"])
    sent(c)
    c.receive(frame(Status(id=s.id, state=State(stream="ClosedRecover", data="Suspect"))), 1.0)
    new = c.rerequest(s)
    assert new.id == s.id and new is not s
    assert sent(c) == [s.request]
    assert new.request.view == ["BID"]


def test_rerequest_of_a_still_open_stream_object() -> None:
    c = logged_in()
    [s] = c.request("A")
    [other] = c.request("B")
    sent(c)
    c.streams.remove(s.id)
    c.streams.add(type(s)(s.id, s.request, "imposter"))
    new = c.rerequest(s)
    assert new.id not in (s.id, other.id)
    [req] = sent(c)
    assert req.id == new.id and req.key == s.request.key


def test_reissue_sends_changed_request() -> None:
    c = logged_in()
    [s] = c.request("A")
    sent(c)
    c.reissue(s, view=["BID"], refresh=False)
    [req] = sent(c)
    assert req == Request(id=s.id, key=Key(name="A"), view=["BID"], refresh=False)
    c.close([s])
    sent(c)
    c.reissue(s, pause=True)
    assert c.data_to_send() == []


# -- other messages --------------------------------------------------------------------------


def test_ping_is_answered_with_pong() -> None:
    c = logged_in()
    evs = c.receive(b'[{"Type":"Ping"}]', 5.0)
    assert evs == [events.PingReceived()]
    assert c.data_to_send(5.0) == [b'{"Type":"Pong"}']
    assert codec.decode(codec.encode_one(Pong())) == [Pong()]


def test_single_object_ping_is_accepted() -> None:
    c = logged_in()
    assert c.receive('{"Type":"Ping"}', 1.0) == [events.PingReceived()]


def test_ack_error_generic_pong_events() -> None:
    c = logged_in()
    ack = Ack(ack_id=7, id=1, nak_code="SymbolUnknown")
    err = Error(id=0, text="JSON parser error: -3")
    gen = Generic(id=5, domain=128, fields={"A": 1})
    evs = c.receive(frame(ack, err, gen, Pong()), 1.0)
    assert evs == [
        events.AckReceived(ack),
        events.ErrorReceived(err),
        events.GenericReceived(gen),
        events.PongReceived(),
    ]


def test_unexpected_and_malformed_messages_are_violations() -> None:
    c = logged_in()
    [s] = c.request("A")
    sent(c)
    data = (
        b'[{"ID":3,"Type":"ExtraInfo"},{"ID":9,"Key":{"Name":"X"}},'
        b'{"ID":%d,"Type":"Update","Fields":{"B":1}}]' % s.id
    )
    evs = c.receive(data, 1.0)
    assert isinstance(evs[0], events.ProtocolViolation)
    assert evs[0].raw == {"ID": 3, "Type": "ExtraInfo"}
    assert isinstance(evs[1], events.ProtocolViolation)
    assert "Request" in evs[1].reason
    assert isinstance(evs[2], events.ItemUpdated)
    assert s.fields == {"B": 1}


@pytest.mark.parametrize("data", [b"not json", "{", b"\xff\xfe", "5"])
def test_non_json_frame_is_a_violation(data: str | bytes) -> None:
    c = logged_in()
    [ev] = c.receive(data, 3.0)
    assert isinstance(ev, events.ProtocolViolation)
    assert ev.raw == data[:200]
    assert c.last_received == 3.0


def test_deeply_nested_frame_is_a_violation() -> None:
    c = logged_in()
    [ev] = c.receive("[" * 5000 + "]" * 5000, 1.0)
    assert isinstance(ev, events.ProtocolViolation)


def test_post_and_generic_go_out() -> None:
    c = logged_in()
    c.post(
        1,
        {"ID": 0, "Type": "Refresh", "Fields": {"BID": 1}},
        post_id=7,
        key=Key(name="UMER.TST", service="NIPROV"),
    )
    c.post(2, {"ID": 0, "Type": "Update"}, ack=False)
    c.send_generic(Generic(id=2, domain=128))
    p1, p2, g = sent(c)
    assert p1 == Post(
        id=1,
        key=Key(name="UMER.TST", service="NIPROV"),
        ack=True,
        post_id=7,
        message={"ID": 0, "Type": "Refresh", "Fields": {"BID": 1}},
    )
    assert isinstance(p2, Post)
    assert p2.id == 2 and p2.ack is None and p2.key is None
    assert p2.message == {"ID": 0, "Type": "Update"}
    assert g == Generic(id=2, domain=128)


# -- reconnect -------------------------------------------------------------------------------


def test_reconnect_resends_every_open_stream_with_its_original_request() -> None:
    c = logged_in()
    a = c.request("TRI.N", service="ELEKTRON_DD", view=["BID", "ASK"])[0]
    b = c.request("IBM.N", domain="MarketByPrice")[0]
    snap = c.request("T.N", streaming=False)[0]
    gone = c.request("X.N")[0]
    members = c.request(["M1", "M2"])
    sent(c)
    c.receive(
        frame(
            Refresh(id=a.id, state=OK, fields={"BID": 1}),
            Refresh(id=b.id, state=OK, complete=False, map={}),
            Refresh(id=snap.id, state=State(stream="NonStreaming", data="Ok")),
        ),
        1.0,
    )
    c.close([gone])
    sent(c)

    c.connection_lost()
    assert all(not s.sent for s in c.streams)
    assert c.data_to_send() == []
    c.connection_made(10.0)
    c.start_login("tok2")
    [login] = sent(c, 10.0)
    assert login.id == 1 and login.domain == "Login"
    c.request("NEW")  # made while the login is pending: waits too
    assert c.data_to_send() == []
    evs = c.receive(login_refresh(), 11.0)
    assert [type(e) for e in evs] == [events.LoginAccepted]
    msgs = sent(c, 11.0)
    by_id = {m.id: m for m in msgs}
    assert len(by_id) == len(msgs)
    expected = [a, b, *members]
    for s in expected:
        assert by_id[s.id] == s.request
        assert s.phase is Phase.PENDING
        assert s.sent
    assert snap.id not in by_id and gone.id not in by_id
    assert {m.key.name for m in msgs} == {"TRI.N", "IBM.N", "M1", "M2", "NEW"}
    # the cached image survives until the new Refresh replaces it
    assert a.fields == {"BID": 1}
    c.receive(frame(Refresh(id=a.id, state=OK, fields={"ASK": 2})), 12.0)
    assert a.fields == {"ASK": 2}


def test_connection_made_forgets_pending_batches_and_queue() -> None:
    c = logged_in()
    c.request(["A", "B"])
    [req] = sent(c)
    c.request("queued")
    c.connection_made(5.0)
    assert c.data_to_send() == []
    assert not c.streams.is_batch(req.id)
    assert c.last_received == c.last_sent == 5.0


# -- liveness --------------------------------------------------------------------------------


def test_ping_after_a_third_of_ping_timeout_of_own_silence() -> None:
    c = logged_in(now=0.0, PingTimeout=30)
    c.data_to_send(0.0)
    assert c.tick(9.9) == []
    assert c.data_to_send(9.9) == []
    c.receive(b'[{"Type":"Pong"}]', 9.9)
    assert c.tick(10.0) == []
    assert sent(c, 10.0) == [Ping()]
    assert c.last_sent == 10.0
    assert c.tick(19.0) == []
    assert c.data_to_send(19.0) == []


def test_sending_postpones_the_ping() -> None:
    c = logged_in(now=0.0, PingTimeout=30)
    c.request("A")
    c.data_to_send(8.0)
    assert c.tick(12.0) == []
    assert c.data_to_send(12.0) == []
    c.tick(18.0)
    assert sent(c, 18.0) == [Ping()]


def test_connection_dead_after_twice_ping_timeout_of_receive_silence() -> None:
    c = logged_in(now=0.0, PingTimeout=30)
    c.receive(b'[{"Type":"Pong"}]', 5.0)
    assert c.tick(64.9) == []
    [dead] = c.tick(65.0)
    assert dead == events.ConnectionDead(60.0)
    assert c.data_to_send(65.0) == [] or all(
        codec.decode(f) == [Ping()] for f in c.data_to_send(65.0)
    )


def test_any_received_traffic_counts() -> None:
    c = logged_in(now=0.0, PingTimeout=30)
    c.receive(b"garbage", 50.0)
    assert not any(isinstance(e, events.ConnectionDead) for e in c.tick(100.0))


def test_next_deadline() -> None:
    c = logged_in(now=0.0, PingTimeout=30)
    c.data_to_send(0.0)
    assert c.next_deadline() == pytest.approx(10.0)
    c.data_to_send(0.0)
    c.request("A")
    c.data_to_send(55.0)
    assert c.next_deadline() == pytest.approx(60.0)
    c.dead_after_pings = 3.0
    assert c.next_deadline() == pytest.approx(65.0)


def test_default_ping_timeout_before_login() -> None:
    c = ClientProtocol()
    c.connection_made(100.0)
    assert c.next_deadline() == pytest.approx(100.0 + DEFAULT_PING_TIMEOUT / 3)
    assert c.tick(100.0 + DEFAULT_PING_TIMEOUT / 3) == []
    assert msgspec.json.decode(c.data_to_send()[0]) == {"Type": "Ping"}
