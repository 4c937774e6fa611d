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


_NAMES = ["ORDER_PRC", "ORDER_SIDE", "A", "ABCDEFGHIJKLMNOPQ", "É_NAME"]


@pytest.mark.parametrize("first", _NAMES)
def test_first_names_of_summary_and_entries_guessed_apart(first: str) -> None:
    """The reader guesses a Fields object's first name from the last Fields read, and in a Map
    Update a Summary and entries alternate: first names that nearly match the guess, in turn,
    do what the pure core does."""
    twins = Twins()
    sid = _book(twins)

    def msg(summary: str, entry: str, size: int) -> bytes:
        m = {
            "Type": "Update",
            "ID": sid,
            "Map": {
                "Summary": {"Fields": {summary: size, "TIMACT_MS": size}},
                "Entries": [
                    {"Action": "Update", "Key": "k1", "Fields": {entry: size, "NO_ORD": 1}},
                    {"Action": "Add", "Key": "k2", "Fields": {entry: 2.5}},
                ],
            },
        }
        return json.dumps([m], ensure_ascii=False, separators=(",", ":")).encode()

    for _ in range(2):
        twins.feed(msg("TIMACT_MS", first, 1))
    for other in _near(first):
        twins.feed(msg(other, first, 2))
        twins.feed(msg("TIMACT_MS", other, 3))
        twins.feed(msg(first, "TIMACT_MS", 4))
        twins.feed(msg("TIMACT_MS", first, 5))


@pytest.mark.parametrize(
    "value", ["Buffer", "", "É", "⇧" * 9, 'a"b', "a\\b", 7, None, True, [1], {"A": 1}]
)
def test_scalars_the_apply_passes_over_read_as_the_pure_core_reads_them(value: Any) -> None:
    twins = Twins()
    sid = _book(twins)
    entry = {"Action": "Update", "Key": "k1", "Extra": value, "Fields": {"ACC_SIZE": 1}}
    m = {"Type": "Update", "ID": sid, "Map": {"KeyType": value, "Entries": [entry]}}
    text = json.dumps([m], ensure_ascii=False, separators=(",", ":"))
    twins.feed(text.encode())
    twins.feed(text)
    twins.feed(text.encode()[:-12])
    # bytes that are not UTF-8 in the passed-over string: the general decoder's error
    if isinstance(value, str) and value:
        twins.feed(text.encode().replace(value.encode(), b"\xff\xfe", 1))
