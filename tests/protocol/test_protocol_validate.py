"""Server-side reading of client frames: the converter's Error replies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol.messages import Close, Error, Key, Ping, Pong, Post, Request
from ertcloud.protocol.validate import CONVERTER_FILE, read_client_frame


def one(data: str | bytes, **kw: Any) -> Any:
    out = read_client_frame(data, **kw)
    assert len(out) == 1
    return out[0]


def test_valid_request_with_omitted_type() -> None:
    assert one('{"ID":2,"Key":{"Name":"TRI.N"}}') == Request(id=2, key=Key(name="TRI.N"))


def test_valid_bytes_frame() -> None:
    assert one(b'{"ID":2,"Key":{"Name":"TRI.N"},"View":["BID",22]}') == Request(
        id=2, key=Key(name="TRI.N"), view=["BID", 22]
    )


def test_e01_malformed_json() -> None:
    text = '{"ID":2,"Key":{"Name":"TRI.N"}'
    err = one(text)
    assert isinstance(err, Error)
    assert err.id == 0
    assert err.text.startswith("JSON parser error")
    assert err.debug == {"File": CONVERTER_FILE, "Line": 100, "Message": text}


def test_e02_id_as_string() -> None:
    text = '{"ID":"2","Key":{"Name":"TRI.N"}}'
    err = one(text)
    assert isinstance(err, Error)
    assert err.id == 0
    assert err.text == (
        "JSON Converter Token Type error: Expected 'PRIMITIVE' for key 'ID' Received 'STRING'"
    )
    assert err.debug is not None
    assert err.debug["File"] == CONVERTER_FILE
    assert err.debug["Line"] == 326
    assert err.debug["Message"] == text
    assert isinstance(err.debug["Offset"], int) and err.debug["Offset"] > text.index('"ID"')


@pytest.mark.parametrize(
    ("value", "kind"), [("[2]", "ARRAY"), ('{"a":1}', "OBJECT"), ("true", "PRIMITIVE")]
)
def test_id_of_other_wrong_kinds(value: str, kind: str) -> None:
    err = one('{"ID":' + value + ',"Key":{"Name":"A"}}')
    assert isinstance(err, Error) and err.id == 0
    assert err.text.endswith(f"for key 'ID' Received '{kind}'")


def test_e03_missing_id() -> None:
    text = '{"Key":{"Name":"TRI.N"}}'
    err = one(text)
    assert isinstance(err, Error)
    assert err.id == 0
    assert err.text == "JSON Missing required key 'ID'"
    assert err.debug == {"File": CONVERTER_FILE, "Line": 965, "Message": text}
    assert "Offset" not in err.debug


def test_e04_missing_key_on_request() -> None:
    err = one('{"ID":2}')
    assert isinstance(err, Error)
    assert err.id == 2
    assert err.text == "JSON Missing required key 'Key'"
    assert err.debug is not None and "Offset" not in err.debug


def test_close_needs_no_key() -> None:
    assert one('{"ID":2,"Type":"Close"}') == Close(id=2)
    assert one('{"ID":[11,13],"Type":"Close"}') == Close(id=[11, 13])


def test_close_with_bad_id_list() -> None:
    err = one('{"ID":[11,"13"],"Type":"Close"}')
    assert isinstance(err, Error) and err.id == 0
    assert "for key 'ID' Received 'ARRAY'" in err.text


def test_e05_unknown_type() -> None:
    text = '{"ID":2,"Type":"ExtraInfo","Key":{"Name":"TRI.N"}}'
    err = one(text)
    assert isinstance(err, Error)
    assert err.id == 2
    assert err.text == "JSON Unexpected Value. Received 'ExtraInfo' for key 'Type'"
    assert err.debug is not None
    assert err.debug["Line"] == 441
    assert err.debug["Message"] == text
    assert "Offset" in err.debug


@pytest.mark.parametrize("t", ["Error", 99, "request"])
def test_other_unexpected_types(t: Any) -> None:
    err = one(json.dumps({"ID": 3, "Type": t, "Key": {"Name": "A"}}))
    assert isinstance(err, Error) and err.id == 3
    assert err.text == f"JSON Unexpected Value. Received '{t}' for key 'Type'"


def test_numeric_type_is_accepted() -> None:
    assert one('{"ID":4,"Type":5}') == Close(id=4)
    assert one('{"ID":4,"Type":1,"Key":{"Name":"A"}}') == Request(id=4, key=Key(name="A"))


def test_e06_unknown_domain() -> None:
    err = one('{"ID":2,"Domain":"MarketByMagic","Key":{"Name":"TRI.N"}}')
    assert isinstance(err, Error)
    assert err.id == 2
    assert err.text == "JSON Unexpected Value. Received 'MarketByMagic' for key 'Domain'"


def test_numeric_unknown_domain_is_left_to_the_server() -> None:
    msg = one('{"ID":2,"Domain":200,"Key":{"Name":"TRI.N"}}')
    assert msg == Request(id=2, domain=200, key=Key(name="TRI.N"))


def test_domain_of_wrong_kind() -> None:
    err = one('{"ID":2,"Domain":["Login"],"Key":{"Name":"A"}}')
    assert isinstance(err, Error) and err.id == 2
    assert err.text.endswith("for key 'Domain' Received 'ARRAY'")


def test_e07_unknown_key_ignored_by_default_and_caught_on_request() -> None:
    text = '{"ID":2,"PlaceHolder":"1","Key":{"Name":"TRI.N"}}'
    assert one(text) == Request(id=2, key=Key(name="TRI.N"))
    err = one(text, catch_unknown_keys=True)
    assert isinstance(err, Error) and err.id == 2
    assert err.text == "JSON Unexpected Key. Received 'PlaceHolder'"


def test_e08_view_as_string() -> None:
    err = one('{"ID":2,"Key":{"Name":"TRI.N"},"View":"BID"}')
    assert isinstance(err, Error)
    assert err.id == 2
    assert err.text == (
        "JSON Converter Token Type error: Expected 'ARRAY' for key 'View' Received 'STRING'"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("Streaming", '"yes"', "Expected 'PRIMITIVE' for key 'Streaming' Received 'STRING'"),
        ("Refresh", "1", "Expected 'PRIMITIVE' for key 'Refresh'"),
        ("Priority", "1", "Expected 'OBJECT' for key 'Priority' Received 'PRIMITIVE'"),
        ("Key", '"TRI.N"', "Expected 'OBJECT' for key 'Key' Received 'STRING'"),
        ("Qos", "[]", "Expected 'OBJECT' for key 'Qos' Received 'ARRAY'"),
    ],
)
def test_wrong_value_kinds(key: str, value: str, expected: str) -> None:
    obj = '{"ID":6,"Key":{"Name":"A"}'
    text = obj + f',"{key}":{value}}}' if key != "Key" else '{"ID":6,"Key":' + value + "}"
    err = one(text)
    assert isinstance(err, Error) and err.id == 6
    assert err.text.startswith("JSON Converter Token Type error: ")
    assert expected in err.text


def test_conversion_failure_becomes_an_error() -> None:
    err = one('{"ID":6,"Key":{"Name":"A"},"Priority":{"Class":"x","Count":1}}')
    assert isinstance(err, Error) and err.id == 6
    assert err.text == (
        "JSON Converter Token Type error: Expected 'PRIMITIVE' for key 'Class' Received 'STRING'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"ID":6,"Key":{"Name":5}}',
            "JSON Converter Token Type error: Expected 'STRING' for key 'Name' "
            "Received 'PRIMITIVE'",
        ),
        (
            '{"ID":6,"Key":{"Name":["A",{}]}}',
            "JSON Converter Token Type error: Expected 'STRING' for key 'Name' Received 'OBJECT'",
        ),
        ('{"ID":6,"Type":"Post","Ack":true}', None),
        ('{"ID":6.0,"Key":{"Name":"A"}}', "JSON Unexpected Value. Received '6.0' for key 'ID'"),
    ],
)
def test_nested_errors_use_the_converter_wording(text: str, expected: str | None) -> None:
    msg = one(text)
    if expected is None:
        assert not isinstance(msg, Error)
    else:
        assert isinstance(msg, Error) and msg.text == expected
        assert msg.debug is not None and msg.debug["Message"] == text


def test_priority_members_default_to_one() -> None:
    req = one('{"ID":6,"Key":{"Name":"A"},"Priority":{"Class":2}}')
    assert isinstance(req, Request) and req.priority is not None
    assert (req.priority.class_, req.priority.count) == (2, 1)


@pytest.mark.parametrize("t", ["Ping", "Pong"])
def test_ping_pong_need_no_id(t: str) -> None:
    expected = Ping() if t == "Ping" else Pong()
    assert one(json.dumps({"Type": t})) == expected
    assert read_client_frame(json.dumps([{"Type": t}])) == [expected]


def test_packed_array_is_checked_per_message() -> None:
    frame = (
        '[{"ID":3,"Key":{"Name":"IBM.N"}},{"ID":"4","Key":{"Name":"X"}},'
        '{"Type":"Ping"},7,{"ID":2,"Key":{"Name":"TRI.N"}}]'
    )
    out = read_client_frame(frame)
    assert len(out) == 5
    assert out[0] == Request(id=3, key=Key(name="IBM.N"))
    assert isinstance(out[1], Error) and out[1].id == 0
    # in a packed frame Debug.Message is the offending message alone
    assert out[1].debug is not None
    assert json.loads(out[1].debug["Message"]) == {"ID": "4", "Key": {"Name": "X"}}
    assert out[2] == Ping()
    assert isinstance(out[3], Error)
    assert out[3].text == "JSON Converter Token Type error: Expected 'OBJECT' Received 'PRIMITIVE'"
    assert out[4] == Request(id=2, key=Key(name="TRI.N"))


def test_empty_array() -> None:
    assert read_client_frame("[]") == []


def test_post_is_accepted() -> None:
    msg = one(
        '{"ID":2,"Type":"Post","Ack":true,"PostID":1,'
        '"Message":{"ID":0,"Type":"Update","Fields":{"BID":1}}}'
    )
    assert isinstance(msg, Post)
    assert msg.post_id == 1 and msg.ack is True


def test_post_message_must_be_object() -> None:
    err = one('{"ID":2,"Type":"Post","Message":"x"}')
    assert isinstance(err, Error)
    assert "Expected 'OBJECT' for key 'Message'" in err.text


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=120))
def test_never_raises_on_text(text: str) -> None:
    out = read_client_frame(text)
    assert isinstance(out, list)


scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=4), c, max_size=2),
    max_leaves=5,
)
client_like = st.fixed_dictionaries(
    {},
    optional={
        "ID": values | st.integers(0, 100),
        "Type": values | st.sampled_from(["Request", "Close", "Post", "Ping", "Generic"]),
        "Key": values | st.just({"Name": "A"}),
        "Domain": values | st.sampled_from(["Login", "MarketPrice"]),
        "View": values,
        "Streaming": values,
        "Priority": values,
    },
)


@settings(max_examples=100, deadline=None)
@given(st.lists(client_like | values, max_size=5))
def test_every_member_gets_a_message_or_an_error(frame: list[Any]) -> None:
    out = read_client_frame(json.dumps(frame))
    assert len(out) == len(frame)
    for raw, m in zip(frame, out, strict=True):
        if isinstance(m, Error):
            assert m.text.startswith("JSON ")
            assert m.debug is not None and m.debug["File"] == CONVERTER_FILE
            if not isinstance(raw, dict) or "ID" not in raw:
                assert m.id == 0
        else:
            assert isinstance(raw, dict)


def test_deeply_nested_frame_is_a_parser_error() -> None:
    err = one("[" * 5000 + "]" * 5000)
    assert isinstance(err, Error)
    assert err.id == 0
    assert err.text.startswith("JSON parser error")
