"""The compiled reader tries, for a field name, the string cache entry of the name that came
after the previous one last time, and for a string value the entry of that field's last string
value, before it scans for the closing quote and hashes; a string value of 5 digits or more is
not shared through the cache. Names and values that only nearly match the guess (one byte
less or more, the first or the last byte changed, on both sides of 8 and 16 bytes, not ASCII),
guessed entries replaced meanwhile by other strings, and strings cut by the end of the frame
must read as msgspec reads them, and the two cores must agree on what they do to images."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from core_twins import RIPPLE_NAMES, Twins

from ertcloud.protocol import core
from ertcloud.protocol.messages import AnyMessage

pytestmark = pytest.mark.skipif(
    core.compiled_dispatch is None, reason="the compiled core is not built"
)

_DECODE = msgspec.json.Decoder(list[AnyMessage] | AnyMessage).decode
#: names of 1 to 30 bytes (on both sides of the 8 and 16 the entry compares in words), and
#: not ASCII
_NAMES = ["B", "BID", "ASK_1234", "TRDPRC_12", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQ",
          "A_FIELD_NAME_OF_THIRTY_BYTES_X", "É_NAME", "⇧"]  # fmt: skip
_VALUES = ["⇧", "00:47:35", "EUR", "ABCDEFGHIJKLMNOPQR", "é", "12345", "1234"]


def _near(s: str) -> list[str]:
    """Strings that nearly match ``s``."""
    out = [s[:-1], s + "X", s[:-1] + chr(ord(s[-1]) ^ 1), chr(ord(s[0]) ^ 1) + s[1:], s * 2]
    return [x for x in out if x and x != s]


def _frame(fields: dict[str, Any]) -> bytes:
    body = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return ('[{"Type":"Update","ID":5,"Fields":' + body + "}]").encode()


def _check(payload: bytes) -> bool:
    """``payload`` read as msgspec reads it; whether the compiled reader read it."""
    from ertcloud.protocol import _speedups

    try:
        want = _DECODE(payload)
    except msgspec.DecodeError:
        want = None
    got = _speedups.decode_updates(payload)
    if got is None:  # the general decoder takes the frame
        return False
    assert got == want, payload
    return True


def test_names_and_values_that_nearly_match_the_guess_read_as_msgspec() -> None:
    read = 0
    for name in _NAMES:
        for value in _VALUES:
            trained = _frame({"A": 1, name: value, "Z": "⇩", "LAST": 2.5})
            for _ in range(2):  # the guesses learn the order and the values
                read += _check(trained)
            for other in _near(name):
                for v in [value, *_near(value)]:
                    frame = _frame({"A": 1, other: v, "Z": "⇩", "LAST": 2.5})
                    # whole, and cut short around the guessed name and value (the guess
                    # reads 8 bytes from the name's first: past the end of a short frame)
                    start = frame.index(b'"A":1,') + 6
                    for payload in (frame, *(frame[:k] for k in range(start, start + 12))):
                        read += _check(payload)
                    read += _check(trained)  # and the guess back to what it learnt
    assert read > 1000  # most frames are read here, not handed on


def test_an_identifier_is_not_shared_and_a_code_is() -> None:
    from ertcloud.protocol import _speedups

    frame = _frame({"TRADE_ID": "83324519", "SHORT": "1234", "CODE": "ABCDEF"})
    a, b = _speedups.decode_updates(frame), _speedups.decode_updates(frame)
    assert a is not None and a == b == _DECODE(frame)
    first, second = a[0].fields, b[0].fields if b else None
    assert first is not None and second is not None
    assert first["TRADE_ID"] is not second["TRADE_ID"]
    assert first["SHORT"] is second["SHORT"]
    assert first["CODE"] is second["CODE"]


def test_guessed_entries_replaced_meanwhile() -> None:
    """Thousands of other strings between the Updates replace the entries the guesses (and
    the names' layout slots and ripple groups) point to; the cores agree throughout."""
    twins = Twins()
    ids = {s.name: s.id for s in twins.protos[0].streams}
    order = [*RIPPLE_NAMES[:3], "BID", "X", "ASK"]
    for i in range(3000):
        fields: dict[str, Any] = {n: float(i % 7) for n in order}
        fields["X"] = f"v{i}x"  # a new string each time: entries replaced all over the table
        if i % 5 == 0:
            order.reverse()
        if i % 11 == 0:
            fields[f"N{i}"] = "⇧" if i % 2 else "⇩"  # a name not in the layout
        msg = {"Type": "Update", "ID": ids["WHOLE.L"], "Fields": fields}
        frame = json.dumps([msg], ensure_ascii=False).encode()
        assert _check(frame)
        twins.feed(frame)
    image = twins.protos[-1].streams.get(ids["WHOLE.L"])
    assert image is not None and image.fields["X"] == "v2999x"


def test_few_names_share_a_string_cache_entry() -> None:
    """The field names of the built-in dictionary and of the simulator's images spread over
    the reader's string cache about as randomly placed ones would (an entry holds one string:
    names sharing one replace each other at every read; the images' names, read in every
    Refresh, next to none), and no two names of a ripple chain (which differ in their last
    byte) share one."""
    from collections import Counter

    from ertcloud.protocol import _speedups
    from ertcloud.protocol.dictionary import builtin
    from ertcloud.sim.bench import ensure_universe
    from ertcloud.sim.market import Market

    market = Market(42)
    ensure_universe(market, 50)
    images = {n for inst in market.instruments.values() for n in inst.image}
    names = set(builtin().fields) | images
    entries = {n: _speedups.cache_entry(n) for n in names}
    per_entry = Counter(e for e in entries.values() if e is not None)
    sharing = sum(k for k in per_entry.values() if k > 1)
    # placed at random in 4096 entries, about 64 of these 530-odd names would share one
    assert len(names) > 500 and sharing < 100, sharing
    of_images = [entries[n] for n in images if entries[n] is not None]
    assert len(of_images) - len(set(of_images)) <= 5  # at random: about 2 of these ~130
    for stem in ("TRDPRC_", "BID_", "ASK_", "BIDSIZE_", "ASKSIZE_"):
        chain = [entries[stem + str(i)] for i in range(1, 6) if stem + str(i) in names]
        assert len(chain) == len(set(chain)), stem
