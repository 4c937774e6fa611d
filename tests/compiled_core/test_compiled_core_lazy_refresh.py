"""The compiled core's ``ItemRefreshed``: a Refresh whose image the compiled ``receive`` builds
straight from the frame's fields, its ``message`` read from the frame's bytes only when
accessed. With the pure core as the oracle: the same events whenever their messages are read
(after later Refreshes and Updates changed the image, after the caller dropped the frame), for
odd and hostile frames, multi-part refreshes and views; the same equality, ``repr``, pickling and
matching as the msgspec struct (``ERTCLOUD_NO_EXTENSIONS`` keeps that one: see
test_compiled_core_lazy_events.py)."""

from __future__ import annotations

import functools
import sys
from typing import Any

import msgspec
import pytest
from core_twins import RIPPLE_NAMES, core_protocol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiled_core_fast_decode import _ints, mangled
from test_compiled_core_lazy_events import _received, _seen, behaves_as_struct
from test_compiled_core_refresh import messages, refreshes

from ertcloud.protocol import core, events
from ertcloud.protocol.client import _FRAME_DECODER
from ertcloud.protocol.messages import Refresh, State

pytestmark = pytest.mark.skipif(
    core.compiled_read_frame is None or core.CORE != "compiled",
    reason="the compiled core is not built or not in use",
)

OK = '"State":{"Stream":"Open","Data":"Ok"}'


def _ids() -> dict[str, int]:
    return {s.name: s.id for s in core_protocol("default").streams}


def _refresh(sid: int, fields: str, extra: str = "") -> bytes:
    return f'{{"Type":"Refresh","ID":{sid},{OK}{extra},"Fields":{{{fields}}}}}'.encode()


def _update(sid: int, fields: str) -> bytes:
    return f'{{"Type":"Update","ID":{sid},"Fields":{{{fields}}}}}'.encode()


def _msgs(frame: bytes | str) -> list[Any]:
    out = _FRAME_DECODER.decode(frame)
    return out if isinstance(out, list) else [out]


def _refreshed(frames: list[bytes | str]) -> tuple[list[Any], list[Any]]:
    """The events of each core for ``frames`` (none read yet); the compiled one through the
    compiled ``receive`` (the class's own)."""
    return _received(frames, ("pure", "default"))


def test_the_compiled_core_gives_its_own_refresh_event() -> None:
    from ertcloud.protocol import _speedups

    assert events.ItemRefreshed is _speedups.ItemRefreshed
    frame = _refresh(_ids()["WHOLE.L"], '"BID":1.5,"ASK":2')
    pure, compiled = _refreshed([frame])
    assert type(pure[0]) is type(compiled[0]) is events.ItemRefreshed
    assert [e.message for e in compiled] == [e.message for e in pure] == _msgs(frame)


def test_the_event_holds_the_frame_until_its_message_is_read() -> None:
    """The lazy path is the one taken (the event holds the payload, not a message), and the
    payload is let go once the message is read."""
    frame = _refresh(_ids()["WHOLE.L"], '"BID":1.5,"DSPLY_NAME":"été"', ',"SeqNumber":3')
    proto = core_protocol("default")
    held = sys.getrefcount(frame)
    (ev,) = proto.receive(frame, 0.0)
    assert sys.getrefcount(frame) == held + 1
    assert (ev.seq_number, ev.state) == (3, State("Open", "Ok"))  # not read for these
    assert sys.getrefcount(frame) == held + 1
    assert ev.message == _msgs(frame)[0]
    assert (ev.seq_number, ev.state) == (3, State("Open", "Ok"))
    assert sys.getrefcount(frame) == held
    assert ev.message is ev.message  # read once, kept


def test_messages_read_after_later_frames_changed_the_image() -> None:
    """Refreshes (whole chains, a view's smaller image, a multi-part refresh, a str frame, a
    frame of several Refreshes and Updates) then Updates that ripple and change the image:
    every event read at the end gives its own frame's message, on both cores alike."""
    ids = _ids()
    whole, view, plain = ids["WHOLE.L"], ids["VIEW.L"], ids["PLAIN.L"]
    chain = ",".join(f'"{n}":{i}.5' for i, n in enumerate(RIPPLE_NAMES))
    frames: list[bytes | str] = [
        _refresh(whole, chain),
        _update(whole, '"TRDPRC_1":99.5,"BID":7'),
        _refresh(view, '"TRDPRC_1":1,"BID":2.25', ',"Complete":false'),
        _refresh(view, '"ASK":3', ',"ClearCache":false'),  # the second part: merged
        b"[" + _refresh(plain, '"DSPLY_NAME":"x","ACVOL_1":10') + b","
        + _update(plain, '"ACVOL_1":11') + b"," + _refresh(whole, chain) + b"]",
        _refresh(whole, '"BID":1,"NEW_FIELD":null,"ÉTÉ":"\u21e7"').decode(),  # a str frame
        _update(whole, '"BID":2,"NEW_FIELD":true'),
        _refresh(whole, chain, ',"Key":{"Name":"WHOLE.L","Service":"ELEKTRON_DD"}'),
        _update(whole, '"TRDPRC_1":1e3'),
    ]  # fmt: skip
    pure, compiled = _refreshed(list(frames))
    expected = [m for f in frames for m in _msgs(f) if m.id in ids.values()]
    assert [e.message for e in compiled] == expected
    assert [e.message for e in pure] == expected
    assert _seen(compiled) == _seen(pure)
    del frames  # the events keep what they need
    assert [e.message for e in compiled] == expected


@pytest.mark.parametrize(
    "frame",
    [
        _refresh(2, '"BID":1,"BID":2'),  # a name twice: the general path's dict
        _refresh(2, ""),  # no fields
        _refresh(2, '"BID":1', ',"ClearCache":false'),
        _refresh(2, '"BID":1', ',"Domain":"YieldCurve"'),
        b'{"Type":"Refresh","ID":2,"State":{"Stream":"Closed","Data":"Suspect"},"Fields":{"A":1}}',
        b'{"Type":"Refresh","ID":2,"Fields":{"A":1}}',  # no State
        b'{"Type":"Refresh","ID":1,"Domain":"Login",' + OK.encode() + b"}",  # the login's
        _refresh(1, '"BID":1'),  # the login's id, no Domain
        _refresh(999, '"BID":1'),  # no such stream
        _refresh(2, '"BID":12345678901234567890123'),  # beyond 64 bits: the general decoder
        _refresh(2, '"BID":"a\\"b"'),  # an escape
        b"[" + _refresh(2, '"A":1') + b',{"Type":"Ping"}]',
        b"[" + _refresh(2, '"A":1') + b"," + _refresh(3, '"A":1')[:-3] + b"]",  # truncated
        b"[" + _refresh(3, '"A":1,"B":2') + b"," + _refresh(2, '"B":2,"A":1') + b"]",
        # an Update whose Fields come before its Type: first read as a Refresh, given up
        b"["
        + _refresh(2, '"A":1')
        + b',{"ID":2,"Fields":{"A":7,"B":"x"},"Type":"Update"},'
        + _refresh(3, '"B":2')
        + b"]",
    ],
)
def test_refreshes_the_lazy_path_leaves_or_falls_back_on_agree(frame: bytes) -> None:
    pure, compiled = _refreshed([frame, _update(2, '"A":5,"BID":6')])
    assert _seen(compiled) == _seen(pure)


def test_the_event_behaves_as_the_pure_cores_struct() -> None:
    frame = _refresh(_ids()["WHOLE.L"], '"BID":1.5,"ASK":2.5', ',"SeqNumber":4')
    (ev,) = _refreshed([frame])[1]
    (msg,) = _msgs(frame)
    assert (ev.seq_number, ev.state) == (4, msg.state)
    lone = events.ItemRefreshed(None, Refresh(id=2, state=State("Open", "Ok")))  # type: ignore[arg-type]
    behaves_as_struct(ev, msg, lone)
    assert ev.state == events.ItemRefreshed(ev.stream, msg).state


@functools.cache
def _message_lists(ids: tuple[int, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Built once per ids: a strategy built in the test is rebuilt at every example."""
    return st.lists(st.one_of(refreshes(list(ids)), messages(list(ids))), min_size=1, max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_refresh_messages_read_after_all_frames_agree(data: st.DataObject) -> None:
    """Generated frames of Refreshes, Updates and Statuses (some cut short or with a flipped
    byte) through both cores, every event read only at the end: the same events and
    messages."""
    ids = sorted(_ids().values())
    frames: list[bytes | str] = []
    for _ in range(data.draw(_ints(1, 6))):
        msgs = data.draw(_message_lists(tuple(ids)))
        raw = mangled(data, msgspec.json.encode(msgs if len(msgs) > 1 else msgs[0]), 9)
        frames.append(raw.decode("utf-8", "replace") if data.draw(_ints(0, 6)) == 0 else raw)
    pure, compiled = _refreshed(frames)
    assert _seen(compiled) == _seen(pure)
