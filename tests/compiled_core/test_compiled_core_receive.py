"""The compiled ``ClientProtocol.receive``: one call per frame of Updates (or of Refreshes and
Updates), the Python method for every other frame and whenever the class or the instance
uses another ``dispatch`` or ``fast_decode``. Its events, images and bookkeeping must be those
of the Python method on the same core and of the pure core (``Twins`` feeds all three)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from core_twins import RIPPLE_NAMES, Twins, core_protocol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import ClientProtocol, codec, core
from ertcloud.protocol.messages import Ping, Refresh, Update

pytestmark = pytest.mark.skipif(core.CORE != "compiled", reason="the compiled core is not active")


def _frames(proto: ClientProtocol) -> list[bytes]:
    """Frames of every kind the compiled receive meets: Updates (one, several), Refreshes
    with Updates, a Ping, a Status, an Update for no stream, malformed JSON."""
    ids = {s.name: s.id for s in proto.streams}
    whole, plain = ids["WHOLE.L"], ids["PLAIN.L"]
    up = [Update(id=whole, fields={"TRDPRC_1": 9.5, "BID": 1.25}, seq_number=4)]
    return [
        codec.encode(up),
        codec.encode(up * 3 + [Update(id=plain, fields={"ACVOL_1": 11})]),
        codec.encode([Refresh(id=plain, fields={"ACVOL_1": 12}), *up]),
        codec.encode([Ping()]),
        b'{"ID": %d, "Type": "Status", "State": {"Stream": "Open", "Data": "Suspect"}}' % plain,
        codec.encode([Update(id=9999, fields={"BID": 1.0})]),
        b'[{"ID": 3, "Type": "Update", "Fields": {',
    ]


def test_the_class_has_the_compiled_receive() -> None:
    assert type(ClientProtocol.receive).__name__ == "cython_function_or_method"
    assert ClientProtocol.receive.__doc__ and "one received frame" in ClientProtocol.receive.__doc__


def test_bookkeeping_as_the_python_method() -> None:
    fast, general = core_protocol("default"), core_protocol("compiled")
    for i, frame in enumerate(_frames(fast)):
        for proto in (fast, general):
            proto.receive(frame, 100.0 + i)
        assert (fast.last_received, fast.messages_received) == (
            general.last_received,
            general.messages_received,
        )
        assert fast.last_received == 100.0 + i
        assert fast.data_to_send() == general.data_to_send()  # the Pong of the Ping


class _Sub(ClientProtocol):
    pass


@pytest.mark.parametrize("how", ["instance", "class", "subclass"])
def test_other_set_ups_agree(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure core put on the instance or on the class goes through the Python method; a
    subclass keeps the compiled one; all give the events of the pure core."""
    if how == "class":
        dispatch, fast = core.select("pure")
        monkeypatch.setattr(ClientProtocol, "dispatch", staticmethod(dispatch))
        monkeypatch.setattr(ClientProtocol, "fast_decode", staticmethod(fast))  # type: ignore[arg-type]
    proto = core_protocol("pure" if how == "instance" else "default")
    pure = core_protocol("pure")
    if how == "subclass":
        proto.__class__ = _Sub
    for frame in _frames(proto):
        got, want = proto.receive(frame, 1.0), pure.receive(frame, 1.0)
        assert [type(e).__name__ for e in got] == [type(e).__name__ for e in want]
        assert repr(sorted((s.id, repr(s.fields)) for s in proto.streams)) == repr(
            sorted((s.id, repr(s.fields)) for s in pure.streams)
        )
    assert proto.messages_received == pure.messages_received


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["WHOLE.L", "VIEW.L", "PLAIN.L", "SMALL.L", "PENDING.L", "BOOK.L"]),
            st.dictionaries(st.sampled_from([*RIPPLE_NAMES, "X", "ACVOL_1"]), st.floats(0, 9)),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_frames_agree_on_three_paths(msgs: list[tuple[str, dict[str, Any], bool]]) -> None:
    twins = Twins()
    assert len(twins.protos) == 3
    ids = {s.name: s.id for s in twins.protos[0].streams}
    frame = [
        (Refresh if refresh else Update)(id=ids[name], fields=fields)  # type: ignore[operator]
        for name, fields, refresh in msgs
    ]
    twins.feed(codec.encode(frame))


def test_no_extensions_keeps_the_python_method() -> None:
    env = {**os.environ, "ERTCLOUD_NO_EXTENSIONS": "1"}
    code = "from ertcloud.protocol import ClientProtocol as C; print(type(C.receive).__name__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "function", out.stderr


def test_ripple_pairs_follow_the_layout_and_the_rules() -> None:
    """The slot pairs a name's moves are kept as are those of the image at hand: streams of
    whole chains and of a view missing links, in turn, ripple as the pure core does."""
    twins = Twins()
    ids = {s.name: s.id for s in twins.protos[0].streams}
    for i in range(6):
        for name in ("WHOLE.L", "VIEW.L", "WHOLE.L", "PLAIN.L"):
            fields = {"TRDPRC_1": float(i), "BID": i + 0.5, "ASK": i + 1}
            twins.feed(codec.encode([Update(id=ids[name], fields=fields)]))
