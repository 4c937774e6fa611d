"""Our own small field dictionary: names, FIDs, types and ripples of the fields we use.

On the WebSocket API (``tr_json2``) the server converts RWF to JSON, so fields arrive by
name and a client does not strictly need a dictionary. This table is what the simulator
needs to render field values with the right JSON types, and what the client uses to map
FIDs to names (a View may list either) and to validate values.

It is a hand-written subset (the ~190 fields the simulator emits or the examples use),
not a copy of the vendor's ``RDMFieldDictionary``; names, FIDs and wire types are facts.
Users who need the full dictionary should load their own copy of it.

Field types (the RWF wire type, which decides the JSON rendering):

========  ===========================================================================
Type      JSON value
========  ===========================================================================
REAL      number, or ``"Inf"``, ``"-Inf"``, ``"NaN"`` (RWF REAL64)
INT       integer (RWF INT64)
UINT      non-negative integer (RWF UINT64, e.g. ``QUOTIM_MS``: ms since midnight)
ENUM      the display string of the value (``"USD"``, ``"2DP "``, ``"⇧"``), or an
          integer when the value has no display string
DATE      ``"YYYY-MM-DD"``
TIME      ``"HH:MM"``, ``"HH:MM:SS"`` with an optional fraction (``"15:37:31.678"``)
ASCII     string (RWF ASCII_STRING)
RMTES     string (RWF RMTES_STRING, converted to UTF-8 by the server)
BUFFER    base64 string
========  ===========================================================================

``null`` (a blank field) is valid for every type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

__all__ = [
    "ASCII",
    "BUFFER",
    "BY_FID",
    "DATE",
    "ENUM",
    "FIELDS",
    "FIELD_TYPES",
    "INT",
    "REAL",
    "RIPPLE_TARGETS",
    "RMTES",
    "TIME",
    "UINT",
    "FieldDef",
    "json_type_ok",
    "lookup",
    "ripple_chain",
]

REAL = "REAL"
INT = "INT"
UINT = "UINT"
ENUM = "ENUM"
DATE = "DATE"
TIME = "TIME"
ASCII = "ASCII"
RMTES = "RMTES"
BUFFER = "BUFFER"

#: Every field type a :class:`FieldDef` may have.
FIELD_TYPES: frozenset[str] = frozenset({REAL, INT, UINT, ENUM, DATE, TIME, ASCII, RMTES, BUFFER})


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field: its FID, its name (as used in JSON), its type and its ripple target.

    ``ripple_to`` names the field that receives the previous value when this one is
    updated (``TRDPRC_1`` -> ``TRDPRC_2``), or is ``None``.
    """

    fid: int
    name: str
    type: str
    ripple_to: str | None = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {self.type!r} for {self.name}")


# (name, fid, type), grouped by theme. FIDs and types are those of RDMFieldDictionary 4.20.
_TABLE: tuple[tuple[str, int, str], ...] = (
    # Identity / static
    ("PROD_PERM", 1, UINT),
    ("RDNDISPLAY", 2, UINT),
    ("DSPLY_NAME", 3, RMTES),
    ("DSPLY_NMLL", 1352, RMTES),
    ("RDN_EXCHID", 4, ENUM),
    ("RDN_EXCHD2", 1709, ENUM),
    ("CURRENCY", 15, ENUM),
    ("TRD_UNITS", 53, ENUM),
    ("LOT_SIZE_A", 198, REAL),
    ("RECORDTYPE", 259, UINT),
    ("PREF_DISP", 1080, UINT),
    ("PREV_DISP", 3263, UINT),
    ("PROV_SYMB", 3422, RMTES),
    ("MNEMONIC", 3694, RMTES),
    ("OFFCL_CODE", 78, RMTES),
    ("OFF_CD_IND", 869, ENUM),
    ("CUSIP_CD", 4742, RMTES),
    ("ISIN_CODE", 3655, RMTES),
    ("BCKGRNDPAG", 105, RMTES),
    ("LIST_MKT", 3183, RMTES),
    ("XMIC_CODE", 8493, RMTES),
    ("PRC_TICK", 6210, REAL),
    # Last trade
    ("TRDPRC_1", 6, REAL),
    ("TRDPRC_2", 7, REAL),
    ("TRDPRC_3", 8, REAL),
    ("TRDPRC_4", 9, REAL),
    ("TRDPRC_5", 10, REAL),
    ("TRDVOL_1", 178, REAL),
    ("TRDTIM_1", 18, TIME),
    ("TRADE_DATE", 16, DATE),
    ("SALTIM", 379, TIME),
    ("SALTIM_MS", 3854, UINT),
    ("TRDTIM_MS", 3853, UINT),
    ("TRDXID_1", 44, ENUM),
    ("TRADE_EXID", 6638, ENUM),
    ("PRCTCK_1", 14, ENUM),
    ("NETCHNG_1", 11, REAL),
    ("PCTCHNG", 56, REAL),
    ("ACVOL_1", 32, REAL),
    ("TOT_VOLUME", 80, REAL),
    ("NUM_MOVES", 77, REAL),
    ("TURNOVER", 100, REAL),
    ("VWAP", 3404, REAL),
    ("VOL_X_PRC1", 1379, REAL),
    ("SEQNUM", 1021, REAL),
    ("TRADE_ID", 3900, RMTES),
    ("IRGPRC", 372, REAL),
    ("IRGVOL", 373, REAL),
    ("IRGCOND", 374, ENUM),
    ("LSTSALCOND", 4756, RMTES),
    ("PRC_QL_CD", 118, ENUM),
    ("PRC_QL2", 131, ENUM),
    ("PRC_QL3", 3264, ENUM),
    ("CTS_QUAL", 40, ENUM),
    ("BLKCOUNT", 42, REAL),
    ("BLKVOLUM", 43, REAL),
    ("TIMCOR", 375, TIME),
    ("TIMCOR_MS", 3856, UINT),
    ("ODD_VOLUME", 1404, REAL),
    # Quote (level 1)
    ("BID", 22, REAL),
    ("BID_1", 23, REAL),
    ("BID_2", 24, REAL),
    ("ASK", 25, REAL),
    ("ASK_1", 26, REAL),
    ("ASK_2", 27, REAL),
    ("BIDSIZE", 30, REAL),
    ("ASKSIZE", 31, REAL),
    ("BID_NET_CH", 114, REAL),
    ("BID_TICK_1", 115, ENUM),
    ("BIDXID", 3298, ENUM),
    ("ASKXID", 3297, ENUM),
    ("BID_MMID1", 293, RMTES),
    ("ASK_MMID1", 296, RMTES),
    ("QUOTIM", 1025, TIME),
    ("QUOTIM_MS", 3855, UINT),
    ("QUOTE_DATE", 3386, DATE),
    ("MID_PRICE", 134, REAL),
    ("MID_NET_CH", 135, REAL),
    ("BID_COND_N", 6579, RMTES),
    ("ASK_COND_N", 6580, RMTES),
    ("NBBO_IND", 12783, ENUM),
    ("SEQNUM_QT", 3887, REAL),
    ("BID_ASK_DT", 3580, DATE),
    ("PRIMACT_1", 393, REAL),
    ("SEC_ACT_1", 275, REAL),
    # Session / daily statistics
    ("OPEN_PRC", 19, REAL),
    ("HIGH_1", 12, REAL),
    ("LOW_1", 13, REAL),
    ("HST_CLOSE", 21, REAL),
    ("HSTCLSDATE", 79, DATE),
    ("ADJUST_CLS", 1465, REAL),
    ("OPEN_BID", 57, REAL),
    ("OPEN_ASK", 59, REAL),
    ("CLOSE_BID", 60, REAL),
    ("CLOSE_ASK", 61, REAL),
    ("OPN_NETCH", 3256, REAL),
    ("OFF_CLOSE", 3372, REAL),
    ("ACTIV_DATE", 17, DATE),
    ("TIMACT", 5, TIME),
    ("TIMACT_MS", 4148, UINT),
    ("EXCHTIM", 1067, TIME),
    ("UPLIMIT", 75, REAL),
    ("LOLIMIT", 76, REAL),
    ("YRHIGH", 90, REAL),
    ("YRLOW", 91, REAL),
    ("YRHIGHDAT", 350, DATE),
    ("YRLOWDAT", 351, DATE),
    ("52WK_HIGH", 3265, REAL),
    ("52WK_LOW", 3266, REAL),
    ("MKT_STATUS", 3915, RMTES),
    ("TRD_STATUS", 6614, ENUM),
    ("HALT_REASN", 6517, RMTES),
    ("BOOK_STATE", 6516, ENUM),
    # Fundamentals / news
    ("EARNINGS", 34, REAL),
    ("YIELD", 35, REAL),
    ("PERATIO", 36, REAL),
    ("DIVIDEND", 71, REAL),
    ("DIVIDENDTP", 37, ENUM),
    ("DIVPAYDATE", 38, DATE),
    ("EXDIVDATE", 39, DATE),
    ("NEWS", 28, RMTES),
    ("NEWS_TIME", 29, TIME),
    # FX contributed quotes
    ("CTBTR_1", 831, RMTES),
    ("CTB_LOC1", 836, RMTES),
    ("CTB_PAGE1", 841, RMTES),
    ("DLG_CODE1", 826, RMTES),
    ("SRC_REF1", 501, RMTES),
    ("VALUE_TS1", 1010, TIME),
    ("VALUE_DT1", 875, DATE),
    ("BID_HIGH_1", 203, REAL),
    ("BID_LOW_1", 204, REAL),
    ("ASK_HIGH_1", 3512, REAL),
    ("ASK_LOW_1", 3514, REAL),
    ("BIDPCTCHNG", 7854, REAL),
    ("HST_CLSBID", 207, REAL),
    ("MID_HIGH", 4350, REAL),
    ("MID_LOW", 4351, REAL),
    ("BASE_CCY", 544, RMTES),
    # Fixed income
    ("COUPN_RATE", 69, REAL),
    ("MATUR_DATE", 68, DATE),
    ("ISSUE_DATE", 107, DATE),
    ("YLDTOMAT", 132, REAL),
    ("B_YLD_1", 8225, REAL),
    ("A_YLD_1", 8220, REAL),
    ("MID_YLD_1", 3353, REAL),
    ("SEC_YLD_1", 970, REAL),
    ("BID_YIELD", 362, REAL),
    ("ASK_YIELD", 363, REAL),
    ("BMK_SPD", 3304, REAL),
    ("SWAP_SPRD", 3042, REAL),
    ("ZSPREAD", 4399, REAL),
    ("ACCR_INT", 1350, REAL),
    ("CLEAN_PRC", 3309, REAL),
    ("DIRTY_PRC", 3316, REAL),
    ("MOD_DURTN", 885, REAL),
    ("CONVEXITY", 1446, REAL),
    ("BPV", 3305, REAL),
    ("AMT_OS", 850, REAL),
    ("BOND_TYPE", 104, ENUM),
    ("RATING", 103, ENUM),
    ("BENCHMARK", 8962, ENUM),
    # Index statistics
    ("ISSUES_ADV", 84, REAL),
    ("ISSUES_DEC", 85, REAL),
    ("ISSUES_UNC", 86, REAL),
    ("VOLUME_ADV", 81, REAL),
    ("VOLUME_DEC", 82, REAL),
    ("VOLUME_UNC", 83, REAL),
    ("NEW_HIGHS", 108, REAL),
    ("NEW_LOWS", 101, REAL),
    # Derivatives (for completeness)
    ("OPINT_1", 64, REAL),
    ("SETTLE", 70, REAL),
    ("STRIKE_PRC", 66, REAL),
    ("EXPIR_DATE", 67, DATE),
    ("IMP_VOLT", 1642, REAL),
    # Depth (MarketByPrice / MarketByOrder map entries & summary)
    ("ORDER_PRC", 3427, REAL),
    ("ORDER_SIDE", 3428, ENUM),
    ("ORDER_SIZE", 3429, REAL),
    ("ORDER_ID", 3426, RMTES),
    ("NO_ORD", 3430, UINT),
    ("ACC_SIZE", 4356, REAL),
    ("MMID", 3435, RMTES),
    ("LV_TIM_MS", 6527, UINT),
    ("LV_TIM_MSP", 6528, UINT),
    ("LV_DATE", 6529, DATE),
    ("PR_TIM_MS", 6520, UINT),
    ("PR_TIM_MSP", 6521, UINT),
    ("PR_DATE", 6522, DATE),
    ("PR_RNK_RUL", 3423, ENUM),
    ("OR_RNK_RUL", 3425, ENUM),
    ("ORD_ENT_ST", 6518, ENUM),
    ("MKT_OR_RUL", 6519, ENUM),
)

# Ripple chains: an update of the key moves the old value into the target.
_RIPPLES: dict[str, str] = {
    "TRDPRC_1": "TRDPRC_2",
    "TRDPRC_2": "TRDPRC_3",
    "TRDPRC_3": "TRDPRC_4",
    "TRDPRC_4": "TRDPRC_5",
    "BID": "BID_1",
    "BID_1": "BID_2",
    "ASK": "ASK_1",
    "ASK_1": "ASK_2",
}

#: Field definitions by name.
FIELDS: dict[str, FieldDef] = {
    name: FieldDef(fid, name, ftype, _RIPPLES.get(name)) for name, fid, ftype in _TABLE
}

#: Field definitions by FID.
BY_FID: dict[int, FieldDef] = {fd.fid: fd for fd in FIELDS.values()}

#: Names of the fields that only ever change by rippling (``TRDPRC_2``, ``BID_1``...).
RIPPLE_TARGETS: frozenset[str] = frozenset(_RIPPLES.values())


def lookup(name_or_fid: str | int) -> FieldDef | None:
    """Return the field with that name or FID, or ``None``.

    A string of digits (with an optional minus sign), as found in a View, is read as a FID.
    """
    if isinstance(name_or_fid, bool):
        return None
    if isinstance(name_or_fid, int):
        return BY_FID.get(name_or_fid)
    fd = FIELDS.get(name_or_fid)
    if fd is None and name_or_fid.lstrip("-").isdecimal():
        return BY_FID.get(int(name_or_fid))
    return fd


def ripple_chain(name: str) -> tuple[str, ...]:
    """The fields that receive ripples when ``name`` is updated, nearest first.

    ``ripple_chain("TRDPRC_1")`` is ``("TRDPRC_2", "TRDPRC_3", "TRDPRC_4", "TRDPRC_5")``;
    a field that does not ripple gives ``()``. To apply an update to a cached image, move
    the values down the chain, farthest first, before storing the new value.
    """
    chain: list[str] = []
    target = _RIPPLES.get(name)
    while target is not None:
        chain.append(target)
        target = _RIPPLES.get(target)
    return tuple(chain)


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# HH:MM, HH:MM:SS, HH:MM:SS.f{1,9}; also the older HH:MM:SS:mmm:uuu:nnn rendering.
_TIME_RE = re.compile(
    r"([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9}|:\d{3}(:\d{3}(:\d{3})?)?)?)?"
)
_B64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_REAL_STRINGS = frozenset({"Inf", "-Inf", "NaN"})
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def _is_real(v: object) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, int):
        return not isinstance(v, bool)
    return isinstance(v, str) and v in _REAL_STRINGS


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and _INT64_MIN <= v <= _INT64_MAX


def _is_uint(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _UINT64_MAX


def _is_enum(v: object) -> bool:
    if isinstance(v, str):
        return True
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF


def _is_date(v: object) -> bool:
    if not isinstance(v, str) or _DATE_RE.fullmatch(v) is None:
        return False
    try:
        date(int(v[:4]), int(v[5:7]), int(v[8:10]))
    except ValueError:
        return False
    return True


def _is_time(v: object) -> bool:
    return isinstance(v, str) and _TIME_RE.fullmatch(v) is not None


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_buffer(v: object) -> bool:
    return isinstance(v, str) and _B64_RE.fullmatch(v) is not None


_CHECKS: dict[str, Callable[[object], bool]] = {
    REAL: _is_real,
    INT: _is_int,
    UINT: _is_uint,
    ENUM: _is_enum,
    DATE: _is_date,
    TIME: _is_time,
    ASCII: _is_str,
    RMTES: _is_str,
    BUFFER: _is_buffer,
}


def json_type_ok(fd: FieldDef, value: object) -> bool:
    """True if ``value`` (as decoded from JSON) is a valid value for the field's type.

    ``None`` (blank) is always valid. Numbers must be finite; a non-finite REAL is
    written as the string ``"Inf"``, ``"-Inf"`` or ``"NaN"``. Booleans are never valid.
    """
    if value is None:
        return True
    return _CHECKS[fd.type](value)
