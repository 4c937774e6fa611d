"""The compiled reader scans strings 8 bytes a word and takes a decimal's narrow slot from its
digits: the byte that ends a string (or makes it fall back) at every offset of a word, and
decimals on both sides of what a 4-byte slot holds, read as msgspec and the pure core do."""

from __future__ import annotations

import json

import msgspec
import pytest

from ertcloud.protocol import ClientProtocol, codec, core
from ertcloud.protocol.messages import AnyMessage, Key, Refresh, State

pytestmark = pytest.mark.skipif(
    core.compiled_dispatch is None, reason="the compiled core is not built"
)

_DECODE = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
# what may end or interrupt a string: its quote, escapes, control bytes, multi-byte UTF-8
_SPECIAL = ['"', "\\", '\\"', "\\n", "\\u00e9", "\x01", "\x1f", " ", "\x7f", "é", "⇧", "A"]


def _frames(raw: str) -> list[str]:
    """Frames with the JSON string ``raw`` as a field name and as a value."""
    return [
        '[{"Type":"Update","ID":5,"Fields":{' + raw + ':1.5,"BID":2}}]',
        '[{"Type":"Update","ID":5,"Fields":{"X":' + raw + ',"BID":2}}]',
    ]


def test_a_string_ends_where_msgspec_ends_it_at_every_offset_of_a_word() -> None:
    from ertcloud.protocol import _speedups

    read = 0
    for length in range(20):
        for at in range(length + 1):
            for special in _SPECIAL:
                text = "x" * at + special + "y" * (length - at)
                escaped = special.startswith("\\")
                raw = (
                    '"' + text + '"'
                    if escaped or special == '"'
                    else json.dumps(text, ensure_ascii=False)
                )
                for frame in _frames(raw):
                    data = frame.encode("utf-8")
                    # whole, as str, and cut short (inside or just after the string)
                    for payload in (data, frame, data[: len(data) - 12], data[: 38 + at]):
                        try:
                            want = _DECODE(payload)
                        except msgspec.DecodeError:
                            want = None
                        got = _speedups.decode_updates(payload)
                        if got is not None:  # None: the general decoder takes the frame
                            read += 1
                            assert got == want, payload
    assert read > 3000  # most frames are read here, not handed on


def _image_after(core_name: str, first: dict[str, object], number: str) -> str:
    """The image after a Refresh of ``first`` and an Update that gives each of its fields the
    JSON number ``number`` as written."""
    proto = ClientProtocol()
    if core_name != "class":
        proto.dispatch, proto.fast_decode = core.select(core_name)  # type: ignore[method-assign,assignment]
    proto.connection_made(0.0)
    (s,) = proto.request(["A.N"])
    proto.data_to_send(0.0)
    ok = State("Open", "Ok")
    proto.receive(
        codec.encode([Refresh(id=s.id, key=Key(name="A.N"), state=ok, fields=first)]), 0.0
    )
    fields = ",".join(f'"{name}":{number}' for name in first)
    proto.receive(f'[{{"Type":"Update","ID":{s.id},"Fields":{{{fields}}}}}]'.encode(), 0.0)
    image = dict(s.fields)  # type: ignore[attr-defined]
    return repr([(k, type(v).__name__, v) for k, v in image.items()])


# decimals a 4-byte slot holds from their digits (m < 2**27, up to 9 places) and ones just past
DECIMALS = [
    "134217727",
    "134217728",
    "13421772.7",
    "13421772.8",
    "0.134217727",
    "0.000000001",
    "0.0000000001",
    "1.123456789",
    "1.1234567891",
    "-134217727.0",
    "-0.0",
    "0.0",
    "-0",
    "100.10",
    "99.990",
    "5490100.0",
    "1e2",
    "1.5E-3",
    "123456789012345.6",
    "-7.25",
]


@pytest.mark.parametrize("text", DECIMALS)
def test_a_decimal_in_a_narrow_slot_reads_as_in_the_pure_core(text: str) -> None:
    first = {"BID": 86.78, "ASK": 86.79, "ACVOL_1": 1756100}  # every slot narrow
    seen = {name: _image_after(name, first, text) for name in ("pure", "compiled", "class")}
    assert seen["compiled"] == seen["pure"] and seen["class"] == seen["pure"]
    frame = b'[{"Type":"Update","ID":5,"Fields":{"BID":' + text.encode() + b"}}]"
    from ertcloud.protocol import _speedups

    got = _speedups.decode_updates(frame)
    assert got is None or got == _DECODE(frame)
