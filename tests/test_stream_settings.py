"""The streams of a table share one object of its settings (limits, interner); a setting
changed on one stream is that stream's alone, as when each stream held its own."""

from __future__ import annotations

import pytest

from ertcloud.exceptions import LimitExceeded
from ertcloud.protocol.messages import Refresh, Request, State
from ertcloud.protocol.ripples import BUILTIN_RIPPLES
from ertcloud.protocol.streams import (
    MAX_FIELDS_PER_IMAGE,
    MAX_MAP_ENTRIES,
    Interner,
    ItemStream,
    StreamTable,
)


def _stream(sid: int) -> ItemStream:
    return ItemStream(sid, Request(id=sid), f"X{sid}")


def _refresh(sid: int, n: int) -> Refresh:
    fields = {f"F{i}": float(i) for i in range(n)}
    return Refresh(id=sid, state=State("Open", "Ok"), fields=fields)


def test_streams_of_a_table_share_its_settings() -> None:
    table = StreamTable()
    table.max_fields, table.max_map_entries = 5, 7
    a, b = _stream(2), _stream(3)
    table.add(a)
    table.add(b)
    assert a._settings is b._settings
    assert (a.max_fields, a.max_map_entries, a.interner) == (5, 7, table.interner)
    a.max_fields = 3  # this stream's alone
    assert (a.max_fields, b.max_fields, table.max_fields) == (3, 5, 5)
    assert a.interner is b.interner and a.max_map_entries == 7
    with pytest.raises(LimitExceeded):
        a.apply_refresh(_refresh(2, 4))
    b.apply_refresh(_refresh(3, 4))
    table.max_fields = 9  # for the streams added from now on
    c = _stream(4)
    table.add(c)
    assert (b.max_fields, c.max_fields) == (5, 9) and c._settings is not b._settings


def test_a_stream_of_no_table_has_the_defaults_and_an_interner_of_its_own() -> None:
    a, b = _stream(2), _stream(3)
    assert (a.max_fields, a.max_map_entries) == (MAX_FIELDS_PER_IMAGE, MAX_MAP_ENTRIES)
    assert a._settings is None  # nothing made until it is needed
    assert isinstance(a.interner, Interner) and a.interner is not b.interner
    own = Interner()
    a.interner = own
    assert a.interner is own and a.max_fields == MAX_FIELDS_PER_IMAGE
    a.max_map_entries = 3
    assert a.interner is own and a.max_map_entries == 3 and b.max_map_entries == MAX_MAP_ENTRIES


def test_ripple_rules_stay_the_streams_own() -> None:
    table = StreamTable()
    a = _stream(2)
    table.add(a)
    assert a.ripples is BUILTIN_RIPPLES
    table.use_ripples(BUILTIN_RIPPLES)
    assert a.ripples is table.ripples
