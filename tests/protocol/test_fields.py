"""The field dictionary: table consistency, lookups, ripples and JSON type checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ertcloud.protocol.fields import (
    BY_FID,
    FIELD_TYPES,
    FIELDS,
    RIPPLE_TARGETS,
    FieldDef,
    json_type_ok,
    lookup,
    ripple_chain,
)


def test_table_size_and_uniqueness() -> None:
    assert len(FIELDS) >= 500  # the package data file (rdm_fields.tsv)
    assert len(BY_FID) == len(FIELDS)  # FIDs are unique
    assert len({fd.name for fd in FIELDS.values()}) == len(FIELDS)
    for name, fd in FIELDS.items():
        assert fd.name == name
        assert BY_FID[fd.fid] is fd
        assert fd.type in FIELD_TYPES
        assert fd.fid != 0


@pytest.mark.parametrize(
    ("name", "fid", "ftype"),
    [
        ("PROD_PERM", 1, "UINT"),
        ("DSPLY_NAME", 3, "RMTES"),
        ("TRDPRC_1", 6, "REAL"),
        ("CURRENCY", 15, "ENUM"),
        ("TRADE_DATE", 16, "DATE"),
        ("BID", 22, "REAL"),
        ("ASK", 25, "REAL"),
        ("BIDSIZE", 30, "REAL"),
        ("ACVOL_1", 32, "REAL"),
        ("SALTIM", 379, "TIME"),
        ("QUOTIM", 1025, "TIME"),
        ("RDN_EXCHD2", 1709, "ENUM"),
        ("QUOTIM_MS", 3855, "UINT"),
        ("ORDER_SIDE", 3428, "ENUM"),
        ("BOOK_STATE", 6516, "ENUM"),
        ("52WK_HIGH", 3265, "REAL"),
    ],
)
def test_known_fields(name: str, fid: int, ftype: str) -> None:
    fd = FIELDS[name]
    assert (fd.fid, fd.type) == (fid, ftype)
    assert lookup(name) is fd
    assert lookup(fid) is fd
    assert lookup(str(fid)) is fd


def test_lookup_unknown() -> None:
    assert lookup("NO_SUCH_FIELD") is None
    assert lookup(32000) is None
    assert lookup("32000") is None
    assert lookup("") is None
    assert lookup("-") is None
    assert lookup(True) is None


def test_ripples() -> None:
    assert FIELDS["TRDPRC_1"].ripple_to == "TRDPRC_2"
    assert FIELDS["TRDPRC_5"].ripple_to is None
    assert FIELDS["BID"].ripple_to == "BID_1"
    assert FIELDS["ASK_1"].ripple_to == "ASK_2"
    assert ripple_chain("TRDPRC_1") == ("TRDPRC_2", "TRDPRC_3", "TRDPRC_4", "TRDPRC_5")
    assert ripple_chain("BID") == ("BID_1", "BID_2")
    assert ripple_chain("ACVOL_1") == ()
    assert ripple_chain("UNKNOWN") == ()
    assert {"TRDPRC_2", "BID_1", "ASK_2"} <= RIPPLE_TARGETS
    for fd in FIELDS.values():
        if fd.ripple_to is not None:
            target = FIELDS[fd.ripple_to]
            assert target.type == fd.type
            assert target.name in RIPPLE_TARGETS


def test_fielddef_is_frozen_and_validated() -> None:
    fd = FIELDS["BID"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fd.fid = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        FieldDef(99999, "X", "PRICE")
    assert FieldDef(1, "X", "REAL").ripple_to is None


VALID = [
    ("BID", 39.7),
    ("BID", 40),
    ("BID", -0.5),
    ("BID", "Inf"),
    ("BID", "-Inf"),
    ("BID", "NaN"),
    ("ACVOL_1", 1234567),
    ("PROD_PERM", 6562),
    ("QUOTIM_MS", 56251678),
    ("CURRENCY", "USD"),
    ("CURRENCY", 840),
    ("TRD_UNITS", "2DP "),
    ("PRCTCK_1", "⇧"),
    ("BID_TICK_1", "\u00fe"),
    ("TRADE_DATE", "2018-04-06"),
    ("TRADE_DATE", "2024-02-29"),
    ("SALTIM", "15:37:14"),
    ("SALTIM", "15:37"),
    ("SALTIM", "15:37:31.678"),
    ("SALTIM", "15:37:31.123456789"),
    ("QUOTIM", "14:40:32:000:000:000"),
    ("DSPLY_NAME", "THOMSON REUTERS"),
    ("DSPLY_NAME", ""),
    ("DSPLY_NMLL", "トヨタ自動車"),
]

INVALID = [
    ("BID", "39.7"),
    ("BID", True),
    ("BID", math.nan),
    ("BID", math.inf),
    ("BID", [1]),
    ("ACVOL_1", "1"),
    ("PROD_PERM", -1),
    ("PROD_PERM", 1.0),
    ("PROD_PERM", 2**64),
    ("QUOTIM_MS", "56251678"),
    ("CURRENCY", 1.5),
    ("CURRENCY", -1),
    ("CURRENCY", False),
    ("TRADE_DATE", "2018-4-6"),
    ("TRADE_DATE", "2023-02-29"),
    ("TRADE_DATE", "06/04/2018"),
    ("TRADE_DATE", " 3 OCT 2017 "),
    ("TRADE_DATE", 20180406),
    ("SALTIM", "24:00:00"),
    ("SALTIM", "15:60:00"),
    ("SALTIM", "15:37:14."),
    ("SALTIM", "153714"),
    ("SALTIM", 56251),
    ("DSPLY_NAME", 3),
]


@pytest.mark.parametrize(("name", "value"), VALID)
def test_json_type_ok_valid(name: str, value: object) -> None:
    assert json_type_ok(FIELDS[name], value)


@pytest.mark.parametrize(("name", "value"), INVALID)
def test_json_type_ok_invalid(name: str, value: object) -> None:
    assert not json_type_ok(FIELDS[name], value)


def test_null_always_ok() -> None:
    for fd in FIELDS.values():
        assert json_type_ok(fd, None)


def test_other_types() -> None:
    buf = FieldDef(1, "B", "BUFFER")
    assert json_type_ok(buf, "NTAuNTEwMDAwQQ==")
    assert json_type_ok(buf, "")
    assert not json_type_ok(buf, "not base64!")
    i64 = FieldDef(2, "I", "INT")
    assert json_type_ok(i64, -5)
    assert not json_type_ok(i64, 2**63)
    assert not json_type_ok(i64, 1.0)
    asc = FieldDef(3, "A", "ASCII")
    assert json_type_ok(asc, "abc")
    assert not json_type_ok(asc, 1)


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70))
def test_real_accepts_any_finite_number(v: float) -> None:
    assert json_type_ok(FIELDS["TRDPRC_1"], v)


@given(st.dates())
def test_dates_roundtrip(d: dt.date) -> None:
    assert json_type_ok(FIELDS["TRADE_DATE"], d.isoformat())


@given(st.times())
def test_times_roundtrip(t: dt.time) -> None:
    iso = t.isoformat()
    assert json_type_ok(FIELDS["SALTIM"], iso)
    assert json_type_ok(FIELDS["SALTIM"], iso[:8])


@given(st.text())
def test_strings_for_string_types(s: str) -> None:
    assert json_type_ok(FIELDS["DSPLY_NAME"], s)
    assert json_type_ok(FIELDS["CURRENCY"], s)
    assert not json_type_ok(FIELDS["BID"], s) or s in ("Inf", "-Inf", "NaN")


@given(st.booleans())
def test_booleans_never_ok(b: bool) -> None:
    for fd in FIELDS.values():
        assert not json_type_ok(fd, b)
