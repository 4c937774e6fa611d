"""The simulator's server connection driven with no socket: frames in, frames out."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import codec
from ertcloud.protocol.framing import pack_frames
from ertcloud.protocol.messages import Generic
from ertcloud.sim.ads import ServerConfig, StreamingServer
from ertcloud.sim.connection import ServerConnection
from ertcloud.sim.gateway import Gateway
from ertcloud.sim.market import Market

pytestmark = pytest.mark.unit


def server(**config: Any) -> StreamingServer:
    return StreamingServer(Market(7), Gateway(users={"demo": "demo"}), ServerConfig(**config))


def token(srv: StreamingServer) -> str:
    t = srv.gateway.cookie_token("demo", "demo")
    assert t is not None
    return t


def feed(conn: ServerConnection, *msgs: dict[str, Any], now: float = 0.0) -> list[dict[str, Any]]:
    """Send ``msgs`` as one frame; the messages of every frame that comes back."""
    conn.receive_data(json.dumps(msgs[0] if len(msgs) == 1 else list(msgs)), now)
    return drain(conn)


def drain(conn: ServerConnection, congested: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for frame in conn.data_to_send(congested):
        assert frame.startswith(b"[")  # the server always sends arrays
        out.extend(json.loads(frame))
    return out


def login_msg(tok: str | None, sid: int = 1) -> dict[str, Any]:
    elements = {"ApplicationId": "256"} if tok is None else {"AuthenticationToken": tok}
    return {"ID": sid, "Domain": "Login", "Key": {"NameType": "AuthnToken", "Elements": elements}}


def logged_in(srv: StreamingServer | None = None, **config: Any) -> ServerConnection:
    srv = srv or server(**config)
    conn = ServerConnection(srv, "test-peer", now=0.0)
    [refresh] = feed(conn, login_msg(token(srv)))
    assert refresh["Type"] == "Refresh" and refresh["State"]["Stream"] == "Open"
    return conn


def test_login_is_accepted_with_the_servers_limits() -> None:
    srv = server(ping_timeout=9, max_msg_size=5000)
    conn = ServerConnection(srv, "p", now=0.0)
    [refresh] = feed(conn, login_msg(token(srv)))
    assert refresh["Domain"] == "Login" and refresh["ID"] == 1
    assert refresh["Elements"] == {"MaxMsgSize": 5000, "PingTimeout": 9}
    assert conn.login_id == 1 and conn.user == "demo"
    assert conn.close_after is None


def test_login_without_token_is_refused_and_the_connection_asks_to_close() -> None:
    conn = ServerConnection(server(), "p", now=0.0)
    [status] = feed(conn, login_msg(None))
    assert status["Type"] == "Status"
    assert status["State"]["Stream"] == "Closed" and status["State"]["Code"] == "NotEntitled"
    assert conn.close_after is not None and conn.close_after > 0
    assert not conn.serving
    assert feed(conn, {"ID": 2, "Key": {"Name": "TRI.N"}}) == []  # nothing more is answered


def test_item_request_before_login_is_refused_not_open() -> None:
    conn = ServerConnection(server(), "p", now=0.0)
    [status] = feed(conn, {"ID": 2, "Key": {"Name": "TRI.N"}})
    assert status["ID"] == 2 and status["State"]["Code"] == "NotOpen"


def test_request_refresh_then_pushed_updates() -> None:
    conn = logged_in()
    [refresh] = feed(conn, {"ID": 2, "Key": {"Name": "TRI.N"}, "View": ["BID", "ASK"]})
    assert refresh["Type"] == "Refresh" and refresh["ID"] == 2
    assert set(refresh["Fields"]) == {"BID", "ASK"}
    assert conn.streams[2].ric == "TRI.N"
    srv = conn.server
    assert [cs for cs, _ in srv.subs["TRI.N"]] == [conn]
    inst = srv.market.get("TRI.N")
    assert inst is not None
    srv.publish(inst, "Quote", {"BID": 1.5, "TRDPRC_1": 2.0})
    [update] = drain(conn)
    assert update["Type"] == "Update" and update["ID"] == 2
    assert update["Fields"] == {"BID": 1.5}  # the View keeps out TRDPRC_1


def test_snapshot_is_non_streaming_and_not_kept() -> None:
    conn = logged_in()
    [refresh] = feed(conn, {"ID": 3, "Key": {"Name": "IBM.N"}, "Streaming": False})
    assert refresh["State"]["Stream"] == "NonStreaming"
    assert 3 not in conn.streams


def test_unknown_item_is_closed_not_found() -> None:
    conn = logged_in()
    [status] = feed(conn, {"ID": 4, "Key": {"Name": "NO.SUCH"}})
    assert status["State"]["Code"] == "NotFound"


def test_close_item_unsubscribes_and_close_login_ends_the_connection() -> None:
    conn = logged_in()
    feed(conn, {"ID": 2, "Key": {"Name": "TRI.N"}})
    assert feed(conn, {"ID": 2, "Type": "Close"}) == []
    assert conn.streams == {} and "TRI.N" not in conn.server.subs
    feed(conn, {"ID": 1, "Type": "Close", "Domain": "Login"})
    assert conn.login_id is None and not conn.serving
    assert conn.close_after is not None


def test_ping_is_answered_and_pong_counted() -> None:
    conn = logged_in()
    assert feed(conn, {"Type": "Ping"}) == [{"Type": "Pong"}]
    assert feed(conn, {"Type": "Pong"}) == []
    assert conn.pongs == 1


def test_timer_pings_a_silent_client_then_asks_to_drop_it() -> None:
    conn = logged_in(ping_timeout=30)
    conn.tick(5.0, wall=0.0)
    assert drain(conn) == []
    conn.tick(10.0, wall=0.0)
    assert drain(conn) == [{"Type": "Ping"}]
    assert conn.pings_sent == 1
    conn.tick(39.0, wall=0.0)
    assert conn.close_after is None and drain(conn) == []  # one Ping per silence
    conn.tick(40.0, wall=0.0)
    assert conn.close_after == 0


def test_traffic_from_the_client_resets_the_liveness_timer() -> None:
    conn = logged_in(ping_timeout=30)
    conn.tick(10.0, wall=0.0)
    drain(conn)
    feed(conn, {"Type": "Pong"}, now=20.0)
    conn.tick(45.0, wall=0.0)
    assert conn.close_after is None
    assert drain(conn) == [{"Type": "Ping"}]


def test_expired_token_closes_the_login() -> None:
    conn = logged_in()
    assert conn.token_expires_at is not None
    conn.tick(0.0, wall=conn.token_expires_at + 1)
    [status] = drain(conn)
    assert status["ID"] == 1 and status["State"]["Stream"] == "Closed"
    assert conn.close_after is not None


def test_bad_input_gets_an_error_and_the_connection_stays() -> None:
    conn = logged_in()
    conn.receive_data(b"{not json", 0.0)
    [error] = drain(conn)
    assert error["Type"] == "Error" and "JSON parser error" in error["Text"]
    [error] = feed(conn, {"ID": 5, "Type": "Wobble"})
    assert error["Type"] == "Error"
    [error] = feed(conn, {"ID": -3, "Key": {"Name": "TRI.N"}})
    assert error["Type"] == "Error" and "'-3'" in error["Text"]
    assert conn.close_after is None and conn.serving


def test_frame_over_max_msg_size_asks_for_an_immediate_drop() -> None:
    conn = logged_in(max_msg_size=1000)
    conn.receive_data("[" + " " * 2000 + "]", 0.0)
    assert conn.close_after == 0 and not conn.serving


def test_output_is_packed_under_max_msg_size_and_max_per_frame() -> None:
    conn = logged_in(max_msg_size=2000, max_per_frame=3)
    names = ["TRI.N", "IBM.N", "VOD.L"] * 4
    for i, name in enumerate(names):
        conn.receive_data(json.dumps({"ID": 10 + i, "Key": {"Name": name}, "Streaming": False}))
    frames = conn.data_to_send()
    assert len(frames) > 1
    for f in frames:
        msgs = json.loads(f)
        assert len(msgs) <= 3
        assert len(f) <= 2000 or len(msgs) == 1
    assert [m["ID"] for f in frames for m in json.loads(f)] == [10 + i for i in range(12)]


def test_congested_connection_conflates_updates_until_released() -> None:
    conn = logged_in()
    feed(conn, {"ID": 2, "Key": {"Name": "TRI.N"}})
    srv = conn.server
    inst = srv.market.get("TRI.N")
    assert inst is not None
    srv.publish(inst, "Quote", {"BID": 1.0})
    srv.publish(inst, "Quote", {"ASK": 2.0})
    assert drain(conn, congested=True) == []
    assert conn.holding and srv.conflated == 2
    [merged] = [m for f in conn.release_held() for m in json.loads(f)]
    assert merged["DoNotRipple"] is True and merged["ConflationInfo"]["Count"] == 2
    assert {"BID", "ASK"} <= set(merged["Fields"])
    assert not conn.holding


_SHARED: list[StreamingServer] = []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_frame_never_raises_and_every_answer_is_a_json_array(data: bytes | str) -> None:
    if not _SHARED:
        _SHARED.append(server())
    conn = logged_in(_SHARED[0])
    conn.receive_data(data, 1.0)
    for frame in conn.data_to_send():
        assert isinstance(json.loads(frame), list)


_messages = st.lists(
    st.builds(
        lambda i, text: Generic(id=i, domain="X", elements={"T": text}),
        st.integers(1, 10_000),
        st.text(max_size=120),
    ),
    max_size=30,
)


@given(_messages, st.integers(60, 600), st.integers(0, 5), st.booleans())
def test_packer_keeps_order_and_limits(
    msgs: list[Generic], max_size: int, max_count: int, bare: bool
) -> None:
    frames = pack_frames(msgs, max_size, max_count=max_count, bare_single=bare)
    got: list[Any] = []
    for f in frames:
        decoded = codec.decode(f)
        is_array = f.startswith(b"[")
        assert is_array != (bare and len(decoded) == 1)
        if len(decoded) > 1:
            assert len(f) <= max_size
            assert not max_count or len(decoded) <= max_count
        got.extend(decoded)
    assert [msgspec.to_builtins(m) for m in got] == [msgspec.to_builtins(m) for m in msgs]


@given(_messages, st.lists(st.integers(0, 30), max_size=4))
def test_packer_sends_raw_frames_alone_in_their_place(msgs: list[Generic], at: list[int]) -> None:
    items: list[Generic | bytes] = list(msgs)
    for n, i in enumerate(sorted(at, reverse=True)):
        items.insert(min(i, len(items)), b"RAW%d" % n)
    frames = pack_frames(items, 400, bare_single=True, bytes_are_frames=True)
    flat: list[Any] = []
    for f in frames:
        if f.startswith(b"RAW"):
            flat.append(f)
        else:
            flat.extend(msgspec.to_builtins(m) for m in codec.decode(f))
    want = [m if isinstance(m, bytes) else msgspec.to_builtins(m) for m in items]
    assert flat == want
