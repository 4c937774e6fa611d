"""Stateful property test: ClientProtocol against an independent model of the session."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ertcloud.protocol import ClientProtocol, codec, events
from ertcloud.protocol.login import LoginPhase
from ertcloud.protocol.messages import Close, Ping, Pong, Refresh, Request, State, Status, Update

PING_TIMEOUT = 30.0
FINAL = ["NonStreaming", "Closed", "ClosedRecover", "Redirected"]
UNKNOWN_ID = 1_000_000

names = st.sampled_from(["TRI.N", "IBM.N", "T.N", "VOD.L", "BAD.RIC"])
image_fields = st.dictionaries(
    st.sampled_from(["BID", "ASK", "TRDPRC_1", "TRDPRC_2", "TRDPRC_3", "ACVOL_1"]),
    st.integers(0, 99),
    max_size=4,
)
# Updates carry the head of a ripple chain only, as real ones do.
field_updates = st.dictionaries(
    st.sampled_from(["BID", "ASK", "TRDPRC_1", "ACVOL_1"]), st.integers(0, 99), max_size=3
)
#: The last-trade ripple chain of the field dictionary (TRDPRC_1 -> TRDPRC_2 ... TRDPRC_5).
TRDPRC_CHAIN = ["TRDPRC_1", "TRDPRC_2", "TRDPRC_3", "TRDPRC_4", "TRDPRC_5"]
clear_caches = st.sampled_from([None, True, False])
rarely = st.sampled_from([False, False, False, True])
# The strategies the rules draw from are built once (the same ones for the same ids): a
# strategy built in a rule is built again, and its properties worked out again, at every draw.
finals = st.sampled_from(FINAL)
one_in_five = st.integers(0, 4)


@functools.cache
def _one_of(ids: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.sampled_from(ids)


@functools.cache
def _some_of(ids: tuple[int, ...]) -> st.SearchStrategy[list[int]]:
    return st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True)


class ClientMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = ClientProtocol()
        self.now = 0.0
        self.last_recv = 0.0
        self.last_sent = 0.0
        # model
        self.images: dict[int, dict[str, Any]] = {}  # open stream id -> expected fields
        self.requests: dict[int, Request] = {}  # every stream's original request
        self.closed: set[int] = set()
        self.batches: set[int] = set()  # batch ids awaiting their Status, this connection
        self.requested: set[int] = set()  # item ids requested on this connection
        self.login_open = False
        self.pongs_due = 0

    # -- helpers ---------------------------------------------------------------------------

    def flush(self) -> None:
        frames = self.c.data_to_send(self.now)
        if frames:
            self.last_sent = self.now
        for f in frames:
            assert len(f) <= self.c.max_msg_size
            for m in codec.decode(f):
                self.check_sent(m)
        assert self.pongs_due == 0

    def check_sent(self, m: Any) -> None:
        if isinstance(m, Pong):
            self.pongs_due -= 1
        elif isinstance(m, Ping):
            pass
        elif isinstance(m, Request) and m.domain == "Login":
            assert m.id == 1
        elif isinstance(m, Request):
            assert self.login_open, "item request sent before the login was accepted"
            assert m.key is not None
            if isinstance(m.key.name, list):
                members = [m.id + k for k in range(1, len(m.key.name) + 1)]
                assert m.id not in self.images and m.id not in self.requests
                for sid, name in zip(members, m.key.name, strict=True):
                    assert sid in self.images
                    assert self.requests[sid].key is not None
                    assert self.requests[sid].key.name == name
                    assert sid not in self.requested
                    self.requested.add(sid)
                self.batches.add(m.id)
            else:
                assert m.id in self.images
                assert m == self.requests[m.id], "re-sent request differs from the original"
                assert m.id not in self.requested, "stream requested twice on one connection"
                self.requested.add(m.id)
        elif isinstance(m, Close):
            assert self.login_open
            ids = m.id if isinstance(m.id, list) else [m.id]
            for i in ids:
                assert i in self.closed
                assert i in self.requested
                self.requested.discard(i)
        else:  # pragma: no cover - nothing else is ever sent here
            raise AssertionError(f"unexpected message sent: {m!r}")

    def receive(self, *msgs: Any) -> list[Any]:
        self.last_recv = self.now
        evs = self.c.receive(codec.encode(list(msgs)), self.now)
        self.flush()
        return evs

    # -- rules -----------------------------------------------------------------------------

    @initialize()
    def connect(self) -> None:
        self.c.connection_made(self.now)
        self.c.start_login("tok")
        self.flush()

    @rule(
        items=st.lists(names, min_size=1, max_size=5), batch=st.booleans(), snapshot=st.booleans()
    )
    def request(self, items: list[str], batch: bool, snapshot: bool) -> None:
        streams = self.c.request(items, batch=batch, streaming=not snapshot)
        assert [s.name for s in streams] == items
        for s in streams:
            assert s.id not in self.images and s.id not in self.closed and s.id != 1
            self.images[s.id] = {}
            self.requests[s.id] = s.request
        self.flush()

    @precondition(lambda self: self.images)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        ids = data.draw(_some_of(tuple(sorted(self.images))))
        expected = {i for i in ids if i in self.requested} if self.login_open else set()
        before = set(self.requested)
        for i in ids:
            del self.images[i]
            self.closed.add(i)
        self.c.close(ids)
        self.flush()
        if self.login_open:
            assert before - self.requested == expected
        else:
            for i in ids:
                self.requested.discard(i)

    def target(self, data: st.DataObject) -> int:
        if not self.images or data.draw(one_in_five) == 0:
            return data.draw(_one_of((*sorted(self.closed), UNKNOWN_ID)))
        return data.draw(_one_of(tuple(sorted(self.images))))

    @rule(
        data=st.data(),
        fields=image_fields,
        clear=clear_caches,
        final=rarely,
        complete=st.booleans(),
    )
    def server_refresh(
        self,
        data: st.DataObject,
        fields: dict[str, int],
        clear: bool | None,
        final: bool,
        complete: bool,
    ) -> None:
        sid = self.target(data)
        state = State(stream=data.draw(finals) if final else "Open", data="Ok")
        evs = self.receive(
            Refresh(
                id=sid,
                state=state,
                fields=fields or None,
                clear_cache=clear,
                complete=None if complete else False,
            )
        )
        if sid not in self.images:
            assert evs == []
            return
        img = self.images[sid]
        if clear is not False:
            img.clear()
        img.update(fields)
        if final and complete:
            assert [type(e) for e in evs] == [events.ItemRefreshed, events.StreamClosed]
            del self.images[sid]
            self.closed.add(sid)
            self.requested.discard(sid)
        else:
            assert [type(e) for e in evs] == [events.ItemRefreshed]

    @rule(data=st.data(), fields=field_updates, no_ripple=st.booleans())
    def server_update(self, data: st.DataObject, fields: dict[str, int], no_ripple: bool) -> None:
        sid = self.target(data)
        evs = self.receive(Update(id=sid, fields=fields, do_not_ripple=no_ripple or None))
        if sid in self.images:
            img = self.images[sid]
            if "TRDPRC_1" in fields and not no_ripple:
                # each present field of the chain takes its predecessor's old value
                for j in range(len(TRDPRC_CHAIN) - 1, 0, -1):
                    if TRDPRC_CHAIN[j] in img:
                        img[TRDPRC_CHAIN[j]] = img.get(TRDPRC_CHAIN[j - 1])
            img.update(fields)
            assert [type(e) for e in evs] == [events.ItemUpdated]
        else:
            assert evs == []

    @rule(data=st.data(), final=rarely, clear=clear_caches)
    def server_status(self, data: st.DataObject, final: bool, clear: bool | None) -> None:
        sid = self.target(data)
        stream = data.draw(finals) if final else "Open"
        evs = self.receive(
            Status(id=sid, state=State(stream=stream, data="Suspect"), clear_cache=clear)
        )
        if sid not in self.images:
            assert evs == []
            return
        if clear:
            self.images[sid].clear()
        if final:
            assert [type(e) for e in evs] == [events.ItemStatus, events.StreamClosed]
            assert evs[1].state.stream == stream
            del self.images[sid]
            self.closed.add(sid)
            self.requested.discard(sid)
        else:
            assert [type(e) for e in evs] == [events.ItemStatus]

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def batch_status(self, data: st.DataObject) -> None:
        bid = data.draw(_one_of(tuple(sorted(self.batches))))
        st_ = Status(id=bid, state=State(stream="Closed", data="Ok", text="Processed"))
        evs = self.receive(st_)
        assert evs == [events.BatchAcknowledged(st_)]
        self.batches.discard(bid)

    @rule()
    def ping(self) -> None:
        self.pongs_due += 1
        assert self.receive(Ping()) == [events.PingReceived()]

    @precondition(lambda self: self.c.login.phase is LoginPhase.PENDING)
    @rule()
    def accept_login(self) -> None:
        self.login_open = True
        evs = self.receive(
            Refresh(
                id=1,
                domain="Login",
                state=State(stream="Open", data="Ok"),
                elements={"PingTimeout": int(PING_TIMEOUT)},
            )
        )
        assert [type(e) for e in evs] == [events.LoginAccepted]
        assert set(self.images) <= self.requested

    @precondition(lambda self: self.login_open)
    @rule()
    def server_closes_login(self) -> None:
        self.login_open = False
        evs = self.receive(
            Status(id=1, domain="Login", state=State(stream="Closed", data="Suspect"))
        )
        assert [type(e) for e in evs] == [events.LoginClosed]
        self.requested.clear()

    @rule()
    def reconnect(self) -> None:
        self.c.connection_lost()
        self.now += 1.0
        self.c.connection_made(self.now)
        self.last_recv = self.last_sent = self.now
        self.login_open = False
        self.requested.clear()
        self.batches.clear()
        self.c.start_login("tok")
        self.flush()

    @rule(dt=st.floats(0.0, 40.0))
    def tick(self, dt: float) -> None:
        self.now += dt
        evs = self.c.tick(self.now)
        pt = self.c.ping_timeout
        if self.now - self.last_recv >= 2 * pt:
            assert evs == [events.ConnectionDead(self.now - self.last_recv)]
            self.c.data_to_send(self.now)
            self.reconnect()
            return
        assert evs == []
        pinged = self.now - self.last_sent >= pt / 3
        frames = self.c.data_to_send(self.now)
        if pinged:
            assert [codec.decode(f) for f in frames] == [[Ping()]]
            self.last_sent = self.now
        else:
            assert frames == []

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def table_matches_model(self) -> None:
        assert {s.id for s in self.c.streams} == set(self.images)
        for sid in self.closed:
            assert sid not in self.c.streams

    @invariant()
    def images_match_model(self) -> None:
        for sid, img in self.images.items():
            s = self.c.streams.get(sid)
            assert s is not None
            assert s.fields == img
            assert s.is_open

    @invariant()
    def nothing_wanted_is_left_unsent(self) -> None:
        assert self.c.login.is_open == self.login_open
        if self.login_open:
            assert all(s.sent for s in self.c.streams)
            assert set(self.images) <= self.requested
        else:
            assert not self.requested


ClientMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestClientProtocolStateful = ClientMachine.TestCase
