"""The dictionary as data and the typed decoder: the builtin table, JSON/CSV round trips,
Dictionary-domain parsing, and hypothesis properties of ``Dictionary.decode`` (round trip
per type, blanks, bad values returned unchanged and never raising)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ertcloud.protocol import fields
from ertcloud.protocol.dictionary import (
    FILTER_INFO,
    FILTER_MINIMAL,
    FILTER_NORMAL,
    Dictionary,
    DictionaryError,
    builtin,
    decode_value,
)

D = builtin()
NAMES = sorted(D.fields)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def test_builtin_table() -> None:
    assert len(D) >= 500
    assert len(D.by_fid) == len(D)
    assert D.version.count(".") == 2 and all(p.isdigit() for p in D.version.split("."))
    # every ripple target is a field of the table, of the same type
    for f in D.fields.values():
        if f.ripple_to is not None:
            assert D.fields[f.ripple_to].type == f.type
    # chains of all three templates
    for n in (*(f"LINK_{i}" for i in range(1, 15)), "REF_COUNT", "PREV_LR", "NEXT_LR"):
        assert n in D.fields
    assert [D.fields[f"LONGLINK{i}"].fid for i in range(1, 15)] == list(range(800, 814))
    assert (D.fields["BR_PREVLR"].fid, D.fields["BR_NEXTLR"].fid) == (6423, 6424)
    # every enum field has a table
    assert all(f.fid in D.enums for f in D.fields.values() if f.type == "ENUM")


def test_fields_module_is_the_same_source() -> None:
    assert set(fields.FIELDS) == set(D.fields)
    for name, fd in fields.FIELDS.items():
        info = D.fields[name]
        assert (fd.fid, fd.type, fd.ripple_to) == (info.fid, info.type, info.ripple_to)
    assert fields.lookup("6") is fields.FIELDS["TRDPRC_1"]


def test_the_simulator_only_emits_dictionary_fields() -> None:
    from ertcloud.sim.market import Market

    m = Market(seed=3)
    for inst in m.instruments.values():
        assert set(inst.image) <= set(D.fields), inst.ric


def test_json_and_csv_round_trip() -> None:
    again = Dictionary.from_json(D.to_json())
    assert again.fields == D.fields
    assert [t.values for t in again.enum_tables] == [t.values for t in D.enum_tables]
    assert (again.version, again.enum_version) == (D.version, D.enum_version)
    rows = list(csv.DictReader(io.StringIO(D.to_csv())))
    assert len(rows) == len(D)
    cur = next(r for r in rows if r["name"] == "CURRENCY")
    assert cur["fid"] == "15" and cur["type"] == "ENUM" and "840=USD" in cur["enum"].split("|")
    with pytest.raises(DictionaryError):
        Dictionary.from_json('{"fields": [{"name": "X"}]}')
    with pytest.raises(DictionaryError):
        Dictionary.from_json("not json")


def test_domain_entries_by_filter_and_parse_back() -> None:
    assert D.entries("RWFFld", FILTER_INFO) == [] and D.entries("RWFEnum", FILTER_INFO) == []
    minimal = D.entries("RWFFld", FILTER_MINIMAL)
    assert all("LONGNAME" not in e["Elements"] for e in minimal)
    series = {
        "Summary": {"Elements": D.summary("RWFFld")},
        "Entries": D.entries("RWFFld", FILTER_NORMAL),
    }
    enums = {"Summary": {"Elements": D.summary("RWFEnum")}, "Entries": D.entries("RWFEnum", 7)}
    got = Dictionary.from_series([series], [enums])
    assert {
        n: (f.fid, f.type, f.ripple_to, f.length, f.rwf_len) for n, f in got.fields.items()
    } == {n: (f.fid, f.type, f.ripple_to, f.length, f.rwf_len) for n, f in D.fields.items()}
    assert got.enum_display("TRD_UNITS", 2) == "2DP "
    # elements given plainly, or typed as {"Type": ..., "Data": ...}, both read
    plain = {"Entries": [{"Elements": {"NAME": "X", "FID": 7000, "RWFTYPE": 8, "TYPE": 4}}]}
    assert Dictionary.from_series([plain]).fields["X"].type == "REAL"
    with pytest.raises(DictionaryError):
        Dictionary.from_series([{"Entries": [{"Elements": {"NAME": "X"}}]}])
    with pytest.raises(DictionaryError):
        Dictionary.from_series([{"Entries": []}])
    bad_enum = {"Entries": [{"Elements": {"FIDS": 1, "VALUE": 2, "DISPLAY": 3}}]}
    with pytest.raises(DictionaryError):
        Dictionary.from_series([plain], [bad_enum])


@given(st.floats(allow_nan=False) | st.integers(-(2**53), 2**53))
def test_real_round_trip(v: float) -> None:
    got = D.decode("BID", v)
    assert type(got) is float and got == v


def test_real_special_values() -> None:
    assert D.decode("BID", "Inf") == math.inf and D.decode("BID", "-Inf") == -math.inf
    assert math.isnan(D.decode("BID", "NaN"))


@given(st.integers(0, 2**64 - 1))
def test_uint_round_trip(v: int) -> None:
    assert D.decode("QUOTIM_MS", v) == v and type(D.decode("QUOTIM_MS", v)) is int
    assert decode_value("INT", -v) == -v
    assert decode_value("UINT", float(v % 2**52)) == v % 2**52


@given(st.dates())
def test_date_round_trip(d: dt.date) -> None:
    if d.year >= 1000:
        assert D.decode("TRADE_DATE", d.isoformat()) == d


@given(st.times())
def test_time_round_trip(t: dt.time) -> None:
    assert D.decode("SALTIM", t.isoformat()) == t
    assert D.decode("SALTIM", t.strftime("%H:%M:%S")) == t.replace(microsecond=0)
    ms = t.microsecond // 1000 * 1000
    assert D.decode("SALTIM", t.strftime("%H:%M:%S.") + f"{ms // 1000:03d}") == t.replace(
        microsecond=ms
    )
    old = t.strftime("%H:%M:%S:") + f"{t.microsecond // 1000:03d}:{t.microsecond % 1000:03d}:000"
    assert D.decode("QUOTIM", old) == t
    assert D.decode("TRDTIM_1", t.strftime("%H:%M")) == t.replace(second=0, microsecond=0)


def test_time_with_nanoseconds_keeps_microseconds() -> None:
    assert D.decode("SALTIM", "15:37:31.123456789") == dt.time(15, 37, 31, 123456)


@given(st.sampled_from([n for n in NAMES if D.fields[n].type == "ENUM"]), st.data())
def test_enum_display_and_value(name: str, data: st.DataObject) -> None:
    table = D.enum_table(name)
    assert table is not None
    value, display = data.draw(st.sampled_from(table.values))
    assert D.decode(name, display) == display  # the display string the server sends
    assert D.decode(name, value) == table.display(value)  # a number gets its display
    got = D.enum_value(name, display)
    assert got is not None and table.display(got).strip() == display.strip()  # type: ignore[union-attr]
    assert D.decode(name, 65535) in (65535, table.display(65535))


@given(st.sampled_from(NAMES))
def test_blank_is_none(name: str) -> None:
    assert D.decode(name, None) is None


_TYPED = {
    "REAL": (float,),
    "INT": (int,),
    "UINT": (int,),
    "DATE": (dt.date,),
    "TIME": (dt.time,),
    "ENUM": (str,),
    "ASCII": (str,),
    "RMTES": (str,),
    "BUFFER": (str,),
}


@given(st.sampled_from(NAMES), json_values)
def test_bad_values_never_raise_and_come_back_raw(name: str, v: Any) -> None:
    got = D.decode(name, v)
    ftype = D.fields[name].type
    if got is v or got is None:
        return
    if isinstance(got, float) and math.isnan(got) and v == "NaN":
        return
    assert isinstance(got, _TYPED[ftype]) and not isinstance(got, bool), (name, v, got)


@given(st.dictionaries(st.sampled_from([*NAMES, "NOT_A_FIELD"]), json_values, max_size=8))
def test_typed_image_is_decode_per_field(image: dict[str, Any]) -> None:
    typed = D.typed(image)
    assert typed.keys() == image.keys()
    for k, v in image.items():
        want = D.decode(k, v)
        assert typed[k] == want or (typed[k] != typed[k] and want != want)


def test_unknown_field_and_wrong_types_pass_through() -> None:
    assert D.decode("NOT_A_FIELD", "x") == "x"
    bad = [("BID", "39.7"), ("BID", True), ("QUOTIM_MS", 1.5), ("TRADE_DATE", "2023-02-29"),
           ("TRADE_DATE", 20240101), ("SALTIM", "25:00:00"), ("SALTIM", "15:37:60"),
           ("DSPLY_NAME", 3), ("CURRENCY", 1.5)]  # fmt: skip
    for name, v in bad:
        assert D.decode(name, v) is v


def test_the_docs_field_table_is_the_data_file() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "dictionary.md").read_text("utf-8")
    table = doc.split("<!-- fields:begin -->\n", 1)[1].split("<!-- fields:end -->", 1)[0]
    assert table == D.to_markdown()
    assert table.count("\n") == len(D) + 2
