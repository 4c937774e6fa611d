"""The field dictionary as simple lookups: names, FIDs, types and ripples of our fields.

On the WebSocket API (``tr_json2``) the server converts RWF to JSON, so fields arrive by
name and a client does not strictly need a dictionary. This table is what the simulator
needs to render field values with the right JSON types, and what the client uses to map
FIDs to names (a View may list either) and to validate values.

The table is the package's own data file (``rdm_fields.tsv``, read by
:mod:`ertcloud.protocol.dictionary`): the fields the simulator emits plus common RDM fields,
not a copy of the vendor's ``RDMFieldDictionary``; names, FIDs and wire types are facts.
A session can also download the server's dictionary (``Session(dictionary=...)``).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..exceptions import ConfigError
from .dictionary import Dictionary, FieldInfo
from .dictionary import builtin as _builtin_dictionary

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
    "post_problem",
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
            raise ConfigError(f"unknown field type {self.type!r} for {self.name}")


# The table is the package's data file (see :mod:`.dictionary`).
_BUILTIN = _builtin_dictionary()

# Ripple chains: an update of the key moves the old value into the target.
_RIPPLES: dict[str, str] = {
    f.name: f.ripple_to for f in _BUILTIN.fields.values() if f.ripple_to is not None
}

#: Field definitions by name.
FIELDS: dict[str, FieldDef] = {
    f.name: FieldDef(f.fid, f.name, f.type, f.ripple_to) for f in _BUILTIN.fields.values()
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


def json_type_ok(fd: FieldDef | FieldInfo, value: object) -> bool:
    """True if ``value`` (as decoded from JSON) is a valid value for the field's type.

    ``None`` (blank) is always valid. Numbers must be finite; a non-finite REAL is
    written as the string ``"Inf"``, ``"-Inf"`` or ``"NaN"``. Booleans are never valid.
    """
    if value is None:
        return True
    return _CHECKS[fd.type](value)


def post_problem(fields: Mapping[str, Any], dictionary: Dictionary | None = None) -> str | None:
    """Why ``fields`` cannot be posted under ``dictionary`` (by default the builtin table):
    a field it does not have, or a value the field's type cannot take; ``None`` if they can."""
    d = dictionary if dictionary is not None else _BUILTIN
    for name, value in fields.items():
        fd = d.fields.get(name)
        if fd is None:
            where = f"the {d.source} dictionary" if d.source else "the field dictionary"
            return f"unknown field {name!r} (not in {where})"
        if not json_type_ok(fd, value):
            return f"{name} is a {fd.type} field: {value!r} does not fit"
    return None
