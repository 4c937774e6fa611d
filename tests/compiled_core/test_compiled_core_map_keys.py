"""The compiled reader shares the string Keys of Map entries through a table of their own
(not the field names' string cache): a key read again is the str the book already holds. Keys
that only nearly match one in the table (one byte less or more, the first or the last byte
changed, on both sides of 8 and 16 bytes, not ASCII, longer than the table keeps), two keys
that take one entry in turn, and keys cut by the end of the frame must do to the books what
the pure core does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_twins import Twins

from ertcloud.protocol import core

pytestmark = pytest.mark.skipif(
    core.compiled_dispatch is None, reason="the compiled core is not built"
)

#: keys of 0 to 80 bytes: on both sides of the 8 and 16 a key is compared in words around,
#: of the 64 the table keeps, not ASCII
_KEYS = ["", "k", "OTkuOTlC", "MTAwLjAxQQ==", "MTAwLjAxMDAwMEI=", "MTAwLjAxMDAwMDBBQg==",
         "K" * 64, "K" * 65, "ÉTÉ", "⇧" * 9]  # fmt: skip


def _near(s: str) -> list[str]:
    """Strings that nearly match ``s``."""
    if not s:
        return ["X"]
    out = [s[:-1], s + "X", s[:-1] + chr(ord(s[-1]) ^ 1), chr(ord(s[0]) ^ 1) + s[1:]]
    return [x for x in out if x != s]


def _book(twins: Twins) -> int:
    (s,) = [s for s in twins.protos[0].streams if s.name == "BOOK.L"]
    return s.id


def _frame(sid: int, entries: list[dict[str, Any]]) -> bytes:
    msg = {"Type": "Update", "ID": sid, "Domain": "MarketByPrice", "Map": {"Entries": entries}}
    return json.dumps([msg], ensure_ascii=False, separators=(",", ":")).encode()


def _add(key: Any, price: float) -> dict[str, Any]:
    return {"Action": "Add", "Key": key, "Fields": {"ORDER_PRC": price, "ORDER_SIDE": "BID"}}


def _update(key: Any, size: int) -> dict[str, Any]:
    return {"Action": "Update", "Key": key, "Fields": {"ACC_SIZE": size}}


def _delete(key: Any) -> dict[str, Any]:
    return {"Action": "Delete", "Key": key}


def test_keys_that_nearly_match_one_read_before_do_what_the_pure_core_does() -> None:
    twins = Twins()
    sid = _book(twins)
    fed = 0
    for key in _KEYS:
        twins.feed(_frame(sid, [_add(key, 1.5)]))  # the table learns it
        for other in _near(key):
            for entries in (
                [_update(other, 3)],
                [_add(other, 2.5), _update(key, 4)],
                [_delete(other), _update(key, 5)],
                [_update(key, 6), _delete(other), _add(other, 7.5), _delete(key)],
            ):
                frame = _frame(sid, entries)
                # whole, and cut short inside and around the first key
                at = frame.index(b'"Key":') + 6
                for payload in (frame, *(frame[:k] for k in range(at, at + len(other) + 3))):
                    twins.feed(payload)
                    fed += 1
                twins.feed(_frame(sid, [_add(key, 1.5)]))  # and the key back
        twins.feed(_frame(sid, [_delete(key)]))
    assert fed > 500


def _same_slot() -> tuple[str, str]:
    """Two keys of one length that take one entry of the table."""
    from ertcloud.protocol import _speedups

    seen: dict[int, str] = {}
    for i in range(100_000):
        k = f"{100 + i / 100:.6f}B"
        slot = _speedups.entry_key_slot(k)
        if slot in seen:
            return seen[slot], k
        seen[slot] = k
    raise AssertionError("no two keys share an entry")


def test_two_keys_that_take_one_entry_in_turn() -> None:
    a, b = _same_slot()
    twins = Twins()
    sid = _book(twins)
    for entries in (
        [_add(a, 1.0), _add(b, 2.0)],
        [_update(a, 1), _update(b, 2), _update(a, 3)],
        [_delete(b), _update(a, 4), _add(b, 5.0)],
        [_delete(a), _delete(b), _delete(a)],
        [_update(b, 6), _update(a, 7)],
    ):
        twins.feed(_frame(sid, entries))
    book = twins.protos[1].streams
    (s,) = [s for s in book if s.id == sid]
    assert s.map is not None and {a, b} <= set(s.map.entries)


def test_a_key_read_again_is_the_str_the_book_holds() -> None:
    twins = Twins()
    sid = _book(twins)
    proto = twins.protos[1]  # the compiled dispatch
    (s,) = [s for s in proto.streams if s.id == sid]
    key = "MTAyLjEyMDAwMEI="
    twins.feed(_frame(sid, [_add(key, 102.12)]))
    assert s.map is not None
    (first,) = [k for k in s.map.entries if k == key]
    twins.feed(_frame(sid, [_delete(key)]))
    assert key not in s.map.entries
    twins.feed(_frame(sid, [_add(key, 102.12)]))
    (again,) = [k for k in s.map.entries if k == key]
    assert again is first


@pytest.mark.parametrize("limit", [0, 1, 2, 2.5, 2**70, -(2**70), -1])
def test_book_limits_of_any_number_act_as_in_the_pure_core(limit: float) -> None:
    """The compiled apply compares a book's limits as C numbers when they are ints (a huge
    one past any length, a huge negative one below all), as Python does otherwise."""
    twins = Twins()
    sid = _book(twins)
    for proto in twins.protos:
        (s,) = [s for s in proto.streams if s.id == sid]
        assert s.map is not None
        s.map.max_entries = s.map.max_fields = limit  # type: ignore[assignment]
    for entries in (
        [_add("a", 1.0)],
        [_update("a", 2), _add("b", 3.0)],
        [_update("c", 4)],
        [_delete("a"), _delete("b")],
    ):
        twins.feed(_frame(sid, entries))
