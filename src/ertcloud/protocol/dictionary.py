"""The field dictionary: field definitions and enum tables, with typed decoding of values.

One source for every field fact the project uses. The builtin table is our own data file
(``rdm_fields.tsv`` and ``rdm_enums.json`` in this package): names, FIDs and wire types are
public facts, the descriptions and most enum numberings are ours. A :class:`Dictionary`
is also built from the server's Dictionary domain (``RWFFld`` / ``RWFEnum`` refreshes, see
:meth:`Dictionary.from_series`), saved to and loaded from JSON (:meth:`Dictionary.to_json`).

Values are decoded by their dictionary type (:meth:`Dictionary.decode`): REAL -> float,
INT/UINT -> int, DATE -> ``datetime.date``, TIME -> ``datetime.time``, ENUM -> the display
string (its number through :meth:`Dictionary.enum_value`), ASCII/RMTES/BUFFER -> str, blank
-> ``None``. A value that does not fit its type is returned as it came: decoding never raises.

No I/O except reading the package data.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "FILTER_INFO",
    "FILTER_MINIMAL",
    "FILTER_NORMAL",
    "FILTER_VERBOSE",
    "MF_TYPES",
    "RWF_TYPES",
    "Dictionary",
    "DictionaryError",
    "EnumTable",
    "FieldInfo",
    "builtin",
]

#: Dictionary-domain ``Key.Filter`` values (RDM verbosity).
FILTER_INFO = 0
FILTER_MINIMAL = 3
FILTER_NORMAL = 7
FILTER_VERBOSE = 15

#: RWF data type codes (``RWFTYPE``) of our field types.
RWF_TYPES: dict[str, int] = {
    "INT": 3,
    "UINT": 4,
    "REAL": 8,
    "DATE": 9,
    "TIME": 10,
    "ENUM": 14,
    "BUFFER": 16,
    "ASCII": 17,
    "RMTES": 19,
}
_TYPE_OF_RWF = {v: k for k, v in RWF_TYPES.items()}
#: Marketfeed field type codes (``TYPE``), as the Dictionary domain carries them.
MF_TYPES: dict[str, int] = {
    "NONE": -1,
    "TIME_SECONDS": 0,
    "INTEGER": 1,
    "DATE": 3,
    "PRICE": 4,
    "ALPHANUMERIC": 5,
    "ENUMERATED": 6,
    "TIME": 7,
    "BINARY": 8,
}
_MF_OF_CODE = {v: k for k, v in MF_TYPES.items()}
_STRING_TYPES = frozenset(("ASCII", "RMTES", "BUFFER"))


class DictionaryError(ValueError):
    """A dictionary file or Dictionary-domain message that cannot be read."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """Everything the dictionary says about one field."""

    name: str
    fid: int
    type: str  # REAL, INT, UINT, ENUM, DATE, TIME, ASCII, RMTES, BUFFER
    ripple_to: str | None = None
    mf_type: str = "NONE"
    length: int = 0
    enum_length: int = 0
    rwf_len: int = 0
    description: str = ""

    @property
    def rwf_type(self) -> int:
        return RWF_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class EnumTable:
    """One enum table: the FIDs that use it and its (value, display) pairs."""

    fids: tuple[int, ...]
    values: tuple[tuple[int, str], ...]
    _by_value: dict[int, str] = field(default_factory=dict, compare=False, repr=False)
    _by_display: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for v, d in self.values:
            self._by_value.setdefault(v, d)
            self._by_display.setdefault(d, v)
            self._by_display.setdefault(d.strip(), v)

    def display(self, value: int) -> str | None:
        return self._by_value.get(value)

    def value(self, display: str) -> int | None:
        got = self._by_display.get(display)
        return got if got is not None else self._by_display.get(display.strip())


def _time_of(text: str) -> time | None:
    """A wire TIME as ``datetime.time``; nanoseconds are below its resolution and dropped."""
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return None
    hh, mm, ss, frac, ms, us, _ns = m.groups()
    micro = 0
    if frac is not None:
        micro = int((frac + "000000")[:6])
    elif ms is not None:
        micro = int(ms) * 1000 + (int(us) if us is not None else 0)
    try:
        return time(int(hh), int(mm), int(ss or 0), micro)
    except ValueError:
        return None


# HH:MM, HH:MM:SS, HH:MM:SS.f{1,9}, and the older HH:MM:SS:mmm[:uuu[:nnn]] rendering.
_TIME_RE = re.compile(
    r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9})|:(\d{3})(?::(\d{3})(?::(\d{3}))?)?)?)?"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_SPECIAL_REALS = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}


class Dictionary:
    """Field definitions by name and FID, enum tables by FID, and their versions."""

    def __init__(
        self,
        fields: Iterable[FieldInfo],
        enums: Iterable[EnumTable] = (),
        *,
        version: str = "0",
        enum_version: str = "0",
        source: str = "",
    ) -> None:
        self.fields: dict[str, FieldInfo] = {}
        self.by_fid: dict[int, FieldInfo] = {}
        for f in fields:
            if f.type not in RWF_TYPES:
                raise DictionaryError(f"unknown field type {f.type!r} for {f.name}")
            self.fields[f.name] = f
            self.by_fid[f.fid] = f
        self.enum_tables: list[EnumTable] = list(enums)
        self.enums: dict[int, EnumTable] = {}
        for t in self.enum_tables:
            for fid in t.fids:
                self.enums[fid] = t
        #: version of the field dictionary (dotted integers, e.g. ``"1.0.0"``)
        self.version = version
        #: version of the enum tables (``DT_Version``)
        self.enum_version = enum_version
        #: where it came from: ``"builtin"``, ``"download"`` or a file path
        self.source = source

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return (
            f"Dictionary({len(self.fields)} fields, {len(self.enum_tables)} enum tables, "
            f"version {self.version}/{self.enum_version}, {self.source or 'unnamed'})"
        )

    # -- lookups -------------------------------------------------------------------------

    def lookup(self, name_or_fid: str | int) -> FieldInfo | None:
        """The field with that name or FID (a string of digits is read as a FID)."""
        if isinstance(name_or_fid, bool):
            return None
        if isinstance(name_or_fid, int):
            return self.by_fid.get(name_or_fid)
        f = self.fields.get(name_or_fid)
        if f is None and name_or_fid.lstrip("-").isdecimal():
            return self.by_fid.get(int(name_or_fid))
        return f

    def enum_table(self, name_or_fid: str | int) -> EnumTable | None:
        f = self.lookup(name_or_fid)
        return self.enums.get(f.fid) if f is not None else None

    def enum_value(self, name_or_fid: str | int, display: str) -> int | None:
        """The number behind an enum field's display string, or ``None``."""
        t = self.enum_table(name_or_fid)
        return t.value(display) if t is not None else None

    def enum_display(self, name_or_fid: str | int, value: int) -> str | None:
        """The display string of an enum field's number, or ``None``."""
        t = self.enum_table(name_or_fid)
        return t.display(value) if t is not None else None

    # -- typed values --------------------------------------------------------------------

    def decode(self, name: str, value: Any) -> Any:
        """``value`` (as decoded from JSON) as the Python type of the field's dictionary
        type; an unknown field or a value that does not fit comes back unchanged."""
        if value is None:
            return None
        f = self.fields.get(name)
        if f is None:
            return value
        return decode_value(f.type, value, self.enums.get(f.fid))

    def typed(self, image: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a field image with every value decoded by :meth:`decode`."""
        fields = self.fields
        enums = self.enums
        out: dict[str, Any] = {}
        for k, v in image.items():
            f = fields.get(k)
            out[k] = v if v is None or f is None else decode_value(f.type, v, enums.get(f.fid))
        return out

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def builtin(cls) -> Dictionary:
        """The table shipped in this package."""
        return builtin()

    @classmethod
    def from_path(cls, path: Any) -> Dictionary:
        """Load a dictionary saved with :meth:`to_json` (or ``ertcloud dictionary
        --export json``)."""
        from pathlib import Path

        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise DictionaryError(f"cannot read dictionary {p}: {exc.strerror}") from None
        d = cls.from_json(text)
        d.source = str(p)
        return d

    @classmethod
    def from_json(cls, text: str | bytes) -> Dictionary:
        try:
            doc = json.loads(text)
            fields = [
                FieldInfo(
                    name=str(r["name"]),
                    fid=int(r["fid"]),
                    type=str(r["type"]),
                    ripple_to=r.get("ripple_to") or None,
                    mf_type=str(r.get("mf_type", "NONE")),
                    length=int(r.get("length", 0)),
                    enum_length=int(r.get("enum_length", 0)),
                    rwf_len=int(r.get("rwf_len", 0)),
                    description=str(r.get("description", "")),
                )
                for r in doc["fields"]
            ]
            enums = [
                EnumTable(
                    tuple(int(x) for x in t["fids"]),
                    tuple((int(v), str(d)) for v, d in t["values"]),
                )
                for t in doc.get("enums", ())
            ]
            return cls(
                fields,
                enums,
                version=str(doc.get("version", "0")),
                enum_version=str(doc.get("enum_version", "0")),
                source=str(doc.get("source", "")),
            )
        except DictionaryError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise DictionaryError(f"not a dictionary file: {exc}") from None

    @classmethod
    def from_series(
        cls, fld: Iterable[Mapping[str, Any]], enum: Iterable[Mapping[str, Any]] = ()
    ) -> Dictionary:
        """Build from the ``Series`` of the Dictionary-domain refresh parts of ``RWFFld``
        (``fld``) and ``RWFEnum`` (``enum``), in order."""
        fields: list[FieldInfo] = []
        fid_names: dict[int, str] = {}
        ripples: dict[str, int] = {}
        version = enum_version = "0"
        for series in fld:
            v = _summary_version(series)
            if v is not None:
                version = v
            for e in _entries(series):
                fi, rip = _field_of(e)
                fields.append(fi)
                fid_names[fi.fid] = fi.name
                if rip:
                    ripples[fi.name] = rip
        fields = [_replace_ripple(f, fid_names.get(ripples.get(f.name, 0))) for f in fields]
        tables: list[EnumTable] = []
        for series in enum:
            v = _summary_version(series)
            if v is not None:
                enum_version = v
            for e in _entries(series):
                tables.append(_enum_of(e))
        if not fields:
            raise DictionaryError("the field dictionary has no entries")
        return cls(fields, tables, version=version, enum_version=enum_version)

    # -- output --------------------------------------------------------------------------

    def to_json(self) -> str:
        """The whole dictionary as JSON (:meth:`from_json` reads it back)."""
        doc = {
            "version": self.version,
            "enum_version": self.enum_version,
            "source": self.source,
            "fields": [
                {
                    "name": f.name,
                    "fid": f.fid,
                    "type": f.type,
                    "ripple_to": f.ripple_to,
                    "mf_type": f.mf_type,
                    "length": f.length,
                    "enum_length": f.enum_length,
                    "rwf_len": f.rwf_len,
                    "description": f.description,
                }
                for f in sorted(self.fields.values(), key=lambda f: f.fid)
            ],
            "enums": [
                {"fids": list(t.fids), "values": [list(p) for p in t.values]}
                for t in self.enum_tables
            ],
        }
        return json.dumps(doc, ensure_ascii=False, indent=1)

    def to_csv(self) -> str:
        """One row per field: name, fid, type, ripple_to, mf_type, length, enum_length,
        rwf_len, enum values (``value=display`` joined by ``|``), description."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            ["name", "fid", "type", "ripple_to", "mf_type", "length", "enum_length",
             "rwf_len", "enum", "description"]
        )  # fmt: skip
        for f in sorted(self.fields.values(), key=lambda f: f.fid):
            t = self.enums.get(f.fid)
            enum = "|".join(f"{v}={d}" for v, d in t.values) if t is not None else ""
            w.writerow(
                [f.name, f.fid, f.type, f.ripple_to or "", f.mf_type, f.length,
                 f.enum_length, f.rwf_len, enum, f.description]
            )  # fmt: skip
        return buf.getvalue()

    def to_markdown(self) -> str:
        """The field table as Markdown (the table of ``docs/dictionary.md``)."""
        lines = [
            "| Name | FID | Type | Ripples to | Enum values | Description |",
            "|---|---:|---|---|---:|---|",
        ]
        for f in sorted(self.fields.values(), key=lambda f: f.fid):
            t = self.enums.get(f.fid)
            n = len(t.values) if t is not None else ""
            desc = f.description.replace("|", "/")
            lines.append(f"| {f.name} | {f.fid} | {f.type} | {f.ripple_to or ''} | {n} | {desc} |")
        return "\n".join(lines) + "\n"

    # -- the Dictionary domain -----------------------------------------------------------

    def summary(self, kind: str) -> dict[str, Any]:
        """``Series.Summary.Elements`` of the ``RWFFld`` or ``RWFEnum`` refresh."""
        if kind == "RWFFld":
            return {
                "Type": {"Type": "Int", "Data": 1},
                "DictionaryId": {"Type": "Int", "Data": 1},
                "Version": self.version,
            }
        return {
            "Type": {"Type": "Int", "Data": 2},
            "DictionaryId": {"Type": "Int", "Data": 1},
            "RT_Version": self.version,
            "DT_Version": self.enum_version,
            "Version": self.enum_version,
        }

    def entries(self, kind: str, filter_: int) -> list[dict[str, Any]]:
        """``Series.Entries`` of the ``RWFFld`` or ``RWFEnum`` refresh at a verbosity."""
        if filter_ & FILTER_MINIMAL == 0:
            return []
        if kind == "RWFFld":
            normal = filter_ & 0x4 != 0
            out = []
            for f in sorted(self.fields.values(), key=lambda f: f.fid):
                rip = self.fields.get(f.ripple_to) if f.ripple_to else None
                el: dict[str, Any] = {
                    "NAME": f.name,
                    "FID": {"Type": "Int", "Data": f.fid},
                    "RIPPLETO": {"Type": "Int", "Data": rip.fid if rip is not None else 0},
                    "TYPE": {"Type": "Int", "Data": MF_TYPES.get(f.mf_type, -1)},
                    "LENGTH": f.length,
                    "RWFTYPE": f.rwf_type,
                    "RWFLEN": f.rwf_len,
                }
                if normal:
                    el["ENUMLENGTH"] = f.enum_length
                    el["LONGNAME"] = f.description[:64] or f.name
                out.append({"Elements": el})
            return out
        out = []
        for t in self.enum_tables:
            el = {
                "FIDS": {"Type": "Array", "Data": {"Type": "Int", "Data": list(t.fids)}},
                "VALUE": {
                    "Type": "Array",
                    "Data": {"Type": "Enum", "Data": [v for v, _ in t.values]},
                },
                "DISPLAY": {
                    "Type": "Array",
                    "Data": {"Type": "RmtesString", "Data": [d for _, d in t.values]},
                },
            }
            out.append({"Elements": el})
        return out


def decode_value(ftype: str, value: Any, enum: EnumTable | None = None) -> Any:
    """``value`` as the Python type of ``ftype``; unchanged when it does not fit."""
    if value is None:
        return None
    vt = type(value)
    if ftype == "REAL":
        if vt is float:
            return value
        if vt is int:
            return float(value)
        if vt is str:
            return _SPECIAL_REALS.get(value, value)
        return value
    if ftype in ("INT", "UINT"):
        if vt is int:
            return value
        if vt is float and value.is_integer():
            return int(value)
        return value
    if vt is not str:
        if ftype == "ENUM" and vt is int and enum is not None:
            d = enum.display(value)
            return d if d is not None else value
        return value
    if ftype == "DATE":
        m = _DATE_RE.fullmatch(value)
        if m is None:
            return value
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return value
    if ftype == "TIME":
        t = _time_of(value)
        return t if t is not None else value
    return value  # ENUM display, ASCII, RMTES, BUFFER


def _entries(series: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    es = series.get("Entries") if isinstance(series, Mapping) else None
    if not isinstance(es, list):
        return []
    return [
        e["Elements"]
        for e in es
        if isinstance(e, Mapping) and isinstance(e.get("Elements"), Mapping)
    ]


def _summary_version(series: Mapping[str, Any]) -> str | None:
    s = series.get("Summary") if isinstance(series, Mapping) else None
    el = s.get("Elements") if isinstance(s, Mapping) else None
    v = el.get("Version") if isinstance(el, Mapping) else None
    return str(v) if v is not None else None


def _data(v: Any) -> Any:
    """The value of an element: plain JSON, or ``{"Type": ..., "Data": ...}``."""
    if isinstance(v, Mapping) and "Data" in v:
        return v["Data"]
    return v


def _field_of(el: Mapping[str, Any]) -> tuple[FieldInfo, int]:
    try:
        rwf = int(_data(el["RWFTYPE"]))
        ftype = _TYPE_OF_RWF.get(rwf)
        if ftype is None:
            ftype = "BUFFER"  # containers and the like: kept as they come
        info = FieldInfo(
            name=str(_data(el["NAME"])),
            fid=int(_data(el["FID"])),
            type=ftype,
            mf_type=_MF_OF_CODE.get(int(_data(el.get("TYPE", -1))), "NONE"),
            length=int(_data(el.get("LENGTH", 0))),
            enum_length=int(_data(el.get("ENUMLENGTH", 0))),
            rwf_len=int(_data(el.get("RWFLEN", 0))),
            description=str(_data(el.get("LONGNAME", ""))),
        )
        return info, int(_data(el.get("RIPPLETO", 0)) or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise DictionaryError(f"bad RWFFld entry {dict(el)!r}: {exc}") from None


def _replace_ripple(f: FieldInfo, target: str | None) -> FieldInfo:
    if target is None:
        return f
    return FieldInfo(
        f.name, f.fid, f.type, target, f.mf_type, f.length, f.enum_length, f.rwf_len,
        f.description,
    )  # fmt: skip


def _enum_of(el: Mapping[str, Any]) -> EnumTable:
    try:
        fids = _data(_data(el["FIDS"]))
        values = _data(_data(el["VALUE"]))
        displays = _data(_data(el["DISPLAY"]))
        if not (isinstance(fids, list) and isinstance(values, list) and isinstance(displays, list)):
            raise TypeError("FIDS, VALUE and DISPLAY must be arrays")
        return EnumTable(
            tuple(int(x) for x in fids),
            tuple((int(v), str(d)) for v, d in zip(values, displays, strict=True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DictionaryError(f"bad RWFEnum entry: {exc}") from None


@cache
def builtin() -> Dictionary:
    """The table shipped in the package (read once)."""
    pkg = resources.files(__package__)
    fields: list[FieldInfo] = []
    version = "0"
    for line in pkg.joinpath("rdm_fields.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#version"):
            version = line.split("\t", 1)[1].strip()
            continue
        if not line or line.startswith("#") or line.startswith("NAME\t"):
            continue
        name, fid, rip, ftype, mf, length, elen, rlen, desc = line.split("\t")
        fields.append(
            FieldInfo(
                name, int(fid), ftype, rip or None, mf, int(length), int(elen), int(rlen), desc
            )
        )
    doc = json.loads(pkg.joinpath("rdm_enums.json").read_text(encoding="utf-8"))
    tables = [
        EnumTable(tuple(t["fids"]), tuple((int(v), str(d)) for v, d in t["values"]))
        for t in doc["tables"]
    ]
    return Dictionary(
        fields, tables, version=version, enum_version=str(doc["version"]), source="builtin"
    )
