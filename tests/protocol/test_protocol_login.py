"""LoginStream: requests it builds and its table-driven state machine."""

from __future__ import annotations

import pytest

from ertcloud.protocol import codec
from ertcloud.protocol.login import TRANSITIONS, LoginParams, LoginPhase, LoginStream
from ertcloud.protocol.messages import Close, Key, Refresh, State, Status

OPEN_OK = State(stream="Open", data="Ok", text="Login accepted by host sim01.")
OPEN_SUSPECT = State(stream="Open", data="Suspect")
CLOSED = State(stream="Closed", data="Suspect", code="NotEntitled", text="Login rejected")


def login_refresh(state: State = OPEN_OK, **kw: object) -> Refresh:
    return Refresh(id=1, domain="Login", state=state, **kw)  # type: ignore[arg-type]


def wire(msg: object) -> dict:
    import msgspec

    return msgspec.json.decode(codec.encode_one(msg))  # type: ignore[arg-type]


def test_token_login_request_is_authn_token_form() -> None:
    ls = LoginStream(LoginParams(application_id="256", position="10.0.0.5/host1"))
    req = ls.login("tok-1")
    assert ls.phase is LoginPhase.PENDING
    assert wire(req) == {
        "Type": "Request",
        "ID": 1,
        "Domain": "Login",
        "Key": {
            "NameType": "AuthnToken",
            "Elements": {
                "ApplicationId": "256",
                "Position": "10.0.0.5/host1",
                "AuthenticationToken": "tok-1",
            },
        },
    }


def test_user_name_login_request() -> None:
    ls = LoginStream(LoginParams(user="user1", position="10.0.0.5"))
    req = ls.login(None)
    assert req.key == Key(name="user1", elements={"ApplicationId": "256", "Position": "10.0.0.5"})
    assert req.refresh is None
    assert req.domain == "Login"


def test_user_name_defaults_to_user() -> None:
    assert LoginStream(LoginParams()).login(None).key.name == "user"  # type: ignore[union-attr]


def test_extra_elements_and_custom_login_id() -> None:
    ls = LoginStream(LoginParams(login_id=7, extra_elements={"Role": 0}))
    req = ls.login("t")
    assert req.id == 7 == ls.id
    assert req.key is not None and req.key.elements is not None
    assert req.key.elements["Role"] == 0


def test_accept_stores_elements_and_capabilities() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    what = ls.receive(
        login_refresh(
            elements={"PingTimeout": 30, "MaxMsgSize": 61430},
            key=Key(name="x", elements={"SupportOMMPost": 1, "SupportPauseResume": 0}),
        )
    )
    assert what == "accepted"
    assert ls.is_open
    assert ls.state == OPEN_OK
    assert ls.ping_timeout == 30.0
    assert ls.max_msg_size == 61430
    assert ls.supports("OMMPost")
    assert not ls.supports("PauseResume")
    assert not ls.supports("Batch")
    assert ls.refresh is not None


@pytest.mark.parametrize("bad", [0, -5, "30", None])
def test_invalid_ping_timeout_and_max_msg_size_are_ignored(bad: object) -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    ls.receive(login_refresh(elements={"PingTimeout": bad, "MaxMsgSize": bad}))
    assert ls.ping_timeout is None
    assert ls.max_msg_size is None


def test_reissue_uses_refresh_false_and_stays_open() -> None:
    ls = LoginStream(LoginParams())
    ls.login("old")
    ls.receive(login_refresh())
    req = ls.reissue("new")
    assert ls.is_open
    w = wire(req)
    assert w["Refresh"] is False
    assert w["ID"] == 1
    assert w["Domain"] == "Login"
    assert w["Key"]["NameType"] == "AuthnToken"
    assert w["Key"]["Elements"]["AuthenticationToken"] == "new"


def test_reissue_before_open_is_not_allowed() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    with pytest.raises(KeyError):
        ls.reissue("new")


def test_refresh_on_open_login_is_not_a_new_acceptance() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    assert ls.receive(login_refresh()) == "accepted"
    assert ls.receive(login_refresh(solicited=True)) == "state"
    assert ls.is_open


@pytest.mark.parametrize("msg_type", [Refresh, Status])
@pytest.mark.parametrize("stream", ["Closed", "ClosedRecover", "NonStreaming", "Redirected"])
def test_rejected_while_pending(msg_type: type, stream: str) -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    st = State(stream=stream, data="Suspect", code="NotEntitled")
    assert ls.receive(msg_type(id=1, domain="Login", state=st)) == "rejected"
    assert ls.phase is LoginPhase.CLOSED
    assert ls.state == st


def test_closed_after_open() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    ls.receive(login_refresh())
    st = State(stream="Closed", data="Suspect", text="Login stream was closed.")
    assert ls.receive(Status(id=1, domain="Login", state=st)) == "closed"
    assert ls.phase is LoginPhase.CLOSED
    assert not ls.is_open


def test_suspect_refresh_while_pending_does_not_open() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    assert ls.receive(login_refresh(OPEN_SUSPECT)) == "state"
    assert ls.phase is LoginPhase.PENDING
    assert ls.receive(login_refresh()) == "accepted"


def test_status_open_ok_while_pending_does_not_open() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    assert ls.receive(Status(id=1, state=OPEN_OK)) == "state"
    assert ls.phase is LoginPhase.PENDING


def test_suspect_status_on_open_login_keeps_it_open() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    ls.receive(login_refresh())
    assert ls.receive(Status(id=1, domain="Login", state=OPEN_SUSPECT)) == "state"
    assert ls.is_open
    assert ls.state == OPEN_SUSPECT


def test_message_without_state_changes_nothing() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    assert ls.receive(Status(id=1)) == "state"
    assert ls.phase is LoginPhase.PENDING
    assert ls.state is None


@pytest.mark.parametrize("phase", [LoginPhase.IDLE, LoginPhase.CLOSED])
def test_messages_when_not_logging_in_are_only_recorded(phase: LoginPhase) -> None:
    ls = LoginStream(LoginParams(), phase=phase)
    assert ls.receive(login_refresh()) == "state"
    assert ls.phase is phase
    assert ls.state == OPEN_OK


def test_logout_and_relogin() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    ls.receive(login_refresh())
    close = ls.logout()
    assert close == Close(id=1, domain="Login")
    assert ls.phase is LoginPhase.CLOSED
    ls.login("t2")
    assert ls.phase is LoginPhase.PENDING


def test_reset_from_every_phase() -> None:
    for phase in LoginPhase:
        ls = LoginStream(LoginParams(), phase=phase, state=OPEN_OK)
        ls.reset()
        assert ls.phase is LoginPhase.IDLE
        assert ls.state is None


def test_login_clears_previous_state() -> None:
    ls = LoginStream(LoginParams(), phase=LoginPhase.CLOSED, state=CLOSED)
    ls.login("t")
    assert ls.state is None


def test_double_login_while_pending_is_refused() -> None:
    ls = LoginStream(LoginParams())
    ls.login("t")
    with pytest.raises(KeyError):
        ls.login("t")


def test_transition_table_is_consistent() -> None:
    # every phase can be reset to IDLE, and "send" only starts from IDLE/CLOSED
    for phase in LoginPhase:
        assert TRANSITIONS[(phase, "reset")] is LoginPhase.IDLE
    senders = {p for (p, what) in TRANSITIONS if what == "send"}
    assert senders == {LoginPhase.IDLE, LoginPhase.CLOSED}
    assert all(TRANSITIONS[(p, "send")] is LoginPhase.PENDING for p in senders)
    assert TRANSITIONS[(LoginPhase.PENDING, "accepted")] is LoginPhase.OPEN
    assert (LoginPhase.PENDING, "reissue") not in TRANSITIONS
    assert (LoginPhase.IDLE, "accepted") not in TRANSITIONS
