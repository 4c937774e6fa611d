"""ItemStream phases and caches, MapImage, StreamTable id allocation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ertcloud.protocol import core
from ertcloud.protocol.messages import Key, Refresh, Request, State, Status, Update
from ertcloud.protocol.streams import (
    RIPPLES,
    TRANSITIONS,
    ItemStream,
    MapImage,
    Phase,
    StreamTable,
)

OK = State(stream="Open", data="Ok")
SUSPECT = State(stream="Open", data="Suspect")
FINAL_STATES = ["NonStreaming", "Closed", "ClosedRecover", "Redirected"]


def stream(sid: int = 2, **kw: object) -> ItemStream:
    req = Request(id=sid, key=Key(name="TRI.N"), **kw)  # type: ignore[arg-type]
    return ItemStream(sid, req, "TRI.N")


# -- ItemStream ------------------------------------------------------------------------------


def test_new_stream_is_pending() -> None:
    s = stream()
    assert s.phase is Phase.PENDING
    assert s.is_open
    assert not s.data_ok
    assert s.streaming
    assert not stream(streaming=False).streaming


@pytest.mark.both_cores
def test_complete_refresh_opens_and_replaces_image() -> None:
    s = stream()
    s.fields = {"OLD": 1}
    s.apply_refresh(
        Refresh(
            id=2,
            state=OK,
            fields={"BID": 1, "ASK": 2},
            seq_number=5,
            key=Key(name="TRI.N", service="ELEKTRON_DD"),
        )
    )
    assert s.phase is Phase.OPEN
    assert s.fields == {"BID": 1, "ASK": 2}
    assert s.seq_number == 5
    assert s.service == "ELEKTRON_DD"
    assert s.data_ok
    assert s.refreshes == 1


@pytest.mark.both_cores
def test_explicit_clear_cache_true_replaces_image() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1}))
    s.apply_refresh(Refresh(id=2, state=OK, clear_cache=True, fields={"B": 2}))
    assert s.fields == {"B": 2}


@pytest.mark.both_cores
def test_clear_cache_false_merges() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1, "B": 1}))
    s.apply_refresh(Refresh(id=2, state=OK, clear_cache=False, fields={"B": 2, "C": 3}))
    assert s.fields == {"A": 1, "B": 2, "C": 3}


@pytest.mark.both_cores
def test_unsolicited_refresh_replaces_cache() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1, "B": 1}))
    s.apply_status(Status(id=2, state=SUSPECT))
    assert not s.data_ok
    s.apply_refresh(Refresh(id=2, state=OK, solicited=False, fields={"A": 5}))
    assert s.fields == {"A": 5}
    assert s.data_ok
    assert s.phase is Phase.OPEN


@pytest.mark.both_cores
def test_multi_part_refresh_accumulates_until_complete() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, complete=False, part_number=0, fields={"A": 1}))
    assert s.phase is Phase.REFRESHING
    s.apply_update(Update(id=2, fields={"U": 9}))
    assert s.phase is Phase.REFRESHING
    s.apply_status(Status(id=2, state=OK))
    assert s.phase is Phase.REFRESHING
    s.apply_refresh(
        Refresh(id=2, state=OK, complete=False, part_number=1, clear_cache=False, fields={"B": 2})
    )
    assert s.phase is Phase.REFRESHING
    s.apply_refresh(Refresh(id=2, state=OK, part_number=2, clear_cache=False, fields={"C": 3}))
    assert s.phase is Phase.OPEN
    assert s.fields == {"A": 1, "U": 9, "B": 2, "C": 3}
    assert s.refreshes == 3


@pytest.mark.both_cores
def test_incomplete_refresh_on_open_stream_goes_back_to_refreshing() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1}))
    s.apply_refresh(Refresh(id=2, state=OK, complete=False, fields={"B": 1}))
    assert s.phase is Phase.REFRESHING
    assert s.fields == {"B": 1}


@pytest.mark.both_cores
def test_updates_merge_fields_and_count() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"BID": 1, "ASK": 2}))
    s.apply_update(Update(id=2, fields={"BID": 3}, seq_number=10))
    s.apply_update(Update(id=2, fields={"ASK": None}))
    assert s.fields == {"BID": 3, "ASK": None}
    assert s.seq_number == 10
    assert s.updates == 2
    assert s.phase is Phase.OPEN


@pytest.mark.both_cores
def test_update_ripples_trade_price_unless_do_not_ripple() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"TRDPRC_1": 3, "TRDPRC_2": 2, "TRDPRC_3": 1}))
    s.apply_update(Update(id=2, fields={"TRDPRC_1": 4}))
    assert s.fields == {"TRDPRC_1": 4, "TRDPRC_2": 3, "TRDPRC_3": 2}
    s.apply_update(Update(id=2, fields={"TRDPRC_1": 5}, do_not_ripple=True))
    assert s.fields == {"TRDPRC_1": 5, "TRDPRC_2": 3, "TRDPRC_3": 2}


@pytest.mark.both_cores
def test_ripple_only_touches_fields_in_the_image() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"TRDPRC_1": 3, "BID": 1}))
    s.apply_update(Update(id=2, fields={"TRDPRC_1": 4, "BID": 2}))
    assert s.fields == {"TRDPRC_1": 4, "BID": 2}


CHAIN = ["BID", "BID_1", "BID_2", "ASK", "ASK_1", "ASK_2", *(f"TRDPRC_{i}" for i in range(1, 6))]


def _reference_ripple(image: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """The cache rule, written plainly: before applying ``changed``, each changed ripple
    field shifts its chain by one (farthest first), into fields the image holds."""
    out = dict(image)
    for name in sorted(changed.keys() & RIPPLES.keys()):
        chain = (name, *RIPPLES[name])
        for dst, src in zip(chain[:0:-1], chain[-2::-1], strict=True):
            if dst in out:
                out[dst] = out.get(src)
    out.update(changed)
    return out


@pytest.mark.both_cores
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*CHAIN, "ACVOL_1"]), unique=True),
    st.lists(
        st.dictionaries(st.sampled_from([*CHAIN, "ACVOL_1"]), st.integers(0, 99), max_size=4),
        max_size=6,
    ),
)
def test_ripple_matches_the_plain_rule_for_any_image_shape(
    image_fields: list[str], updates: list[dict[str, int]]
) -> None:
    # Whole chains take the fast path, partial ones (views) the checked one: same result.
    # (Updates touch at most one field of a chain each, as real ones do.)
    s = stream()
    image = {n: i for i, n in enumerate(image_fields)}
    s.apply_refresh(Refresh(id=2, state=OK, fields=image))
    expected = dict(image)
    for changed in updates:
        for chain in (CHAIN[0:3], CHAIN[3:6], CHAIN[6:]):
            if len(changed.keys() & set(chain)) > 1:
                for extra in sorted(changed.keys() & set(chain))[1:]:
                    del changed[extra]
        s.apply_update(Update(id=2, fields=dict(changed)))
        expected = _reference_ripple(expected, changed)
        assert s.fields == expected


@pytest.mark.both_cores
@pytest.mark.parametrize("compact", [False, True], ids=["field-image", "compact-image"])
def test_images_share_repeated_code_date_and_time_values(compact: bool) -> None:
    if compact and core.compiled_image is None:
        pytest.skip("the compiled core is not built: no compact images")
    a, b = stream(), ItemStream(3, Request(id=3), "Y")
    c = ItemStream(4, Request(id=4), "Z")
    table = StreamTable()
    table.interner.compact = compact
    for s in (a, b, c):
        table.add(s)
        fields = {"CURRENCY": "".join(["U", "SD"]), "QUOTE_DATE": "-".join(["2026", "12", "04"])}
        fields["DSPLY_NAME"] = "".join(["ACME ", "CORP"])
        state = State("Open", "Ok", text="All is well")
        s.apply_refresh(Refresh(id=s.id, state=state, fields=fields))
    assert a.fields == b.fields == c.fields
    if compact:
        # every short string has one copy (a fixed table, entries replaced); the first
        # image to give a string may keep it as bytes of its own, read as an equal str
        assert b.fields["DSPLY_NAME"] is c.fields["DSPLY_NAME"]
        # a date and a code of 4 characters are packed into the image's 4 bytes instead,
        # each read as a new equal str
        for name, value in (("QUOTE_DATE", "2026-12-04"), ("CURRENCY", "USD")):
            assert b.fields[name] is not c.fields[name]
            assert type(b.fields[name]) is str and b.fields[name] == value
    else:  # codes, dates and times are shared, names are per item
        assert a.fields["CURRENCY"] is b.fields["CURRENCY"]
        assert a.fields["QUOTE_DATE"] is b.fields["QUOTE_DATE"]
        assert a.fields["DSPLY_NAME"] is not b.fields["DSPLY_NAME"]
    assert a.state is b.state and a.state == State("Open", "Ok", text="All is well")
    with pytest.raises(AttributeError):  # shared, so immutable
        a.state.text = "changed"  # type: ignore[misc]


def test_update_before_refresh_keeps_pending() -> None:
    s = stream()
    s.apply_update(Update(id=2, fields={"A": 1}))
    assert s.phase is Phase.PENDING
    assert s.fields == {"A": 1}


@pytest.mark.both_cores
def test_do_not_cache_update_is_not_cached() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1}))
    s.apply_update(Update(id=2, do_not_cache=True, fields={"A": 2}))
    assert s.fields == {"A": 1}


def test_do_not_cache_map_update_is_not_cached() -> None:
    s = stream()
    s.apply_refresh(
        Refresh(
            id=2, state=OK, map={"Entries": [{"Action": "Add", "Key": "k", "Fields": {"P": 1}}]}
        )
    )
    s.apply_update(
        Update(id=2, do_not_cache=True, map={"Entries": [{"Action": "Delete", "Key": "k"}]})
    )
    assert s.map is not None
    assert s.map.entries == {"k": {"P": 1}}


@pytest.mark.both_cores
def test_status_keeps_image_unless_clear_cache() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK, fields={"A": 1}))
    s.apply_status(Status(id=2, state=SUSPECT))
    assert s.fields == {"A": 1}
    assert s.phase is Phase.OPEN
    assert s.state == SUSPECT
    s.apply_status(Status(id=2, state=SUSPECT, clear_cache=True))
    assert s.fields == {}
    assert s.map is None


def test_status_without_state_keeps_state() -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=OK))
    s.apply_status(Status(id=2))
    assert s.state == OK
    assert s.phase is Phase.OPEN


@pytest.mark.parametrize("final", FINAL_STATES)
def test_final_status_closes_from_every_live_phase(final: str) -> None:
    for setup in ([], [Refresh(id=2, state=OK)], [Refresh(id=2, state=OK, complete=False)]):
        s = stream()
        for m in setup:
            s.apply_refresh(m)
        s.apply_status(Status(id=2, state=State(stream=final, data="Suspect")))
        assert s.phase is Phase.CLOSED
        assert not s.is_open


@pytest.mark.both_cores
@pytest.mark.parametrize("final", FINAL_STATES)
def test_final_complete_refresh_closes(final: str) -> None:
    s = stream()
    s.apply_refresh(Refresh(id=2, state=State(stream=final, data="Ok"), fields={"A": 1}))
    assert s.phase is Phase.CLOSED
    assert s.fields == {"A": 1}


@pytest.mark.both_cores
def test_multi_part_snapshot_closes_only_on_last_part() -> None:
    s = stream(streaming=False)
    ns = State(stream="NonStreaming", data="Ok")
    s.apply_refresh(Refresh(id=2, state=ns, complete=False, fields={"A": 1}))
    assert s.phase is Phase.REFRESHING
    s.apply_refresh(Refresh(id=2, state=ns, clear_cache=False, fields={"B": 1}))
    assert s.phase is Phase.CLOSED
    assert s.fields == {"A": 1, "B": 1}


def test_close_and_messages_after_close() -> None:
    s = stream()
    s.mark_closed()
    assert s.phase is Phase.CLOSED
    s.mark_closed()  # closing twice is fine
    assert s.phase is Phase.CLOSED
    with pytest.raises(KeyError):
        s.apply_update(Update(id=2, fields={"A": 1}))


_EVENTS = {
    "refresh": lambda s: s.apply_refresh(Refresh(id=2, state=OK)),
    "part": lambda s: s.apply_refresh(Refresh(id=2, state=OK, complete=False)),
    "update": lambda s: s.apply_update(Update(id=2, fields={"A": 1})),
    "status": lambda s: s.apply_status(Status(id=2, state=SUSPECT)),
    "final": lambda s: s.apply_status(Status(id=2, state=State(stream="Closed", data="Ok"))),
    "close": lambda s: s.mark_closed(),
}


@pytest.mark.parametrize(("start", "what"), sorted(TRANSITIONS, key=lambda k: (k[0].value, k[1])))
def test_every_transition_is_reachable_through_the_api(start: Phase, what: str) -> None:
    s = stream()
    s.phase = start
    _EVENTS[what](s)
    assert s.phase is TRANSITIONS[(start, what)]


def test_closed_is_terminal_in_the_table() -> None:
    assert {w for (p, w) in TRANSITIONS if p is Phase.CLOSED} == {"close"}
    for p in (Phase.PENDING, Phase.REFRESHING, Phase.OPEN):
        for w in ("refresh", "part", "update", "status", "final", "close"):
            assert (p, w) in TRANSITIONS


# -- MapImage --------------------------------------------------------------------------------


def test_map_add_update_delete_in_order() -> None:
    m = MapImage()
    m.apply(
        {
            "KeyType": "Buffer",
            "Summary": {"Fields": {"CURRENCY": "USD"}},
            "Entries": [
                {"Action": "Add", "Key": "QQ==", "Fields": {"ORDER_PRC": 1, "ACC_SIZE": 10}},
                {"Action": "Add", "Key": "Qg==", "Fields": {"ORDER_PRC": 2}},
            ],
        }
    )
    m.apply(
        {
            "Summary": {"Fields": {"TIMACT_MS": 5}},
            "Entries": [
                {"Action": "Update", "Key": "QQ==", "Fields": {"ACC_SIZE": 7}},
                {"Action": "Delete", "Key": "Qg=="},
                {"Action": "Add", "Key": "Qw==", "Fields": {"ORDER_PRC": 3}},
                {"Action": "Delete", "Key": "Qw=="},  # same frame: order matters
                {"Action": "Delete", "Key": "missing"},  # harmless
            ],
        }
    )
    assert m.summary == {"CURRENCY": "USD", "TIMACT_MS": 5}
    assert m.entries == {"QQ==": {"ORDER_PRC": 1, "ACC_SIZE": 7}}


def test_map_add_replaces_existing_entry() -> None:
    m = MapImage()
    m.apply({"Entries": [{"Action": "Add", "Key": "k", "Fields": {"A": 1, "B": 1}}]})
    m.apply({"Entries": [{"Action": "Add", "Key": "k", "Fields": {"A": 2}}]})
    assert m.entries == {"k": {"A": 2}}


def test_map_update_of_unknown_key_creates_it_and_elements_payload() -> None:
    m = MapImage()
    m.apply(
        {
            "Entries": [
                {"Action": "Update", "Key": "k", "Elements": {"E": 1}},
                {"Action": "Add", "Key": "s"},
                "junk",
                {"Action": "Bogus", "Key": "z", "Fields": {"A": 1}},
            ]
        }
    )
    assert m.entries == {"k": {"E": 1}, "s": {}}


def test_map_unhashable_keys_are_normalised() -> None:
    m = MapImage()
    key = {"Type": "Int", "Data": [1, 2]}
    m.apply({"Entries": [{"Action": "Add", "Key": key, "Fields": {"A": 1}}]})
    assert m.entries == {repr(key): {"A": 1}}
    m.apply({"Entries": [{"Action": "Delete", "Key": dict(key)}]})
    assert m.entries == {}


def test_map_images_on_stream_respect_clear_cache() -> None:
    s = stream()
    add = {"Entries": [{"Action": "Add", "Key": "a", "Fields": {"P": 1}}]}
    s.apply_refresh(
        Refresh(id=2, state=OK, complete=False, map={"Summary": {"Fields": {"S": 1}}, **add})
    )
    s.apply_update(
        Update(id=2, map={"Entries": [{"Action": "Add", "Key": "u", "Fields": {"P": 9}}]})
    )
    s.apply_refresh(
        Refresh(
            id=2,
            state=OK,
            clear_cache=False,
            map={"Entries": [{"Action": "Add", "Key": "b", "Fields": {"P": 2}}]},
        )
    )
    assert s.phase is Phase.OPEN
    assert s.map is not None
    assert s.map.summary == {"S": 1}
    assert set(s.map.entries) == {"a", "u", "b"}
    s.apply_refresh(Refresh(id=2, state=OK, map=add))
    assert s.map.entries == {"a": {"P": 1}}
    assert s.map.summary == {}


map_actions = st.lists(
    st.tuples(
        st.sampled_from(["Add", "Update", "Delete"]),
        st.sampled_from("abcd"),
        st.dictionaries(st.sampled_from("XYZ"), st.integers(0, 9), max_size=2),
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(map_actions, max_size=4))
def test_map_image_matches_model(batches: list[list[tuple[str, str, dict[str, int]]]]) -> None:
    m = MapImage()
    model: dict[str, dict[str, int]] = {}
    for batch in batches:
        entries = []
        for action, key, data in batch:
            e: dict[str, object] = {"Action": action, "Key": key}
            if action != "Delete":
                e["Fields"] = data
            entries.append(e)
            if action == "Delete":
                model.pop(key, None)
            elif action == "Add":
                model[key] = dict(data)
            else:
                model.setdefault(key, {}).update(data)
        m.apply({"Entries": entries})
    assert m.entries == model


# -- StreamTable -----------------------------------------------------------------------------


def test_allocate_skips_reserved_login_id() -> None:
    t = StreamTable(first_id=1, reserved=frozenset({1}))
    assert t.allocate() == 2
    assert t.allocate() == 3


def test_default_table_starts_at_two() -> None:
    t = StreamTable()
    assert t.allocate() == 2


def test_batch_allocation_reserves_a_contiguous_range() -> None:
    t = StreamTable()
    first = t.allocate(4)  # batch id + 3 members
    assert first == 2
    assert t.allocate() == 6


def test_allocate_skips_ids_in_use() -> None:
    t = StreamTable(first_id=2)
    t.add(stream(5))
    t.add_batch(7, [])
    t.add(stream(9))
    assert t.allocate(3) == 2  # 2,3,4 free
    assert t.allocate(1) == 6  # 5 is in use
    assert t.allocate(1) == 8  # 7 is a pending batch id
    assert t.allocate(2) == 10  # 9 is in use


def test_allocate_range_jumps_over_used_id() -> None:
    t = StreamTable(first_id=2)
    t.add(stream(4))
    assert t.allocate(3) == 5


def test_allocate_wraps_before_the_int32_limit() -> None:
    near = 2**31 - 1 - 1_000_000
    t = StreamTable(first_id=near)
    assert t.allocate() == near
    assert t.allocate() == 2


def test_add_get_remove_iterate() -> None:
    t = StreamTable()
    a, b = stream(2), stream(3)
    t.add(a)
    t.add(b)
    assert len(t) == 2
    assert 2 in t and 3 in t and 4 not in t
    assert t.get(3) is b
    assert list(t) == [a, b]
    # iteration is over a snapshot: removing during iteration is safe
    for s in t:
        t.remove(s.id)
    assert len(t) == 0
    assert t.remove(2) is None
    assert t.get(2) is None


def test_batches_pop_and_clear() -> None:
    t = StreamTable()
    t.add_batch(10, [11, 12])
    assert t.is_batch(10)
    assert t.pop_batch(10) == [11, 12]
    assert t.pop_batch(10) is None
    t.add_batch(20, [21])
    t.clear_batches()
    assert not t.is_batch(20)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alloc", "free"]), st.integers(1, 5)), max_size=30))
def test_allocated_ranges_never_overlap_live_ids(ops: list[tuple[str, int]]) -> None:
    t = StreamTable()
    live: set[int] = {1}
    ranges: list[list[int]] = []
    for op, n in ops:
        if op == "alloc":
            first = t.allocate(n)
            ids = list(range(first, first + n))
            assert not live & set(ids)
            for i in ids:
                t.add(stream(i))
            live |= set(ids)
            ranges.append(ids)
        elif ranges:
            ids = ranges.pop(n % len(ranges))
            for i in ids:
                t.remove(i)
            live -= set(ids)


def test_each_stream_table_keeps_its_own_shared_values() -> None:
    """The interning tables are state of one StreamTable, not of the module (a compact
    image shares its short strings through the compiled core's one fixed table)."""
    one, two = StreamTable(), StreamTable()
    one.interner.compact = two.interner.compact = False
    a, b = stream(), ItemStream(2, Request(id=2), "Y")
    one.add(a)
    two.add(b)
    for s in (a, b):
        fields = {"CURRENCY": "".join(["U", "SD"])}
        s.apply_refresh(Refresh(id=2, state=State("Open", "Ok", text="x"), fields=fields))
    assert a.interner is one.interner and b.interner is two.interner
    assert a.fields["CURRENCY"] == b.fields["CURRENCY"]
    assert a.fields["CURRENCY"] is not b.fields["CURRENCY"]
    assert a.state == b.state and a.state is not b.state
