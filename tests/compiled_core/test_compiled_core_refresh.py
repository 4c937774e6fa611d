"""The compiled core's Refresh path (``_speedups_refresh.pxi``): Refresh frames read straight
from their bytes give the structs msgspec gives (or None: the general path), and both cores
given the same Refresh frames, generated and mutated, mixed with Updates and Statuses, give the
same events, images, states and phases."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import pytest
from core_twins import RIPPLE_NAMES, Twins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiled_core_fast_decode import (
    _booleans,
    _ids,
    _ints,
    _seq_numbers,
    feed_generated,
    read_generated,
    reference,
    updates,
)

from ertcloud.protocol import codec, core
from ertcloud.protocol.client import ClientProtocol
from ertcloud.protocol.core import select
from ertcloud.protocol.messages import Key, Qos, Refresh, State
from ertcloud.sim.bench import bench_ric, ensure_universe
from ertcloud.sim.market import Market

pytestmark = pytest.mark.skipif(
    core.compiled_refresh is None, reason="the compiled core is not built"
)


def fast(frame: bytes | str) -> list[Any] | None:
    assert core.compiled_fast_decode is not None
    return core.compiled_fast_decode(frame)


def _protocol(name: str) -> ClientProtocol:
    proto = ClientProtocol()
    proto.dispatch, proto.fast_decode = select(name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    proto.start_login("tok")
    login = Refresh(id=1, domain="Login", state=State("Open", "Ok"))
    proto.receive(codec.encode([login]), 0.0)
    return proto


def test_the_simulators_refresh_frames_take_the_compiled_path() -> None:
    market = Market(11)
    ensure_universe(market, 30)
    protos = [_protocol("pure"), _protocol("compiled")]
    names = [bench_ric(i) for i in range(30)]
    for proto in protos:
        proto.request(names)
    ids = {s.name: s.id for s in protos[0].streams}
    for i, name in enumerate(names):
        refresh = Refresh(
            id=ids[name],
            key=Key(name=name, service="ELEKTRON_DD"),
            state=State("Open", "Ok", text="All is well"),
            qos=Qos(timeliness="Realtime", rate="TickByTick"),
            perm_data="AwO9ZWLA",
            seq_number=10 + i,
            fields=market.instruments[name].image,
        )
        frame = codec.encode([refresh])
        got = fast(frame)
        assert got is not None and repr(got) == repr(reference(frame))
        evs = [repr(e.message) for p in protos for e in p.receive(frame, 0.0)]
        assert evs[0] == evs[1]
    pure, compiled = (list(p.streams) for p in protos)
    assert [type(s.fields).__name__ for s in compiled] == ["CompactImage"] * 30
    for a, b in zip(pure, compiled, strict=True):
        assert (a.phase, a.state, a.service, a.seq_number, a.refreshes, a.whole_chains) == (
            b.phase, b.state, b.service, b.seq_number, b.refreshes, b.whole_chains,
        )  # fmt: skip
        assert dict(a.fields) == dict(b.fields) and list(a.fields) == list(b.fields)
    # one shape, one layout (beside the empty one), taken by every image of that shape
    assert len(protos[1].streams.interner.layouts) == 2


@pytest.mark.parametrize(
    "frame",
    [
        b'{"Type":"Refresh","ID":2}',
        b' [ {"ID" : 2 , "Type" : "Refresh" , "Fields" : { "BID" : 1.5 , "X" : null } } ] ',
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open","Data":"Suspect","Code":null,'
        b'"Text":"x"},"Qos":{"Timeliness":"Delayed","Rate":"JitConflated","TimeInfo":900,'
        b'"RateInfo":null,"Dynamic":false},"Key":{"Service":257,"Name":"A.L"}}]',
        b'[{"Type":"Refresh","ID":2,"Complete":false,"ClearCache":true,"PartNumber":0,'
        b'"Solicited":false,"Private":true,"Qualified":null,"DoNotCache":false,"SeqNumber":7,'
        b'"PermData":"AwEB","ExtHdr":"h","Domain":"MarketPrice"}]',
        b'[{"Type":"Refresh","ID":2,"Fields":null,"Key":null,"State":null,"Qos":null}]',
        b'[{"Type":"Refresh","ID":2,"Fields":{}},{"Type":"Update","ID":2,"Fields":{"A":1}},'
        b'{"Type":"Refresh","ID":3,"State":{"Data":"Ok","Stream":"NonStreaming"}}]',
        '[{"Type":"Refresh","ID":2,"Fields":{"T":"\u21e7","E":"été"}}]',  # a str frame
    ],
)
def test_refresh_frames_it_reads_give_what_msgspec_gives(frame: bytes | str) -> None:
    got = fast(frame)
    assert got is not None
    assert repr(got) == repr(reference(frame))


@pytest.mark.parametrize(
    "frame",
    [
        b'[{"Type":"Refresh","ID":2,"Elements":{"A":1}}]',  # a key it does not read
        b'[{"Type":"Refresh","ID":2,"Map":{"Entries":[]}}]',
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open"}}]',  # no Data: msgspec refuses
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open","Data":null}}]',
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open","Data":"Ok","Extra":1}}]',
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open","Data":"Ok","Data":"Ok"}}]',
        b'[{"Type":"Refresh","ID":2,"Qos":{"Rate":1}}]',
        b'[{"Type":"Refresh","ID":2,"Qos":{"Other":"x"}}]',
        b'[{"Type":"Refresh","ID":2,"Complete":1}]',
        b'[{"Type":"Refresh","ID":2,"SeqNumber":"1"}]',
        b'[{"Type":"Refresh","ID":2,"Domain":6}]',
        b'[{"Type":"Refresh","ID":2,"ID":3}]',  # a duplicate key
        b'[{"Type":"Refresh","ID":2,"Fields":{},"Fields":{}}]',
        b'[{"Type":"Refresh"}]',  # no ID
        b'[{"ID":2,"State":{"Stream":"Open","Data":"Ok"}}]',  # no Type
        b'[{"Type":"Refresh","ID":2,"Fields":{"A":"a\\"b"}}]',  # an escape
        b'[{"Type":"Refresh","ID":2,"Fields":{"A":[1]}}]',  # nested
        b'[{"Type":"Refresh","ID":2},{"Type":"Status","ID":2}]',  # a Status in the frame
        b'[{"Type":"Refresh","ID":2,"State":{"Stream":"Open","Data":"Ok"}',  # truncated
        b'[{"Type":"Refresh","ID":2},]',
        b'{"Type":"Refresh","ID":2} {}',
    ],
)
def test_refresh_frames_it_does_not_know_go_to_the_general_path(frame: bytes) -> None:
    assert fast(frame) is None


STATES = [
    {"Stream": "Open", "Data": "Ok"},
    {"Stream": "Open", "Data": "Suspect", "Code": "None", "Text": "stale"},
    {"Stream": "NonStreaming", "Data": "Ok"},
    {"Stream": "Closed", "Data": "Suspect", "Code": "NotFound"},
    {"Stream": "ClosedRecover", "Data": "Suspect"},
]
field_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
field_names = st.sampled_from([*RIPPLE_NAMES, "DSPLY_NAME", "ACVOL_1", "X", "Y"])


# Built once: a strategy built inside a composite is rebuilt at every draw (see the fast
# decode tests); the values drawn and their odds are the same.
_states = st.sampled_from(STATES)
_refresh_fields = st.dictionaries(field_names, field_values, max_size=12)
_key_names = st.text(max_size=6)
_domains = st.sampled_from(["MarketPrice", "YieldCurve"])


@functools.cache
def _some_ids(ids: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.sampled_from(ids)


@functools.cache
def _refreshes(ids: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return refreshes(list(ids))


@functools.cache
def _updates(ids: tuple[int, ...]) -> st.SearchStrategy[dict[str, Any]]:
    return updates(list(ids))


@st.composite
def refreshes(draw: st.DrawFn, ids: list[int], unusual: bool = True) -> dict[str, Any]:
    msg: dict[str, Any] = {"Type": "Refresh", "ID": draw(_ids(tuple(ids)))}
    if draw(_ints(0, 5)):
        msg["State"] = draw(_states)
    if draw(_ints(0, 5)):
        msg["Fields"] = draw(_refresh_fields)
    if draw(_booleans):
        msg["Key"] = {"Name": draw(_key_names), "Service": "ELEKTRON_DD"}
    if draw(_ints(0, 3)) == 0:
        msg["Complete"] = draw(_booleans)
    if draw(_ints(0, 3)) == 0:
        msg["ClearCache"] = draw(_booleans)
    if draw(_booleans):
        msg["SeqNumber"] = draw(_seq_numbers)
    if draw(_ints(0, 3)) == 0:
        msg["Qos"] = {"Timeliness": "Realtime", "Rate": "TickByTick"}
    if draw(_ints(0, 5)) == 0:
        msg["Domain"] = draw(_domains)
    if unusual and draw(_ints(0, 7)) == 0:
        msg["Elements"] = {"A": 1}  # the general path, the same frame otherwise
    return msg


@st.composite
def messages(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    kind = draw(_ints(0, 9))
    if kind < 5:
        return draw(_refreshes(tuple(ids)))
    if kind < 9:
        return draw(_updates(tuple(ids)))
    status: dict[str, Any] = {"Type": "Status", "ID": draw(_some_ids(tuple(ids)))}
    status["State"] = draw(_states)
    if draw(_booleans):
        status["ClearCache"] = True
    return status


_plain_refreshes_234 = refreshes([2, 3, 4], unusual=False)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_refresh_frames_read_as_msgspec_reads_them(data: st.DataObject) -> None:
    read_generated(data, _plain_refreshes_234)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_both_cores_agree_on_refreshes(data: st.DataObject) -> None:
    feed_generated(data, messages, frames=6)


def _streams(twins: Twins) -> list[Any]:
    return [
        [(s.id, s.state, s.service, s.whole_chains, s.phase) for s in p.streams]
        for p in twins.protos
    ]


def test_both_cores_agree_on_a_multi_part_refresh_then_updates() -> None:
    """A refresh in parts (the first clears the cache, the others add to it), a view's
    smaller image, a Status that clears the cache: the same images, chains and states."""
    twins = Twins()
    sid = twins.ids[0]
    ok = '"State":{"Stream":"Open","Data":"Ok"}'
    whole = ",".join(f'"{n}":{i}.5' for i, n in enumerate(RIPPLE_NAMES))
    frames = [
        f'{{"Type":"Refresh","ID":{sid},{ok},"Complete":false,"Fields":{{"BID":1.0,"X":"a"}}}}',
        f'{{"Type":"Refresh","ID":{sid},{ok},"ClearCache":false,"Fields":{{{whole}}}}}',
        f'{{"Type":"Update","ID":{sid},"Fields":{{"TRDPRC_1":9.5,"BID":2}}}}',
        f'{{"Type":"Refresh","ID":{sid},{ok},"Fields":{{"TRDPRC_1":1,"TRDPRC_3":3}}}}',
        f'{{"Type":"Update","ID":{sid},"Fields":{{"TRDPRC_1":2}}}}',
        f'{{"Type":"Status","ID":{sid},"ClearCache":true,{ok}}}',
        f'{{"Type":"Refresh","ID":{sid},{ok},"Fields":{{{whole}}}}}',
        f'{{"Type":"Update","ID":{sid},"Fields":{{"ASK":7,"BID":8}}}}',
        f'{{"Type":"Refresh","ID":{sid},"State":{{"Stream":"NonStreaming","Data":"Ok"}},'
        f'"Fields":{{"BID":3}}}}',
    ]
    for frame in frames:
        twins.feed(frame.encode())
        assert _streams(twins)[0] == _streams(twins)[1], frame


def test_a_shape_past_the_bound_of_layouts_gets_a_field_image_on_both_cores() -> None:
    twins = Twins()
    sid = twins.ids[0]
    layouts = twins.protos[1].streams.interner.layouts
    while len(layouts) < 1_000:  # fill the table with other shapes
        layouts.get((f"F{len(layouts)}",))
    twins.feed(f'{{"Type":"Refresh","ID":{sid},"Fields":{{"NEW_SHAPE":1}}}}'.encode())
    assert type(twins.protos[1].streams.get(sid).fields).__name__ == "FieldImage"  # type: ignore[union-attr]


def test_a_refresh_the_compiled_apply_does_not_take_is_left_untouched() -> None:
    assert core.compiled_refresh is not None
    proto = _protocol("compiled")
    (s,) = proto.request("A.L")
    s.interner.compact = True
    refresh = Refresh(id=s.id, state=State("Open", "Ok"), fields={"BID": 1.0})
    assert core.compiled_refresh(s, msgspec.structs.replace(refresh, clear_cache=False)) is False
    assert core.compiled_refresh(s, msgspec.structs.replace(refresh, state=None)) is False
    assert core.compiled_refresh(s, msgspec.structs.replace(refresh, fields={})) is False
    assert s.refreshes == 0 and len(s.fields) == 0  # untouched
    assert core.compiled_refresh(s, refresh) is True
    assert s.refreshes == 1 and dict(s.fields) == {"BID": 1.0} and s.phase.value == "open"
