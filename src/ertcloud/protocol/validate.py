"""Server-side reading of client frames, with the converter's Error messages.

What a real server answers to malformed or invalid client input is an ``Error`` message
whose ``Text`` starts with the converter's wording (``JSON parser error``, ``JSON Missing
required key 'ID'``, ``JSON Converter Token Type error: ...``, ``JSON Unexpected Value.
Received '...' for key '...'``) and whose ``Debug.Message`` holds the offending JSON.
:func:`read_client_frame` returns, for each message of a frame, either the typed message or
the :class:`~ertcloud.protocol.messages.Error` to send back.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .codec import DecodeError, Malformed, convert, decode_raw
from .enums import DOMAINS, MSG_TYPE_NUMBERS, MsgType
from .messages import AnyMessage, Error

__all__ = ["CONVERTER_FILE", "read_client_frame"]

CONVERTER_FILE = "Converter/jsonToRwfSimple.C"
_TYPES = frozenset(t.value for t in MsgType) - {"Error"}
_BOOL_KEYS = (
    "Streaming",
    "Refresh",
    "Pause",
    "Private",
    "Qualified",
    "KeyInUpdates",
    "ConfInfoInUpdates",
    "Ack",
    "Complete",
    "Solicited",
    "ClearCache",
)
_OBJECT_KEYS = ("Key", "Priority", "Qos", "WorstQos", "PostUserInfo", "Message")
#: the keys whose values have one JSON type, checked in this order: (keys, Python type, the
#: type the server's error names)
_TYPED_KEYS: tuple[tuple[tuple[str, ...], type, str], ...] = (
    (("View",), list, "ARRAY"),
    (_BOOL_KEYS, bool, "PRIMITIVE"),
    (_OBJECT_KEYS, dict, "OBJECT"),
)
_LINE = {"parse": 100, "type": 326, "missing": 965, "value": 441, "unknown": 512}
_encoder = msgspec.json.Encoder()
_WRONG_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`(?: - at `\$([^`]*)`)?")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_KIND = {"str": "STRING", "array": "ARRAY", "object": "OBJECT"}


def _json_kind(v: Any) -> str:
    if isinstance(v, dict):
        return "OBJECT"
    if isinstance(v, list):
        return "ARRAY"
    if isinstance(v, str):
        return "STRING"
    return "PRIMITIVE"


def _error(mid: int, text: str, line: str, message: str, offset: int | None = None) -> Error:
    debug: dict[str, Any] = {"File": CONVERTER_FILE, "Line": _LINE[line]}
    if offset is not None:
        debug["Offset"] = offset
    debug["Message"] = message
    return Error(id=mid, text=text, debug=debug)


def _offset(text: str, key: str) -> int | None:
    i = text.find(f'"{key}"')
    return None if i < 0 else i + len(key) + 3


def _mixed_array(node: Any, depth: int = 0) -> tuple[str, str] | None:
    """The first two different JSON kinds inside an OMM Array (``{"Type": ..., "Data":
    [...]}``) anywhere in a message, or None."""
    if depth > 32:
        return None
    if isinstance(node, dict):
        data = node.get("Data")
        if isinstance(data, list) and isinstance(node.get("Type"), str):
            kinds = [_json_kind(v) for v in data if v is not None]
            for k in kinds[1:]:
                if k != kinds[0]:
                    return kinds[0], k
        for v in node.values():
            if isinstance(v, (dict, list)):
                found = _mixed_array(v, depth + 1)
                if found:
                    return found
    elif isinstance(node, list):
        for v in node:
            if isinstance(v, (dict, list)):
                found = _mixed_array(v, depth + 1)
                if found:
                    return found
    return None


def read_client_frame(
    data: str | bytes, *, catch_unknown_keys: bool = False
) -> list[AnyMessage | Error]:
    """Read one client frame; each message becomes a typed message or an Error reply."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
    try:
        items = decode_raw(data)
    except DecodeError:
        return [_error(0, "JSON parser error: -3", "parse", text)]
    single = len(items) == 1 and text.lstrip().startswith("{")
    out: list[AnyMessage | Error] = []
    for obj in items:
        raw = text if single else _encoder.encode(obj).decode("utf-8", "replace")
        out.append(_check(obj, raw, catch_unknown_keys))
    return out


_KNOWN_KEYS = frozenset(
    """ID Type Domain Key Streaming Refresh View Pause Priority Qos WorstQos Private Qualified
    KeyInUpdates ConfInfoInUpdates ExtHdr Elements Fields Map Vector Series FilterList Json
    Opaque Xml Message Ack PostID PostUserInfo Complete PartNumber SeqNumber SecSeqNumber
    PermData PostUserRights Solicited ClearCache State""".split()
)


def _check(obj: Any, raw: str, catch_unknown_keys: bool) -> AnyMessage | Error:
    if not isinstance(obj, dict):
        return _error(
            0,
            f"JSON Converter Token Type error: Expected 'OBJECT' Received '{_json_kind(obj)}'",
            "type",
            raw,
        )
    mtype = obj.get("Type", "Request")
    if isinstance(mtype, int) and not isinstance(mtype, bool):
        mtype = MSG_TYPE_NUMBERS.get(mtype, mtype)
    if mtype in ("Ping", "Pong"):
        return convert({"Type": mtype})  # type: ignore[return-value]
    mid = obj.get("ID")
    if "ID" not in obj:
        return _error(0, "JSON Missing required key 'ID'", "missing", raw)
    ok_id = isinstance(mid, int) and not isinstance(mid, bool)
    if mtype == "Close" and isinstance(mid, list):
        ok_id = all(isinstance(i, int) and not isinstance(i, bool) for i in mid)
    if isinstance(mid, float):  # a number, but not an integer
        return _error(
            0,
            f"JSON Unexpected Value. Received '{mid}' for key 'ID'",
            "value",
            raw,
            _offset(raw, "ID"),
        )
    if not ok_id:
        return _error(
            0,
            f"JSON Converter Token Type error: Expected 'PRIMITIVE' for key 'ID' "
            f"Received '{_json_kind(mid)}'",
            "type",
            raw,
            _offset(raw, "ID"),
        )
    eid = mid if isinstance(mid, int) else (mid[0] if mid else 0)
    if not isinstance(mtype, str) or mtype not in _TYPES:
        return _error(
            eid,
            f"JSON Unexpected Value. Received '{mtype}' for key 'Type'",
            "value",
            raw,
            _offset(raw, "Type"),
        )
    domain = obj.get("Domain")
    if isinstance(domain, str) and domain not in DOMAINS:
        return _error(
            eid,
            f"JSON Unexpected Value. Received '{domain}' for key 'Domain'",
            "value",
            raw,
            _offset(raw, "Domain"),
        )
    if (domain is not None and not isinstance(domain, (str, int))) or isinstance(domain, bool):
        return _error(
            eid,
            f"JSON Converter Token Type error: Expected 'PRIMITIVE' for key 'Domain' "
            f"Received '{_json_kind(domain)}'",
            "type",
            raw,
            _offset(raw, "Domain"),
        )
    if catch_unknown_keys:
        for k in obj:
            if k not in _KNOWN_KEYS:
                return _error(eid, f"JSON Unexpected Key. Received '{k}'", "unknown", raw)
    if mtype == "Request" and "Key" not in obj:
        return _error(eid, "JSON Missing required key 'Key'", "missing", raw)
    for keys, kind, expected in _TYPED_KEYS:
        for k in keys:
            if k in obj and not isinstance(obj[k], kind):
                return _error(
                    eid,
                    f"JSON Converter Token Type error: Expected '{expected}' for key '{k}' "
                    f"Received '{_json_kind(obj[k])}'",
                    "type",
                    raw,
                    _offset(raw, k),
                )
    mixed = _mixed_array(obj)
    if mixed is not None:
        a, b = mixed
        return _error(
            eid,
            f"JSON Mixed Types in OMM Array: Received '{a}' and '{b}' for key 'Data'",
            "type",
            raw,
            _offset(raw, "Data"),
        )
    if "Type" not in obj or obj["Type"] != mtype:
        obj = dict(obj)
        obj["Type"] = mtype
    prio = obj.get("Priority")
    if isinstance(prio, dict) and not ("Class" in prio and "Count" in prio):
        obj = dict(obj)
        obj["Priority"] = {"Class": 1, "Count": 1, **prio}  # the defaults of 6.1
    msg = convert(obj)
    if isinstance(msg, Malformed):
        return _converter_error(eid, msg.reason, raw)
    return msg


def _converter_error(eid: int, reason: str, raw: str) -> Error:
    """msgspec's reason for refusing a message, in the converter's wording."""
    m = _MISSING.search(reason)
    if m:
        return _error(eid, f"JSON Missing required key '{m.group(1)}'", "missing", raw)
    m = _WRONG_TYPE.search(reason)
    if m:
        expected = next(
            (t for t in (p.strip() for p in m.group(1).split("|")) if t != "null"), "null"
        )
        path = m.group(3) or ""
        key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1] or "?"
        return _error(
            eid,
            f"JSON Converter Token Type error: Expected '{_KIND.get(expected, 'PRIMITIVE')}' "
            f"for key '{key}' Received '{_KIND.get(m.group(2), 'PRIMITIVE')}'",
            "type",
            raw,
            _offset(raw, key),
        )
    return _error(eid, f"JSON Converter Token Type error: {reason}", "type", raw)
