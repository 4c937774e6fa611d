"""The stream table ripples by the dictionary in use, not by the builtin table: on both
receive cores (the ``receive_core`` fixture), and for a session given a dictionary file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ertcloud import Session
from ertcloud.protocol import core
from ertcloud.protocol.dictionary import Dictionary, builtin
from ertcloud.protocol.messages import Key, Refresh, Request, State, Update
from ertcloud.protocol.ripples import BUILTIN_RIPPLES, RippleRules, ripple_rules
from ertcloud.protocol.streams import ItemStream, StreamTable

OK = State(stream="Open", data="Ok")
IMAGE = {"BID": 1.0, "BID_1": 0.9, "BID_2": 0.8, "TRDPRC_1": 5.0, "TRDPRC_2": 4.0, "ASK": 2.0}


def other_dictionary() -> Dictionary:
    """The builtin table, except: BID ripples straight into BID_2, TRDPRC_1 does not ripple
    and ASK ripples into ASK_2 only (ASK_1 keeps its value)."""
    b = builtin()
    changed = {"BID": "BID_2", "TRDPRC_1": None, "ASK": "ASK_2"}
    fields = [
        replace(f, ripple_to=changed[f.name]) if f.name in changed else f for f in b.fields.values()
    ]
    return Dictionary(fields, b.enum_tables, version="9.9.9", source="test")


def run_core(name: str, rules: RippleRules, updates: list[dict[str, Any]]) -> dict[str, Any]:
    dispatch, _ = core.select(name)
    table = StreamTable()
    table.use_ripples(rules)
    s = ItemStream(2, Request(id=2, key=Key(name="TRI.N")), "TRI.N")
    table.add(s)
    s.apply_refresh(Refresh(id=2, state=OK, fields=dict(IMAGE)))
    for fields in updates:
        dispatch([Update(id=2, fields=fields)], table.lookup, lambda m, ev: None)
    return s.fields


def test_update_ripples_by_the_dictionary_in_use(receive_core: str) -> None:
    name = receive_core  # both cores (tests/protocol/conftest.py)
    rules = ripple_rules(other_dictionary())
    assert rules is not BUILTIN_RIPPLES
    assert rules.chains["BID"] == ("BID_2",) and "TRDPRC_1" not in rules.chains
    img = run_core(name, rules, [{"BID": 1.1, "TRDPRC_1": 5.5}])
    assert img["BID"] == 1.1 and img["BID_2"] == 1.0 and img["BID_1"] == 0.9
    assert img["TRDPRC_1"] == 5.5 and img["TRDPRC_2"] == 4.0
    # the builtin table, same updates: BID -> BID_1 -> BID_2, TRDPRC_1 -> TRDPRC_2
    img = run_core(name, BUILTIN_RIPPLES, [{"BID": 1.1, "TRDPRC_1": 5.5}])
    assert (img["BID_1"], img["BID_2"], img["TRDPRC_2"]) == (1.0, 0.9, 5.0)


def test_cores_agree_on_another_dictionary(receive_core: str) -> None:
    name = receive_core  # both cores (tests/protocol/conftest.py)
    rules = ripple_rules(other_dictionary())
    updates = [{"BID": 1.0 + i / 10, "ASK": 2.0 + i, "TRDPRC_1": float(i)} for i in range(5)]
    assert run_core(name, rules, updates) == run_core("pure", rules, updates)


@pytest.mark.both_cores
def test_open_streams_take_new_rules() -> None:
    table = StreamTable()
    s = ItemStream(2, Request(id=2, key=Key(name="TRI.N")), "TRI.N")
    table.add(s)
    s.apply_refresh(Refresh(id=2, state=OK, fields=dict(IMAGE)))
    assert "TRDPRC_1" in s.whole_chains or "BID" in s.whole_chains
    rules = ripple_rules(other_dictionary())
    table.use_ripples(rules)
    assert s.ripples is rules and "TRDPRC_1" not in s.whole_chains
    assert ripple_rules(builtin()) is BUILTIN_RIPPLES


def test_ripple_cycle_ends() -> None:
    rules = RippleRules({"A": "B", "B": "A", "C": "C"})
    assert rules.chains == {"A": ("B",), "B": ("A",)}


def test_chains_that_share_fields_are_grouped() -> None:
    rules = RippleRules({"A": "B", "B": "C", "D": "E", "X": "Y", "Z": "Y"})
    assert rules.groups["A"] == rules.groups["B"] != rules.groups["X"] == rules.groups["Z"]
    assert "D" not in rules.groups  # its chain shares nothing: any order gives one image


def test_cores_agree_on_overlapping_chains_of_another_dictionary(receive_core: str) -> None:
    rules = RippleRules({"BID": "ASK", "ASK": "BID_2", "TRDPRC_1": "BID_1"})
    updates = [{"ASK": 3.0 + i, "BID": 1.0 + i, "TRDPRC_1": float(i)} for i in range(4)]
    assert run_core(receive_core, rules, updates) == run_core("pure", rules, updates)


def test_session_with_a_dictionary_file_ripples_by_it(tmp_path: Path) -> None:
    path = tmp_path / "dictionary.json"
    path.write_text(other_dictionary().to_json(), encoding="utf-8")
    s = Session("ws://127.0.0.1:1/WebSocket", dictionary=path)
    rules = s.protocol.streams.ripples
    assert rules.chains["BID"] == ("BID_2",) and "TRDPRC_1" not in rules.chains
    assert (
        Session("ws://127.0.0.1:1/WebSocket", dictionary="builtin").protocol.streams.ripples
        is BUILTIN_RIPPLES
    )
