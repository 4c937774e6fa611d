"""JSON codec: frames of one object or an array of messages, in both directions.

The fast path decodes a whole frame straight into typed structs with one msgspec call.
When that fails (a numeric ``Type``, a missing ``Type`` meaning Request, an unknown message
class, a value of the wrong type), the frame is decoded again generically and each message
is converted on its own, so one bad message never hides the good ones beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from ..exceptions import DecodeError
from .enums import MSG_TYPE_NUMBERS
from .messages import AnyMessage, Message

__all__ = [
    "DecodeError",
    "Malformed",
    "decode",
    "decode_raw",
    "encode",
    "encode_one",
    "to_builtins",
]


class Malformed(msgspec.Struct, frozen=True):
    """A message of a frame that could not be read; the rest of the frame still counts."""

    raw: Any
    reason: str


_frame_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(list[AnyMessage] | AnyMessage)
_raw_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _text(data: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    raw = bytes(data)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        # Binary frames from some servers are ISO-8859-1; re-encode as UTF-8 before parsing.
        raw = raw.decode("latin-1").encode("utf-8")
    return raw


def decode_raw(data: str | bytes | bytearray | memoryview) -> list[Any]:
    """Decode a frame into plain Python objects, always as a list of messages."""
    try:
        obj = _raw_decoder.decode(_text(data))
    except (msgspec.DecodeError, UnicodeEncodeError) as exc:
        raise DecodeError(f"frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise DecodeError("frame is nested too deeply") from None
    if isinstance(obj, dict):
        return [obj]
    if isinstance(obj, list):
        return obj
    raise DecodeError(f"frame holds a JSON {type(obj).__name__}, not an object or array")


def _normalise(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    t = obj.get("Type", "Request")
    if isinstance(t, int) and not isinstance(t, bool):
        t = MSG_TYPE_NUMBERS.get(t, t)
    if t != obj.get("Type"):
        obj = dict(obj)
        obj["Type"] = t
    return obj


def convert(obj: Any) -> AnyMessage | Malformed:
    """Convert one decoded JSON object into a typed message, or a :class:`Malformed`."""
    if not isinstance(obj, dict):
        return Malformed(obj, f"message is a JSON {type(obj).__name__}, not an object")
    try:
        msg: AnyMessage = msgspec.convert(_normalise(obj), AnyMessage)
    except msgspec.ValidationError as exc:
        return Malformed(obj, str(exc))
    return msg


def decode(data: str | bytes | bytearray | memoryview) -> list[AnyMessage | Malformed]:
    """Decode one WebSocket frame into messages (one object or an array of them).

    Raises :class:`DecodeError` only if the frame is not JSON; a message that is JSON but
    not a valid message comes back as :class:`Malformed` in its place.
    """
    raw = _text(data)
    try:
        out = _frame_decoder.decode(raw)
    except msgspec.ValidationError:
        return [convert(m) for m in decode_raw(raw)]
    except msgspec.DecodeError as exc:
        raise DecodeError(f"frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise DecodeError("frame is nested too deeply") from None
    if isinstance(out, list):
        return out
    return [out]


def encode(messages: Iterable[Message | dict[str, Any]]) -> bytes:
    """Encode messages as one frame holding a JSON array (what servers always send)."""
    return _encoder.encode(list(messages))


def encode_one(message: Message | dict[str, Any]) -> bytes:
    """Encode a single message as a bare JSON object (what the vendor's clients send)."""
    return _encoder.encode(message)


def to_builtins(message: msgspec.Struct) -> dict[str, Any]:
    """The message as the plain dict that would go on the wire."""
    out: dict[str, Any] = msgspec.to_builtins(message)
    return out
