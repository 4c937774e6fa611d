"""``ertcloud sim --replay``: a recording served back is indistinguishable from live.

Records the simulator for ``ERTCLOUD_REPLAY_SECONDS`` (3 s here; set it to 10 for the
long mode), serves the recording with a real ``ertcloud sim --replay`` process, records
that the same way, and compares the messages: identical bytes except the stream ``ID``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ertcloud.sinks import make_sink

from .cli import record_until, run_cli

SECONDS = float(os.environ.get("ERTCLOUD_REPLAY_SECONDS", "3"))
RICS = ("TRI.N", "EUR=", "IBM.N")


def _messages(path: Path) -> list[tuple[str, str, float]]:
    """(ric, the raw message without its ID, receive time) in seq order."""
    s = make_sink(f"jsonl:{path}")
    s.open()
    out = []
    for r in s.read_rows():
        raw = json.loads(r.raw)
        del raw["ID"]
        out.append((r.ric, json.dumps(raw, separators=(",", ":")), r.ts))
    s.close()
    return out


def _record_from(sim: Any, out: Path, seconds: float) -> None:
    r = run_cli(
        "record", *RICS, "--to", f"jsonl:{out}", "--duration", str(seconds),
        *sim.client_args("--tls", "off"),
        timeout=seconds + 60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def recorded() -> dict[str, Path]:
    """The live recording the module's tests replay, made once (by the first that needs it)."""
    return {}


def _live(recorded: dict[str, Path], sim_process: Any, tmp_path: Path) -> Path:
    """``SECONDS`` of the simulator at ``--rate 4``, recorded."""
    if "live" not in recorded:
        _record_from(sim_process("--rate", "4"), tmp_path / "live.jsonl", SECONDS)
        recorded["live"] = tmp_path / "live.jsonl"
    return recorded["live"]


def _per_item(msgs: list[tuple[str, str, float]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ric, raw, _ in msgs:
        out.setdefault(ric, []).append(raw)
    return out


def test_replay_gives_identical_payloads_in_order(
    tmp_path: Path, sim_process: Any, recorded: dict[str, Path]
) -> None:
    live, replayed = _live(recorded, sim_process, tmp_path), tmp_path / "replay.jsonl"
    original = _messages(live)
    assert sum(1 for m in original if '"Type":"Update"' in m[1]) >= 3 * SECONDS

    sim = sim_process("--replay", str(live))
    record_until(sim, replayed, RICS, len(original), SECONDS + 60)
    again = _messages(replayed)

    # every item: the recorded Refresh, then the recorded Updates, byte for byte, in order
    assert _per_item(again) == _per_item(original)
    assert sorted(m[1] for m in again) == sorted(m[1] for m in original)
    # and with the original spacing (loosely: a loaded machine only ever adds delay)
    span = original[-1][2] - original[0][2]
    replay_span = again[-1][2] - again[0][2]
    assert replay_span >= 0.6 * span


def test_replay_speed_and_unknown_items(
    tmp_path: Path, sim_process: Any, recorded: dict[str, Path]
) -> None:
    live, fast = _live(recorded, sim_process, tmp_path), tmp_path / "fast.jsonl"
    sim = sim_process("--replay", str(live), "--speed", "10")
    seconds = max(1.5, SECONDS / 2)  # five times what the recording takes at ten times
    r = run_cli(
        "record", "TRI.N", "NOT.THERE", "--to", f"jsonl:{fast}", "--duration", str(seconds),
        *sim.client_args("--tls", "off"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = _per_item(_messages(fast))
    # at ten times the speed the 3 s of TRI.N fit in well under 1.5 s
    assert got["TRI.N"] == _per_item(_messages(live))["TRI.N"]
    (status,) = got["NOT.THERE"]
    assert '"Code":"NotFound"' in status


def test_replay_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    for args in (
        ("sim", "--replay", str(tmp_path / "missing.jsonl")),
        ("sim", "--replay", str(bad)),
        ("sim", "--replay", str(bad), "--speed", "0"),
    ):
        r = run_cli(*args, timeout=30)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("ertcloud: error: ") and r.stderr.count("\n") == 1, r.stderr
