"""Codec: frames of one object or an array, fallback path, encoding; round-trip properties."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import codec
from ertcloud.protocol.codec import DecodeError, Malformed
from ertcloud.protocol.enums import DOMAINS, MSG_TYPE_NUMBERS
from ertcloud.protocol.messages import (
    Ack,
    Close,
    Key,
    Ping,
    Pong,
    Post,
    Refresh,
    Request,
    State,
    Status,
    Update,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- plain cases ---------------------------------------------------------------------------


def test_decode_single_object_and_array() -> None:
    assert codec.decode('{"Type":"Ping"}') == [Ping()]
    assert codec.decode('[{"Type":"Ping"}]') == [Ping()]
    assert codec.decode("[]") == []


def test_decode_packed_frame_keeps_order() -> None:
    frame = (
        b'[{"ID":2,"Type":"Refresh","State":{"Stream":"Open","Data":"Ok"},"Fields":{"BID":1}},'
        b'{"ID":2,"Type":"Update","Fields":{"BID":2}},{"ID":7,"Type":"Update","Fields":{"ASK":3}}]'
    )
    out = codec.decode(frame)
    assert [type(m) for m in out] == [Refresh, Update, Update]
    assert [m.id for m in out] == [2, 2, 7]
    assert out[1].fields == {"BID": 2}


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_decode_accepts_text_and_binary_types(kind: Any) -> None:
    text = '[{"Type":"Pong"}]'
    data = text if kind is str else kind(text.encode())
    assert codec.decode(data) == [Pong()]


def test_binary_latin1_frame_is_decoded() -> None:
    raw = '[{"ID":2,"Type":"Update","Fields":{"DSPLY_NAME":"café ÄÖ"}}]'.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    [m] = codec.decode(raw)
    assert isinstance(m, Update)
    assert m.fields == {"DSPLY_NAME": "café ÄÖ"}


def test_utf8_binary_frame_is_not_reinterpreted_as_latin1() -> None:
    raw = '[{"ID":2,"Type":"Update","Fields":{"N":"café"}}]'.encode()
    [m] = codec.decode(raw)
    assert m.fields == {"N": "café"}


@pytest.mark.parametrize("number", sorted(MSG_TYPE_NUMBERS))
def test_numeric_type_is_mapped(number: int) -> None:
    name = MSG_TYPE_NUMBERS[number]
    obj: dict[str, Any] = {"Type": number, "ID": 3}
    if name == "Ack":
        obj["AckID"] = 1
    [m] = codec.decode(json.dumps(obj))
    assert not isinstance(m, Malformed), m
    assert type(m).__name__ == name


def test_missing_type_means_request() -> None:
    [m] = codec.decode('{"ID":2,"Key":{"Name":"TRI.N"}}')
    assert m == Request(id=2, key=Key(name="TRI.N"))


def test_unknown_type_is_malformed_and_neighbours_survive() -> None:
    frame = (
        '[{"ID":2,"Type":"Update","Fields":{"A":1}},'
        '{"ID":3,"Type":"ExtraInfo"},'
        '{"ID":4,"Type":2,"State":{"Stream":"Open","Data":"Ok"}},'
        '{"Type":"Ping"},'
        '"junk",'
        '{"ID":"5","Type":"Update"}]'
    )
    out = codec.decode(frame)
    assert len(out) == 6
    assert out[0] == Update(id=2, fields={"A": 1})
    assert isinstance(out[1], Malformed)
    assert out[1].raw == {"ID": 3, "Type": "ExtraInfo"}
    assert "ExtraInfo" in out[1].reason
    assert out[2] == Refresh(id=4, state=State(stream="Open", data="Ok"))
    assert out[3] == Ping()
    assert isinstance(out[4], Malformed)
    assert out[4].raw == "junk"
    assert isinstance(out[5], Malformed)
    assert out[5].raw == {"ID": "5", "Type": "Update"}


@pytest.mark.parametrize(
    "obj",
    [
        {"Type": 99, "ID": 2},
        {"Type": True, "ID": 2},
        {"Type": None, "ID": 2},
        {"Type": ["Ping"]},
        {"Type": "Update"},  # missing ID
        {"Type": "Status", "ID": 2, "State": "Open"},
        {},  # Request without ID
    ],
)
def test_invalid_messages_become_malformed(obj: dict[str, Any]) -> None:
    out = codec.decode(json.dumps([obj, {"Type": "Pong"}]))
    assert isinstance(out[0], Malformed)
    assert out[0].raw == obj
    assert out[1] == Pong()


def test_single_bad_object_frame_gives_one_malformed() -> None:
    out = codec.decode('{"Type":"Nope","ID":1}')
    assert len(out) == 1
    assert isinstance(out[0], Malformed)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   ",
        "{",
        '{"ID":2,"Key":{"Name":"TRI.N"}',
        "nope",
        "5",
        '"text"',
        "null",
        "true",
        b"\xff\xfe\x00",
        '{"Type":"Ping"} x',
        "[1,]",
    ],
)
def test_non_json_or_non_container_raises_decode_error(data: str | bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode(data)


def test_decode_error_is_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


def test_decode_raw_always_returns_list() -> None:
    assert codec.decode_raw('{"a":1}') == [{"a": 1}]
    assert codec.decode_raw("[1,2]") == [1, 2]
    with pytest.raises(DecodeError):
        codec.decode_raw("1")


@pytest.mark.parametrize("frame", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
def test_deeply_nested_frame_raises_decode_error(frame: str) -> None:
    with pytest.raises(DecodeError):
        codec.decode(frame)


def test_encode_is_always_an_array() -> None:
    assert codec.encode([Ping()]) == b'[{"Type":"Ping"}]'
    assert codec.encode([]) == b"[]"
    assert codec.encode(iter([Pong(), {"Type": "Ping"}])) == b'[{"Type":"Pong"},{"Type":"Ping"}]'


def test_encode_one_is_a_bare_object() -> None:
    assert codec.encode_one(Close(id=2)) == b'{"Type":"Close","ID":2}'
    assert codec.encode_one({"Type": "Ping"}) == b'{"Type":"Ping"}'


def test_encode_tag_comes_first_and_defaults_are_omitted() -> None:
    b = codec.encode_one(Request(id=2, key=Key(name="A")))
    assert b == b'{"Type":"Request","ID":2,"Key":{"Name":"A"}}'


# -- strategies ----------------------------------------------------------------------------

ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
ids = st.integers(min_value=0, max_value=2**31 - 1)
texts = st.text(max_size=10)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
field_dicts = st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5)
containers = st.dictionaries(
    st.sampled_from(["KeyType", "Summary", "Entries", "CountHint"]), json_values, max_size=3
)
domains = st.none() | st.sampled_from(sorted(DOMAINS)) | st.integers(0, 255)


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


keys = st.builds(
    Key,
    name=opt(texts | st.lists(texts, max_size=4)),
    service=opt(texts | ints),
    name_type=opt(texts | ints),
    elements=opt(field_dicts),
    filter=opt(ints),
    identifier=opt(ints),
)
states = st.builds(
    State,
    stream=st.sampled_from(["Open", "NonStreaming", "Closed", "ClosedRecover", "Redirected"]),
    data=st.sampled_from(["Ok", "Suspect", "NoChange"]),
    code=opt(st.sampled_from(["None", "NotFound", "NotEntitled"])),
    text=opt(texts),
)
bools = opt(st.booleans())

requests = st.builds(
    Request,
    id=ids,
    key=opt(keys),
    domain=domains,
    streaming=bools,
    refresh=bools,
    view=opt(st.lists(texts | ints, max_size=4)),
    pause=bools,
    private=bools,
    elements=opt(field_dicts),
)
refreshes = st.builds(
    Refresh,
    id=ids,
    domain=domains,
    key=opt(keys),
    state=opt(states),
    solicited=bools,
    complete=bools,
    clear_cache=bools,
    part_number=opt(st.integers(0, 32767)),
    seq_number=opt(ints),
    perm_data=opt(texts),
    fields=opt(field_dicts),
    map=opt(containers),
    json=json_values,
)
updates = st.builds(
    Update,
    id=ids,
    domain=domains,
    key=opt(keys),
    update_type=opt(texts | ints),
    seq_number=opt(ints),
    do_not_cache=bools,
    do_not_ripple=bools,
    fields=opt(field_dicts),
    map=opt(containers),
    sim_ts=opt(st.integers(0, 2**62)),
)
statuses = st.builds(
    Status,
    id=ids,
    domain=domains,
    key=opt(keys),
    state=opt(states),
    clear_cache=bools,
    perm_data=opt(texts),
)
closes = st.builds(Close, id=ids | st.lists(ids, min_size=1, max_size=5), domain=domains)
acks = st.builds(
    Ack,
    ack_id=ids,
    id=opt(ids),
    domain=domains,
    key=opt(keys),
    nak_code=opt(texts),
    text=opt(texts),
    seq_number=opt(ints),
)
posts = st.builds(
    Post,
    id=ids,
    key=opt(keys),
    message=opt(field_dicts),
    ack=bools,
    post_id=opt(ids),
)
pings = st.just(Ping()) | st.just(Pong())
messages = refreshes | updates | statuses | requests | closes | acks | posts | pings


# -- properties ----------------------------------------------------------------------------


@SETTINGS
@given(messages)
def test_round_trip_single(msg: Any) -> None:
    assert codec.decode(codec.encode_one(msg)) == [msg]
    assert codec.decode(codec.encode([msg])) == [msg]


@SETTINGS
@given(st.lists(messages, max_size=6))
def test_round_trip_packed(msgs: list[Any]) -> None:
    frame = codec.encode(msgs)
    assert frame.startswith(b"[")
    assert codec.decode(frame) == msgs
    assert codec.decode(frame.decode()) == msgs


@SETTINGS
@given(st.binary(max_size=200))
def test_decode_bytes_only_raises_decode_error(data: bytes) -> None:
    try:
        out = codec.decode(data)
    except DecodeError:
        return
    assert isinstance(out, list)


@SETTINGS
@given(st.text(max_size=200))
def test_decode_text_only_raises_decode_error(data: str) -> None:
    try:
        out = codec.decode(data)
    except DecodeError:
        return
    assert isinstance(out, list)


message_like = st.fixed_dictionaries(
    {},
    optional={
        "Type": json_values
        | st.sampled_from(["Refresh", "Update", "Status", "Ping", "Close"])
        | st.integers(0, 10),
        "ID": json_values | ids,
        "State": json_values,
        "Fields": json_values,
        "Key": json_values,
        "AckID": json_values,
    },
)


@SETTINGS
@given(st.lists(message_like | json_values, max_size=6))
def test_decode_json_arrays_keeps_one_entry_per_member(frame: list[Any]) -> None:
    out = codec.decode(json.dumps(frame))
    assert len(out) == len(frame)
    for raw, m in zip(frame, out, strict=True):
        if isinstance(m, Malformed):
            assert m.raw == raw
        else:
            assert isinstance(raw, dict)


@SETTINGS
@given(
    st.lists(messages, min_size=1, max_size=4),
    st.lists(json_values, max_size=3),
    st.randoms(use_true_random=False),
)
def test_good_messages_survive_bad_neighbours(
    good: list[Any], bad_values: list[Any], rnd: Any
) -> None:
    bad = [{"Type": "Bogus", "ID": 1, "X": v} for v in bad_values]
    items: list[Any] = [("good", m) for m in good] + [("bad", b) for b in bad]
    rnd.shuffle(items)
    frame = (
        b"["
        + b",".join(
            codec.encode_one(v) if k == "good" else msgspec.json.encode(v) for k, v in items
        )
        + b"]"
    )
    out = codec.decode(frame)
    assert len(out) == len(items)
    for (kind, value), got in zip(items, out, strict=True):
        if kind == "good":
            assert got == value
        else:
            assert isinstance(got, Malformed)
            assert got.raw == value
