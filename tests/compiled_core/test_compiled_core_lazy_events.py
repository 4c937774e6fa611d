"""The compiled core's ``ItemUpdated``: applied from what the reader read, its ``message`` read
from the frame's bytes only when accessed. It must be the event the pure core gives: the same
message whenever it is read (after later frames, after the caller dropped the frame), the same
equality, ``repr``, pickling and matching; ``ERTCLOUD_NO_EXTENSIONS`` keeps the msgspec one."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from core_twins import RIPPLE_NAMES, Twins, core_protocol
from core_twins import ints as _ints
from core_twins import stream_ids as _update_ids
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.exceptions import LimitExceeded
from ertcloud.protocol import core, events
from ertcloud.protocol.client import _FRAME_DECODER
from ertcloud.protocol.messages import Refresh, Update

pytestmark = pytest.mark.skipif(
    core.compiled_read_frame is None, reason="the compiled core is not built"
)


def _ids(name: str) -> dict[str, int]:
    return {s.name: s.id for s in core_protocol(name).streams}


def _received(
    frames: list[bytes | str], cores: tuple[str, str] = ("pure", "compiled")
) -> tuple[list[Any], list[Any]]:
    """The events each core gives for ``frames`` (delivered or returned), none read yet;
    the exception that ended the run last if one did."""
    out = []
    for name in cores:
        proto = core_protocol(name)
        got: list[Any] = []
        for s in proto.streams:
            s.deliver = got.append if s.id % 2 == 0 else None
        try:
            for f in frames:
                got += proto.receive(f, 0.0)
        except LimitExceeded as exc:
            got.append(str(exc))
        out.append(got)
    return out[0], out[1]


def _seen(evs: list[Any]) -> list[Any]:
    """Item events as (type, stream id, their message or state), anything else as its repr."""
    return [
        (type(e).__name__, e.stream.id, repr(getattr(e, "message", None) or e.state))
        if hasattr(e, "stream") else repr(e)
        for e in evs
    ]  # fmt: skip


def _frame(sid: int, seq: int, fields: str) -> bytes:
    return f'{{"Type":"Update","ID":{sid},"SeqNumber":{seq},"Fields":{{{fields}}}}}'.encode()


def test_the_compiled_core_gives_its_own_event_type() -> None:
    from ertcloud.protocol import _speedups

    if core.CORE == "compiled":
        assert events.ItemUpdated is _speedups.ItemUpdated
    whole = _ids("compiled")["WHOLE.L"]
    pure, compiled = _received([_frame(whole, 1, '"BID":1.5')])
    assert type(pure[0]) is type(compiled[0]) is events.ItemUpdated


def test_no_extensions_keeps_the_msgspec_events() -> None:
    code = (
        "import msgspec; from ertcloud.protocol import events, messages; "
        "ev = events.ItemUpdated(None, messages.Update(id=2, seq_number=5)); "
        "rf = events.ItemRefreshed(None, messages.Refresh(id=2, seq_number=6)); "
        "print(issubclass(events.ItemUpdated, msgspec.Struct), ev.seq_number, "
        "issubclass(events.ItemRefreshed, msgspec.Struct), rf.seq_number, rf.state)"
    )
    env = {**os.environ, "ERTCLOUD_NO_EXTENSIONS": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True 5 True 6 None"


def test_a_message_read_later_is_the_one_of_its_frame() -> None:
    """Events read after later frames changed the image, and after the caller dropped the
    payload: each gives its own frame's message, as msgspec decodes it."""
    ids = _ids("compiled")
    frames: list[bytes | str] = [
        _frame(ids["WHOLE.L"], 1, '"BID":1.5,"ASK":2,"DSPLY_NAME":"été"'),
        _frame(ids["WHOLE.L"], 2, '"BID":1.75,"NEW_FIELD":null'),
        b"[" + _frame(ids["PLAIN.L"], 3, '"ACVOL_1":10') + b","
        + _frame(ids["VIEW.L"], 4, '"TRDPRC_1":9.5,"BID":true') + b"]",
        _frame(ids["SMALL.L"], 5, '"BID":3').decode(),  # a str frame
    ]  # fmt: skip
    pure, compiled = _received(list(frames))
    expected = [m for f in frames for m in _msgs(f)]
    assert [e.message for e in compiled] == expected
    assert [e.message for e in pure] == expected
    assert _seen(compiled) == _seen(pure)
    assert [e.message for e in compiled] == expected  # read once, kept


def _msgs(frame: bytes | str) -> list[Update]:
    out = _FRAME_DECODER.decode(frame)
    return out if isinstance(out, list) else [out]


def behaves_as_struct(ev: Any, msg: Any, lone: Any) -> None:
    """``ev``, a compiled event of ``msg`` whose ``BID`` is 1.5, behaves as the msgspec
    struct of its class; so does ``lone`` (of no stream) through pickling."""
    cls = type(ev)
    name = cls.__name__
    eager = cls(ev.stream, msg)
    assert ev == eager and not ev != eager and ev != object()
    assert ev == cls(stream=ev.stream, message=msg)
    assert ev.seq_number == eager.seq_number == msg.seq_number
    assert repr(ev) == repr(eager)
    assert repr(ev).startswith(f"{name}(stream=ItemStream(")
    assert ev.__struct_fields__ == ("stream", "message")
    with pytest.raises(AttributeError):
        ev.message = msg
    with pytest.raises(TypeError):
        hash(ev)  # its message is not hashable, as with the frozen struct
    match ev:
        case events.ItemUpdated(stream=s, message=Update(fields={"BID": bid})) | (
            events.ItemRefreshed(stream=s, message=Refresh(fields={"BID": bid}))
        ):
            assert s is ev.stream and bid == 1.5
        case _:
            pytest.fail("no match")
    assert ev.__reduce__() == (cls, (ev.stream, msg))
    copied = pickle.loads(pickle.dumps(lone))
    assert copied == lone and copied.message == lone.message and copied.stream is None


def test_the_event_behaves_as_the_pure_cores_struct() -> None:
    whole = _ids("compiled")["WHOLE.L"]
    frame = _frame(whole, 7, '"BID":1.5,"ASK":2.5')
    (ev,) = _received([frame])[1]
    assert ev.seq_number == 7  # before the message is read, and after
    (msg,) = _msgs(frame)
    behaves_as_struct(ev, msg, events.ItemUpdated(None, msg))  # type: ignore[arg-type]
    assert ev.seq_number == 7


def test_an_order_book_keeps_no_part_of_the_events_message() -> None:
    book = _ids("compiled")["BOOK.L"]
    frame = (
        f'{{"Type":"Update","ID":{book},"Map":{{"Entries":[{{"Action":"Add","Key":"k9",'
        f'"Fields":{{"ORDER_PRC":1.5}}}}]}}}}'
    ).encode()
    pure, compiled = _received([frame])
    (ev,) = compiled
    row = ev.stream.map.entries["k9"]
    assert row == {"ORDER_PRC": 1.5}
    row["ORDER_PRC"] = 2.0  # the book's row is not the message's
    assert ev.message.map == {
        "Entries": [{"Action": "Add", "Key": "k9", "Fields": {"ORDER_PRC": 1.5}}]
    }
    assert ev.message == pure[0].message


def test_a_callback_that_receives_another_frame() -> None:
    """A deliver callback that feeds the core another frame and reads its messages (the
    reader's buffers are in use by the outer frame meanwhile): both cores alike."""
    ids = _ids("compiled")
    whole, plain = ids["WHOLE.L"], ids["PLAIN.L"]
    inner = _frame(plain, 9, '"ACVOL_1":11,"DSPLY_NAME":"x"')
    outer = b"[" + _frame(whole, 1, '"BID":4') + b"," + _frame(whole, 2, '"ASK":5') + b"]"
    seen = []
    for name in ("pure", "compiled"):
        proto = core_protocol(name)
        got: list[Any] = []

        def deliver(ev: Any, proto: Any = proto, got: list[Any] = got) -> None:
            got.append(ev)
            if len(got) == 1:
                got.extend(proto.receive(inner, 0.0))
            got.append(ev.message)

        stream = proto.streams.get(whole)
        assert stream is not None
        stream.deliver = deliver
        got += proto.receive(outer, 0.0)
        seen.append((_seen(got), [(s.id, repr(s.fields)) for s in proto.streams]))
    assert seen[0] == seen[1]


def test_a_frame_is_a_sequence_of_the_updates_until_dispatched() -> None:
    assert core.compiled_read_frame is not None and core.compiled_dispatch is not None
    raw = b"[" + _frame(2, 1, '"BID":1') + b"," + _frame(3, 2, '"A":"b","C":null') + b"]"
    fr: Any = core.compiled_read_frame(raw)
    assert len(fr) == 2 and list(fr) == _msgs(raw)
    assert fr[-1] == _msgs(raw)[1] and fr[1:] == _msgs(raw)[1:]
    with pytest.raises(IndexError):
        fr[2]
    proto = core_protocol("compiled")
    core.compiled_dispatch(fr, proto.streams.lookup, proto._on_other)
    assert len(fr) == 0  # consumed
    assert core.compiled_read_frame(b'[{"Type":"Ping"}]') is None


names = st.sampled_from([*RIPPLE_NAMES, "DSPLY_NAME", "ACVOL_1", "NEW_FIELD", "ÉTÉ"])
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**17), max_value=10**17),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)


# The strategies the composite and the test draw from are built once, here: a strategy built
# inside a composite is built again (and its properties worked out again) at every draw. The
# values drawn, and their odds, are the same.
_booleans = st.booleans()
_update_fields = st.dictionaries(names, values, max_size=6)
_seq_numbers = st.integers(min_value=0, max_value=2**40)
_key_names = st.text(max_size=5)


@st.composite
def updates(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    msg: dict[str, Any] = {"Type": "Update", "ID": draw(_update_ids(tuple(ids)))}
    if draw(_ints(0, 5)):
        msg["Fields"] = draw(_update_fields)
    if draw(_booleans):
        msg["SeqNumber"] = draw(_seq_numbers)
    if draw(_booleans):
        msg["Key"] = {"Name": draw(_key_names)}
    if draw(_ints(0, 5)) == 0:
        msg["Map"] = {"Entries": [{"Action": "Add", "Key": "k1", "Fields": {"P": 1}}]}
    for flag in ("DoNotRipple", "DoNotCache"):
        if draw(_ints(0, 6)) == 0:
            msg[flag] = draw(_booleans)
    return msg


@functools.cache
def _frames_of(ids: tuple[int, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(updates(list(ids)), min_size=1, max_size=5)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_messages_read_after_all_frames_agree(data: st.DataObject) -> None:
    """Generated frames through both cores, every event read only at the end (after the
    reader's buffers served the later frames): the same events, messages and images."""
    ids = Twins().ids
    frames: list[bytes | str] = []
    for _ in range(data.draw(_ints(1, 6))):
        msgs = data.draw(_frames_of(tuple(ids)))
        raw = msgspec.json.encode(msgs if len(msgs) > 1 else msgs[0])
        frames.append(raw.decode() if data.draw(_ints(0, 5)) == 0 else raw)
    pure, compiled = _received(frames)
    assert _seen(compiled) == _seen(pure)
