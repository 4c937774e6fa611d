"""Message model: wire names, tags, omitted defaults."""

from __future__ import annotations

import msgspec
import pytest

from ertcloud.protocol import codec
from ertcloud.protocol.messages import (
    Ack,
    Close,
    Error,
    Generic,
    Key,
    Ping,
    Pong,
    Post,
    PostUserInfo,
    Priority,
    Qos,
    Refresh,
    Request,
    State,
    Status,
    Update,
)


def wire(msg: msgspec.Struct) -> dict:
    return msgspec.json.decode(codec.encode_one(msg))


def test_request_minimal_wire_form_omits_defaults() -> None:
    assert wire(Request(id=2, key=Key(name="TRI.N"))) == {
        "Type": "Request",
        "ID": 2,
        "Key": {"Name": "TRI.N"},
    }


def test_request_all_wire_names() -> None:
    req = Request(
        id=5,
        key=Key(name="TRI.N", service="ELEKTRON_DD", name_type="Ric", filter=3, identifier=9),
        domain="MarketByPrice",
        streaming=False,
        refresh=False,
        view=["BID", 25],
        pause=True,
        priority=Priority(class_=1, count=2),
        qos=Qos(timeliness="Realtime", rate="TickByTick", time_info=1, rate_info=2, dynamic=False),
        worst_qos=Qos(timeliness="Delayed"),
        private=True,
        qualified=True,
        key_in_updates=False,
        conf_info_in_updates=True,
        ext_hdr="abc",
        elements={"X": 1},
    )
    assert wire(req) == {
        "Type": "Request",
        "ID": 5,
        "Key": {
            "Name": "TRI.N",
            "Service": "ELEKTRON_DD",
            "NameType": "Ric",
            "Filter": 3,
            "Identifier": 9,
        },
        "Domain": "MarketByPrice",
        "Streaming": False,
        "Refresh": False,
        "View": ["BID", 25],
        "Pause": True,
        "Priority": {"Class": 1, "Count": 2},
        "Qos": {
            "Timeliness": "Realtime",
            "Rate": "TickByTick",
            "TimeInfo": 1,
            "RateInfo": 2,
            "Dynamic": False,
        },
        "WorstQos": {"Timeliness": "Delayed"},
        "Private": True,
        "Qualified": True,
        "KeyInUpdates": False,
        "ConfInfoInUpdates": True,
        "ExtHdr": "abc",
        "Elements": {"X": 1},
    }


def test_refresh_wire_names() -> None:
    r = Refresh(
        id=2,
        state=State(stream="Open", data="Ok", code="None", text="All is well"),
        solicited=False,
        complete=False,
        clear_cache=False,
        part_number=1,
        seq_number=58352,
        perm_data="AwO9ZWLA",
        do_not_cache=True,
        post_user_info=PostUserInfo(address="10.0.0.5", user_id=4242),
        fields={"BID": 1.5, "ASK": None},
        filter_list={"Entries": []},
    )
    assert wire(r) == {
        "Type": "Refresh",
        "ID": 2,
        "State": {"Stream": "Open", "Data": "Ok", "Code": "None", "Text": "All is well"},
        "Solicited": False,
        "Complete": False,
        "ClearCache": False,
        "PartNumber": 1,
        "SeqNumber": 58352,
        "PermData": "AwO9ZWLA",
        "DoNotCache": True,
        "PostUserInfo": {"Address": "10.0.0.5", "UserID": 4242},
        "Fields": {"BID": 1.5, "ASK": None},
        "FilterList": {"Entries": []},
    }


def test_update_wire_names() -> None:
    u = Update(
        id=2,
        update_type="Quote",
        seq_number=7,
        do_not_conflate=True,
        do_not_ripple=True,
        discardable=True,
        conflation_info={"Count": 2, "Time": 10},
        sim_ts=123,
        fields={"BID": 1},
    )
    assert wire(u) == {
        "Type": "Update",
        "ID": 2,
        "UpdateType": "Quote",
        "SeqNumber": 7,
        "DoNotConflate": True,
        "DoNotRipple": True,
        "Discardable": True,
        "ConflationInfo": {"Count": 2, "Time": 10},
        "SimTs": 123,
        "Fields": {"BID": 1},
    }


def test_post_and_ack_ids() -> None:
    p = Post(
        id=1,
        key=Key(name="X", service="NIPROV"),
        ack=True,
        post_id=7,
        post_user_rights=1,
        message={"ID": 0, "Type": "Update", "Fields": {"BID": 1}},
    )
    w = wire(p)
    assert w["PostID"] == 7
    assert w["PostUserRights"] == 1
    assert w["Ack"] is True
    assert w["Message"]["Type"] == "Update"
    assert "PostId" not in w
    a = Ack(ack_id=7, id=1, nak_code="SymbolUnknown", text="nope")
    assert wire(a) == {
        "Type": "Ack",
        "AckID": 7,
        "ID": 1,
        "NakCode": "SymbolUnknown",
        "Text": "nope",
    }


def test_ack_without_id_is_valid() -> None:
    [a] = codec.decode(b'[{"Type":"Ack","AckID":3}]')
    assert a == Ack(ack_id=3)
    assert a.id is None


def test_generic_sec_seq_number() -> None:
    assert wire(Generic(id=3, sec_seq_number=4, domain=128))["SecSeqNumber"] == 4


def test_close_single_and_batch_ids() -> None:
    assert wire(Close(id=2)) == {"Type": "Close", "ID": 2}
    assert wire(Close(id=[11, 13])) == {"Type": "Close", "ID": [11, 13]}
    assert wire(Close(id=1, domain="Login")) == {"Type": "Close", "ID": 1, "Domain": "Login"}


@pytest.mark.parametrize(
    ("msg", "expected"),
    [(Ping(), {"Type": "Ping"}), (Pong(), {"Type": "Pong"})],
)
def test_ping_pong_have_only_type(msg: msgspec.Struct, expected: dict) -> None:
    assert wire(msg) == expected
    assert codec.encode_one(msg) == msgspec.json.encode(expected)


def test_error_with_debug() -> None:
    e = Error(id=0, text="JSON parser error: -3", debug={"File": "f", "Line": 100})
    assert wire(e) == {
        "Type": "Error",
        "ID": 0,
        "Text": "JSON parser error: -3",
        "Debug": {"File": "f", "Line": 100},
    }


def test_status_clear_cache_wire_name() -> None:
    s = Status(
        id=4, state=State(stream="Closed", data="Suspect", code="NotFound"), clear_cache=True
    )
    assert wire(s) == {
        "Type": "Status",
        "ID": 4,
        "State": {"Stream": "Closed", "Data": "Suspect", "Code": "NotFound"},
        "ClearCache": True,
    }


def test_state_requires_stream_and_data() -> None:
    [m] = codec.decode(b'[{"Type":"Status","ID":2,"State":{"Stream":"Open"}}]')
    assert isinstance(m, codec.Malformed)
    assert "Data" in m.reason


def test_decoding_uses_wire_names_not_attribute_names() -> None:
    [m] = codec.decode(b'[{"Type":"Refresh","ID":2,"SeqNumber":5,"seq_number":9}]')
    assert isinstance(m, Refresh)
    assert m.seq_number == 5


def test_unknown_keys_are_ignored() -> None:
    [m] = codec.decode(b'[{"Type":"Update","ID":2,"PlaceHolder":1,"Fields":{"A":1}}]')
    assert m == Update(id=2, fields={"A": 1})


def test_to_builtins_matches_wire() -> None:
    msg = Request(id=3, key=Key(name="A"), view=["BID"])
    assert codec.to_builtins(msg) == wire(msg)
