"""The compiled core's reader of frames of Updates (``decode_updates``) against msgspec: the
same ``Update`` structs whenever it reads a frame, and None (the general path) for anything it
does not know. Also: the two cores agree through that path (generated and mutated frames).

The property tests draw hypothesis's default 100 examples each: their time is spent
generating the frames, not reading them, and every run of the suite draws new ones."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from core_twins import MAP_KEYS, RIPPLE_NAMES, Twins
from core_twins import ints as _ints
from core_twins import stream_ids as _ids
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import core
from ertcloud.protocol.messages import AnyMessage
from ertcloud.sim.bench import Target, bench_ric, ensure_universe, update_pool
from ertcloud.sim.market import Market

pytestmark = pytest.mark.skipif(
    core.compiled_fast_decode is None, reason="the compiled core is not built"
)
_msgspec = msgspec.json.Decoder(list[AnyMessage] | AnyMessage)


def fast(frame: bytes | str) -> list[Any] | None:
    assert core.compiled_fast_decode is not None
    return core.compiled_fast_decode(frame)


def reference(frame: bytes | str) -> list[Any]:
    out = _msgspec.decode(frame)
    return out if isinstance(out, list) else [out]


def test_the_simulators_update_frames_take_the_fast_path() -> None:
    market = Market(7)
    ensure_universe(market, 20)
    targets = [
        Target(3 + i, bench_ric(i), holds=frozenset(market.instruments[bench_ric(i)].image))
        for i in range(20)
    ]
    msgs = update_pool(market, targets, "MarketPrice", 200)
    for n in (1, 10):
        frame = b"[" + b",".join(msgs[:n]) + b"]"
        got = fast(frame)
        assert got is not None, frame
        assert got == reference(frame)
        assert [repr(m) for m in got] == [repr(m) for m in reference(frame)]


@pytest.mark.parametrize(
    "frame",
    [
        b'{"Type":"Update","ID":2}',
        b' [ {"ID" : 2 , "Type" : "Update" , "Fields" : { "BID" : 1.5 , "X" : null } } ] \n',
        b'[{"Type":"Update","ID":2,"Key":{"Name":"A.L","Service":257},"Domain":"MarketPrice"}]',
        b'[{"Type":"Update","ID":2,"Key":{"Service":"S","Name":null},"SeqNumber":-3}]',
        b'[{"Type":"Update","ID":2,"DoNotRipple":false,"DoNotCache":null,"Discardable":true}]',
        b'[{"Type":"Update","ID":2,"DoNotConflate":true,"PermData":"AwEB","SimTs":1}]',
        b'[{"Type":"Update","ID":2,"UpdateType":"Trade","Fields":{}},{"Type":"Update","ID":3}]',
        '[{"Type":"Update","ID":2,"Fields":{"T":"\u21e7","E":"été","Z":"\U0001f600"}}]'.encode(),
        b'[{"Type":"Update","ID":2,"Fields":{"A":0,"B":-0,"C":-0.0,"D":1E5,"E":2.5e-3}}]',
        b'[{"Type":"Update","ID":2,"Fields":{"A":999999999999999999,"B":true,"C":false}}]',
        b'[{"Type":"Update","ID":2,"SimTs":1765100000123456789,"Fields":{"A":-9223372036854775807}}]',
        b'[{"Type":"Update","ID":2,"Fields":{"A":1,"A":2}}]',  # last wins, as in msgspec
        b'[{"Type":"Update","ID":2,"Fields":{"A":0.1e-400,"B":1.7976931348623157e308}}]',
        '[{"Type":"Update","ID":2,"Fields":{"A":"x"}}]',  # a str frame
        b'[{"Type":"Update","ID":2,"Map":null},{"Type":"Update","ID":3,"Map":{}}]',
        b'[{"Type":"Update","ID":2,"Domain":"MarketByPrice","Map":{"KeyType":"Buffer",'
        b'"Summary":{"Fields":{"TIMACT_MS":1}},"Entries":[{"Action":"Add","Key":"QQ==",'
        b'"Fields":{"ORDER_PRC":1.5,"ORDER_SIDE":"BID","NO_ORD":null}},{"Action":"Delete",'
        b'"Key":"Qg=="},{"Key":[1,"a"],"Action":"Update","Elements":{"X":true}}]}}]',
        b' { "ID" : 9 , "Type" : "Update" , "Map" : { "Entries" : [ 1 , "x" , [ ] , { } ] ,'
        b' "Summary" : [ ] , "CountHint" : 4 , "E" : "\xc3\xa9" } } ',
        b'[{"Type":"Update","ID":2,"Fields":{"BID":1},"Map":{"Entries":[{"Key":1,"Key":2}]}}]',
    ],
)
def test_frames_it_reads_give_what_msgspec_gives(frame: bytes | str) -> None:
    got = fast(frame)
    assert got is not None
    assert got == reference(frame)
    assert repr(got) == repr(reference(frame))


@pytest.mark.parametrize(
    "frame",
    [
        b'[{"Type":"Update","ID":2,"Fields":{"A":"a\\"b"}}]',  # an escape
        b'[{"Type":"Update","ID":2,"Fields":{"A\\u0041":1}}]',  # an escape in a name
        b'[{"Type":"Update","ID":2,"Fields":{"A":"caf\xe9"}}]',  # Latin-1
        b'[{"Type":"Update","ID":2,"Fields":{"A":9223372036854775808}}]',  # past 64 bits
        b'[{"Type":"Update","ID":2,"Fields":{"A":-9223372036854775808}}]',  # left to msgspec
        b'[{"Type":"Update","ID":2,"Fields":{"A":12345678901234567890}}]',  # 20 digits
        b'[{"Type":"Update","ID":2,"Fields":{"A":1e400}}]',  # out of range
        b'[{"Type":"Update","ID":2,"Fields":{"A":01}}]',  # not JSON
        b'[{"Type":"Update","ID":2,"Fields":{"A":[1]}}]',  # nested
        b'[{"Type":"Update","ID":2,"Fields":{"CRV":{"Entries":[]}}}]',
        b'[{"Type":"Update","ID":2,"Vector":{"Entries":[]}}]',  # a key it does not handle
        b'[{"Type":"Update","ID":2,"Map":[]}]',  # not a Map object
        b'[{"Type":"Update","ID":2,"Map":"x"}]',
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Fields":{"A":{"B":1}}}]}}]',  # too deep
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Fields":{"A":[]}}]}}]',
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Key":"a\\/b"}]}}]',  # an escape
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Key":1},]}}]',
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Key":1}}}]',
        b'[{"Type":"Update","ID":2,"Map":{"Summary":{"Fields":{"A":1e999}}}}]',
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{1:2}]}}]',
        b'[{"Type":"Update","ID":2,"Map":{},"Map":{}}]',  # a duplicate key
        b'[{"Type":"Update","ID":2,"Map":{"Entries":[{"Action":"Add"',  # truncated
        b'[{"Type":"Update","ID":2,"ID":3}]',  # a duplicate key
        b'[{"ID":2,"Fields":{"A":1}}]',  # no Type: a Request
        b'[{"Type":6,"ID":2}]',  # a numeric Type
        b'[{"Type":"Status","ID":2}]',  # a Refresh is read (_speedups_refresh.pxi)
        b'[{"Type":"Update","ID":2},{"Type":"Ping"}]',  # one other message: the whole frame
        b'[{"Type":"Update","ID":"2"}]',
        b'[{"Type":"Update","ID":2.0}]',
        b'[{"Type":"Update","ID":null}]',
        b'[{"Type":"Update","ID":2,"DoNotRipple":1}]',
        b'[{"Type":"Update","ID":2,"Key":{"Name":["A","B"]}}]',
        b'[{"Type":"Update","ID":2,"Key":{"Name":"A","Filter":1}}]',
        b'[{"Type":"Update","ID":2,"Fields":{"A":1}}',  # truncated
        b'[{"Type":"Update","ID":2}] x',  # trailing bytes
        b'[{"Type":"Update","ID":2},]',
        b"[]",
        b"",
        b'[{"Type":"Update","ID":2,"Fields":{"A":"\x01"}}]',  # a raw control character
        '[{"Type":"Update","ID":2,"Fields":{"A":"\udcff"}}]',  # a lone surrogate
        bytearray(b'[{"Type":"Update","ID":2}]'),
    ],
)
def test_what_it_does_not_know_goes_to_the_general_path(frame: bytes | str) -> None:
    assert fast(frame) is None


names = st.one_of(st.sampled_from([*RIPPLE_NAMES, "DSPLY_NAME", "QUOTIM"]), st.text(max_size=6))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)


# The strategies the composites below draw from are built once, here: a strategy built inside
# a composite is built again (and its properties worked out again) at every draw, which cost
# more than the drawing. The values drawn, and their odds, are the same.
_booleans = st.booleans()
_update_fields = st.dictionaries(names, scalars, max_size=8)
_seq_numbers = st.integers(min_value=0, max_value=2**40)
_key_names = st.text(max_size=8)
_update_types = st.sampled_from(["Quote", "Trade", "Unspecified"])


@st.composite
def updates(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    msg: dict[str, Any] = {"Type": "Update", "ID": draw(_ids(tuple(ids)))}
    if draw(_booleans):
        msg["Fields"] = draw(_update_fields)
    if draw(_booleans):
        msg["SeqNumber"] = draw(_seq_numbers)
    if draw(_booleans):
        msg["Key"] = {"Name": draw(_key_names), "Service": "ELEKTRON_DD"}
    if draw(_booleans):
        msg["UpdateType"] = draw(_update_types)
    for flag in ("DoNotRipple", "DoNotCache"):
        if draw(_ints(0, 6)) == 0:
            msg[flag] = draw(_booleans)
    return msg


def _spaced(raw: bytes, spaces: list[int]) -> bytes:
    """Whitespace between tokens (after each comma and colon picked)."""
    out = bytearray()
    quoted = False
    n = 0
    for i, b in enumerate(raw):
        out.append(b)
        if b == 0x22 and (i == 0 or raw[i - 1] != 0x5C):
            quoted = not quoted
        if not quoted and b in b",:[{" and spaces and spaces[n % len(spaces)]:
            out += b" \n\t\r"[: spaces[n % len(spaces)]]
            n += 1
    return bytes(out)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_frames_read_as_msgspec_reads_them(data: st.DataObject) -> None:
    read_generated(data, _updates_234)


_updates_234 = updates([2, 3, 4])


@functools.cache
def _lists(messages: st.SearchStrategy[Any], max_size: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(messages, min_size=1, max_size=max_size)


@functools.cache
def _made(
    make: Callable[[list[int]], st.SearchStrategy[Any]], ids: tuple[int, ...]
) -> st.SearchStrategy[Any]:
    return make(list(ids))


_spacings = st.lists(st.integers(0, 4), max_size=3)


def read_generated(data: st.DataObject, messages: st.SearchStrategy[Any]) -> None:
    """A frame of generated messages, spaced out: what the fast path reads is what msgspec
    reads, and it reads every frame with no escape and no integer beyond 64 bits."""
    msgs = data.draw(_lists(messages, 10))
    raw = msgspec.json.encode(msgs if len(msgs) > 1 or data.draw(_booleans) else msgs[0])
    raw = _spaced(raw, data.draw(_spacings))
    got = fast(raw)
    if _plain(msgs):
        assert got is not None, raw
    if got is not None:
        assert repr(got) == repr(reference(raw))


@settings(max_examples=100, deadline=None)
@given(
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?\Z"),
)
def test_numbers_parse_to_the_same_value(token: str) -> None:
    frame = f'[{{"Type":"Update","ID":2,"Fields":{{"N":{token}}}}}]'.encode()
    got = fast(frame)
    try:
        expected = reference(frame)
    except msgspec.DecodeError:  # out of range for msgspec: must not be read here either
        assert got is None
        return
    if got is None:
        return
    a, b = got[0].fields["N"], expected[0].fields["N"]
    assert type(a) is type(b)
    assert a == b or (math.isnan(a) and math.isnan(b))
    assert math.copysign(1, a) == math.copysign(1, b)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_both_cores_agree_through_the_fast_path(data: st.DataObject) -> None:
    feed_generated(data, updates, frames=5)


def feed_generated(
    data: st.DataObject, make: Callable[[list[int]], st.SearchStrategy[Any]], frames: int
) -> None:
    """Frames of messages from ``make(ids)`` fed to both cores, some truncated or with a
    flipped byte (both cores fall back alike)."""
    twins = Twins()
    for _ in range(data.draw(_ints(1, frames))):
        msgs = data.draw(_lists(_made(make, tuple(twins.ids)), 6))
        twins.feed(mangled(data, msgspec.json.encode(msgs), 3))


def mangled(data: st.DataObject, raw: bytes, odds: int) -> bytes:
    """``raw``, or (one chance in ``odds + 1`` each) truncated or with a byte flipped."""
    how = data.draw(_ints(0, odds))
    if how == 0:
        return raw[: data.draw(_ints(0, len(raw)))]
    if how == 1:
        i = data.draw(_ints(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ data.draw(_ints(1, 255))]) + raw[i + 1 :]
    return raw


@pytest.mark.parametrize(
    "fields",
    [
        '"BID":5,"ASK":6',  # two chains that share no field: field order
        '"ASK":6,"BID_1":7,"BID":5',  # BID and BID_1 share a chain: the pure path's order
        '"TRDPRC_2":1,"ASK":2,"TRDPRC_1":3,"BID":4',
    ],
)
def test_both_cores_ripple_several_chains_of_one_update_alike(fields: str) -> None:
    twins = Twins()
    for sid in twins.ids:
        twins.feed(f'[{{"Type":"Update","ID":{sid},"Fields":{{{fields}}}}}]'.encode())


# -- Map Updates (MarketByPrice) ---------------------------------------------------------------

map_keys = st.one_of(
    st.sampled_from(MAP_KEYS),
    st.integers(-2, 2),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(0, 3), max_size=2),
    st.text(max_size=4),
)
row_fields = st.dictionaries(
    st.sampled_from(["ORDER_PRC", "ORDER_SIDE", "NO_ORD", "ACC_SIZE", "LV_TIM_MS", "X", "Y"]),
    scalars,
    max_size=6,
)
ODD = [None, 5, "x", [1], []]  # values of the wrong type where a container is expected


_odd = st.sampled_from(ODD)
_entry_parts = st.permutations(["Action", "Key", "Fields"])
_actions = st.sampled_from(["Add", "Update", "Delete", "Clear", 3, None])
_row_names = st.sampled_from(["Fields"] * 4 + ["Elements"])


@st.composite
def map_entries(draw: st.DrawFn) -> Any:
    if draw(_ints(0, 15)) == 0:
        return draw(_odd)  # not an object: the apply skips it
    e: dict[str, Any] = {}
    parts = draw(_entry_parts)
    for part in parts:
        if part == "Action" and draw(_ints(0, 9)):
            e["Action"] = draw(_actions)
        elif part == "Key" and draw(_ints(0, 9)):
            e["Key"] = draw(map_keys)
        elif part == "Fields" and draw(_ints(0, 3)):
            name = draw(_row_names)
            e[name] = draw(row_fields) if draw(_ints(0, 7)) else draw(_odd)
    return e


_entry_lists = st.lists(map_entries(), max_size=5)
_map_fields = st.sampled_from([{}, {"BID": 1.5}])


@st.composite
def map_updates(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    msg: dict[str, Any] = {"Type": "Update", "ID": draw(_ids(tuple(ids)))}
    if draw(_booleans):
        msg["Domain"] = "MarketByPrice"
    container: dict[str, Any] = {}
    if draw(_booleans):
        container["KeyType"] = "Buffer"
    if draw(_booleans):
        summary = draw(row_fields)
        container["Summary"] = {"Fields": summary} if draw(_ints(0, 5)) else summary
    if draw(_ints(0, 9)):
        container["Entries"] = draw(_entry_lists)
    else:
        container["Entries"] = draw(_odd)
    msg["Map"] = container if draw(_ints(0, 15)) else None
    if draw(_ints(0, 7)) == 0:
        msg["Fields"] = draw(_map_fields)
    if draw(_booleans):
        msg["SeqNumber"] = draw(_seq_numbers)
    if draw(_ints(0, 7)) == 0:
        msg["DoNotCache"] = draw(_booleans)
    return msg


def _plain(v: Any) -> bool:
    """No escape needed and no integer beyond 64 bits (signed) anywhere in ``v``."""
    if isinstance(v, dict):
        return all(_plain(k) and _plain(x) for k, x in v.items())
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    if isinstance(v, str):
        return b"\\" not in msgspec.json.encode(v)
    return not isinstance(v, int) or isinstance(v, bool) or abs(v) < 2**63


_map_updates_289 = map_updates([2, 8, 9])


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_generated_map_frames_read_as_msgspec_reads_them(data: st.DataObject) -> None:
    read_generated(data, _map_updates_289)  # the Map reader takes every shape made here


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_both_cores_agree_on_map_updates(data: st.DataObject) -> None:
    feed_generated(data, map_updates, frames=4)


def test_the_simulators_order_book_frames_take_the_fast_path() -> None:
    msgs = update_pool(Market(7), [Target(8, "BOOK.L")], "MarketByPrice", 40)
    twins = Twins()
    for n in (1, 10):
        for i in range(0, 40, n):
            frame = b"[" + b",".join(msgs[i : i + n]) + b"]"
            got = fast(frame)
            assert got is not None and repr(got) == repr(reference(frame))
            twins.feed(frame)
    book = twins.protos[1].streams.get(8)
    assert book is not None and book.map is not None and len(book.map.entries) > 2


@pytest.mark.parametrize(
    "body",
    [
        # past the limits of TINY.L (3 entries, 3 fields in the summary or an entry)
        '"Entries":[{"Action":"Add","Key":1},{"Action":"Add","Key":2},{"Action":"Add","Key":3},'
        '{"Action":"Add","Key":4}]',
        '"Summary":{"Fields":{"A":1,"B":2,"C":3}}',
        '"Entries":[{"Action":"Add","Key":1,"Fields":{"A":1,"B":2,"C":3,"D":4}}]',
        '"Entries":[{"Action":"Update","Key":1,"Fields":{"A":1,"B":2}},'
        '{"Action":"Update","Key":1,"Fields":{"C":1,"D":2}}]',
        # keys that are containers (their repr), missing, null; an Update of a missing entry
        '"Entries":[{"Action":"Add","Key":[1,2]},{"Action":"Delete","Key":[1,2]},'
        '{"Action":"Update","Fields":{"A":1}},{"Action":"Update","Key":null,"Elements":{"B":2}}]',
        '"Entries":[{"Action":"Update","Key":"MTAwLjAxQQ==","Fields":{"NO_ORD":3}},'
        '{"Action":"Delete","Key":"OTkuOTlC"},{"Action":"Add","Key":"k1","Fields":[1]}]',
    ],
)
def test_both_cores_agree_on_map_updates_of_every_stream(body: str) -> None:
    twins = Twins()
    for sid in twins.ids:
        twins.feed(f'[{{"Type":"Update","ID":{sid},"SeqNumber":5,"Map":{{{body}}}}}]'.encode())
        twins.feed(f'{{"Type":"Update","ID":{sid},"DoNotCache":true,"Map":{{{body}}}}}'.encode())


@pytest.mark.parametrize(
    "body",
    [
        # the shapes the loop applies from the frame, and each way out of it to the Map's dict
        b'"KeyType":"Buffer","CountHint":3,"Summary":{"Fields":{"A":1,"A":2.5}},"Entries":['
        b'{"Key":"k1","Action":"Add","Fields":{"P":1,"P":"x","Q":null}},'
        b'{"Fields":{"Q":true},"Action":"Update","Key":"k1","Note":"n"},{},'
        b'{"Action":"Clear","Key":"k1","Fields":{}},{"Action":null,"Key":"k1"},'
        b'{"Action":"Update","Key":2.5,"Fields":null},{"Action":"Delete","Key":true}]',
        b' "Summary" : null , "Entries" : [ { "Action" : "Add" , "Key" : -1 } ] ',
        b'"Summary":{"Fields":null,"Name":"s"},"Entries":null',
        b'"Summary":{"Fields":{"A":1},"Fields":null},"Entries":[{"Action":"Add","Key":1}]',
        b'"Summary":{"Fields":null,"Fields":{"A":1}}',
        b'"Summary":{"Fields":{"A":{"B":1}}}',  # a container in the summary's fields
        b'"Summary":{"Fields":{"A":1},"More":{}}',
        b'"Summary":5,"Entries":"x"',
        b'"Entries":[{"Action":"Add","Key":1}],"Entries":[{"Action":"Add","Key":2}]',
        b'"Summary":{"Fields":{"A":1}},"Summary":{"Fields":{"B":1}}',
        b'"Entries":[{"Action":"Add","Key":1,"Key":2,"Fields":{"A":1}}]',
        b'"Entries":[{"Action":"Add","Action":"Delete","Key":1}]',
        b'"Entries":[{"Action":"Add","Key":1,"Fields":{"A":1},"Fields":{"B":2}}]',
        b'"Entries":[{"Action":"Add","Key":1,"Fields":null,"Elements":{"B":2}}]',
        b'"Entries":[{"Action":3,"Key":1},{"Action":true,"Key":2}]',
        b'"Entries":[{"Action":"Add","Key":{"a":1},"Fields":{"A":1}}]',
        b'"Entries":[{"Action":"Add","Key":1,"Extra":[1]}],"Other":{"x":1}',
        b'"Entries":[5,{"Action":"Add","Key":1}]',
        '"Entries":[{"Action":"Add","Key":"\u00e9\u00e8","Fields":{"A":"\u00e9"}}]'.encode(),
        '"Entries":[{"Action":"Add\u00e9","Key":1}],"\u00e9":1'.encode(),
        b'"Entries":[{"Action":"Add\xff","Key":1}]',  # not UTF-8: the general decoder's error
        b'"\xff":1,"Entries":[{"Action":"Add","Key":1}]',
        # a missing comma in each object the loop reads into the frame
        b'"Entries":[{"Action":"Add","Key":1},{"Action":"Add""Key":2}]',
        b'"Entries":[{"Action":"Add","Key":1}{"Action":"Add","Key":2}]',
        b'"Summary":{"Fields":{"A":1}"X":1},"Entries":[]',
        b'"Summary":null"Entries":[{"Action":"Add","Key":1}]',
        b"",
    ],
)
def test_both_cores_agree_on_map_shapes_the_loop_reads_from_the_frame(body: bytes) -> None:
    twins = Twins()
    for sid in twins.ids:
        head = f'{{"Type":"Update","ID":{sid},"Map":{{'.encode()
        then = f'{{"Type":"Update","ID":{sid},"Map":{{"Entries":[{{"Action":"Delete","Key":1}}]}}}}'
        twins.feed(b"[" + head + body + b"}}," + then.encode() + b"]")
        twins.feed(head + body + b'},"Fields":{}}')
