"""The compiled receive core against the pure one (the oracle): same frames, same events,
same images. Also: which core is active, and that the build made the compiled one."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from core_twins import FIELD_VALUES, RIPPLE_NAMES, Twins
from core_twins import ints as _ints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud.protocol import core

ROOT = Path(__file__).resolve().parents[2]
needs_compiled = pytest.mark.skipif(
    core.compiled_dispatch is None, reason="the compiled core is not built"
)

NAMES = [*RIPPLE_NAMES, "DSPLY_NAME", "ACVOL_1", "CRV", "NEW_FIELD", "ÉTÉ", "\u2028", "a\x00b"]
values = FIELD_VALUES

# Built once: a strategy built inside a composite is rebuilt (and its properties worked out
# again) at every draw, which cost more than the drawing; the values and their odds are the same.
_kinds = st.sampled_from(["Update"] * 8 + ["Refresh", "Status", "Ping", None, 6, "Odd"])
_booleans = st.booleans()
_fields = st.dictionaries(st.sampled_from(NAMES), values, max_size=6)
_seq_numbers = st.integers(min_value=-1, max_value=2**64)
_stream_states = st.sampled_from(["Open", "Closed"])


@functools.cache
def _ids(ids: tuple[int, ...]) -> st.SearchStrategy[int]:
    return st.sampled_from([*ids, 999, 1])


@functools.cache
def _message_lists(ids: tuple[int, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(messages(list(ids)), min_size=1, max_size=5)


@st.composite
def messages(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    sid = draw(_ids(tuple(ids)))
    kind = draw(_kinds)
    msg: dict[str, Any] = {"ID": sid}
    if kind is not None:
        msg["Type"] = kind
    if draw(_booleans):
        msg["Fields"] = draw(_fields)
    for flag in ("DoNotRipple", "DoNotCache", "ClearCache", "Complete"):
        if draw(_ints(0, 5)) == 0:
            msg[flag] = draw(_booleans)
    if draw(_booleans):
        msg["SeqNumber"] = draw(_seq_numbers)
    if kind in ("Refresh", "Status") and draw(_booleans):
        msg["State"] = {"Stream": draw(_stream_states), "Data": "Ok"}
    if draw(_ints(0, 7)) == 0:
        msg["Map"] = {"Entries": [{"Key": "1", "Action": "Add", "Fields": {"P": 1}}]}
    return msg


def mutate(data: bytes, how: int, at: int) -> bytes | str:
    if how == 1:
        return data[: at % (len(data) + 1)]  # truncated
    if how == 2 and data:
        i = at % len(data)
        return data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1 :]  # a flipped byte
    if how == 3:
        return data.decode("utf-8").encode("latin-1", "replace")  # Latin-1 binary frame
    if how == 4:
        return data.decode("utf-8")  # a TEXT frame given as str
    return data


@needs_compiled
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_both_cores_give_the_same_events_and_images(data: st.DataObject) -> None:
    twins = Twins()
    for _ in range(data.draw(_ints(1, 6))):
        msgs = data.draw(_message_lists(tuple(twins.ids)))
        raw = msgspec.json.encode(msgs if data.draw(_booleans) else msgs[0])
        frame = mutate(raw, data.draw(_ints(0, 6)), data.draw(_ints(0, 10_000)))
        twins.feed(frame)


@needs_compiled
@pytest.mark.parametrize(
    "frame",
    [
        b'[{"ID":2,"Type":"Update","Fields":{"TRDPRC_1":5,"TRDPRC_2":6,"TRDPRC_3":7}}]',
        b'{"ID":3,"Type":"Update","Fields":{"TRDPRC_1":5,"BID":1e400,"ASK_2":"\\u00e9"}}',
        b'{"ID":2,"Type":"Update","DoNotRipple":true,"Fields":{"BID":9}}',
        b'{"ID":5,"Type":"Update","Fields":{"A":1,"B":2,"C":3}}',  # past max_fields
        b'{"ID":6,"Type":"Update","Fields":{"CRV":{"Entries":[{"Index":0,"Action":"Clear"}]}}}',
        b'{"ID":7,"Type":"Update","Fields":{"BID":1}}',  # stream not open yet
        b'{"ID":2,"Type":"Update","Fields":{"BID":1}',  # truncated
        b'[{"ID":2,"Type":"Update","Fields":{"BID":1}},{"ID":2,"Fields":{}},{"ID":4}]',
        '{"ID":4,"Type":"Update","Fields":{"DSPLY_NAME":"\udcff"}}',  # lone surrogate
        b'{"ID":4,"Type":"Update","Fields":{"DSPLY_NAME":"caf\xe9"}}',  # Latin-1
    ],
)
def test_both_cores_agree_on_hostile_frames(frame: bytes | str) -> None:
    twins = Twins()
    twins.feed(frame)
    twins.feed(b'{"ID":2,"Type":"Update","SeqNumber":3,"Fields":{"TRDPRC_1":1,"BID":2}}')


def _version(**env: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "ertcloud", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_no_extensions_forces_the_pure_core() -> None:
    assert _version(ERTCLOUD_NO_EXTENSIONS="1").endswith("(core: pure)")
    expected = "compiled" if core.compiled_dispatch is not None else "pure"
    assert _version(ERTCLOUD_NO_EXTENSIONS="0").endswith(f"(core: {expected})")


def test_compiled_core_is_built() -> None:
    """Where a C compiler is present, the install (which fetches Cython) built the compiled core (a
    silent fallback to the pure one would hide a broken build)."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the pure core is the expected one")
    assert core.compiled_dispatch is not None


@pytest.mark.parametrize("name", ["pure", "compiled"])
def test_client_state_machine_on_each_core(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/protocol's state machine (a unittest case there, on the active core only)."""
    from hypothesis.stateful import run_state_machine_as_test

    from ertcloud.protocol.client import ClientProtocol

    path = ROOT / "tests" / "protocol" / "test_protocol_client_stateful.py"
    spec = importlib.util.spec_from_file_location("_client_machine_for_cores", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    machine = module.ClientMachine

    try:
        fn, fast = core.select(name)
    except ValueError:
        pytest.skip("the compiled core is not built")
    monkeypatch.setattr(ClientProtocol, "dispatch", staticmethod(fn))
    monkeypatch.setattr(ClientProtocol, "fast_decode", staticmethod(fast))
    run_state_machine_as_test(machine, settings=machine.TestCase.settings)
