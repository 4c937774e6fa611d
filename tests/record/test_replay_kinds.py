"""``ertcloud sim --replay`` serves every kind of recording ``record`` writes (JSON lines,
DuckDB, Parquet; told by content), as the same messages in the same order, with
``--speed max``, ``--from/--to`` and ``--rics``; a file of another kind is one line."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ertcloud.sim.replay import Recording
from ertcloud.sinks import RecordingError
from ertcloud.sinks.readback import read_recording

from .cli import record_until, run_cli

RICS = ("TRI.N", "EUR=", "IBM.N")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One recording of the embedded simulator, written to three sinks at once."""
    d = tmp_path_factory.mktemp("rec")
    paths = {"jsonl": d / "ticks.jsonl", "duckdb": d / "ticks.db", "parquet": d / "ticks"}
    r = run_cli(
        "record", *RICS, "--duration", "3",
        *(arg for k, p in paths.items() for arg in ("--to", f"{k}:{p}")),
        timeout=90,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return paths


def _stripped(path: Path) -> list[tuple[str, str]]:
    """(ric, message without its ID) in seq order."""
    out = []
    for row in read_recording(path):
        raw = json.loads(row.raw)
        del raw["ID"]
        out.append((row.ric, json.dumps(raw, sort_keys=True)))
    return out


def _replay_and_record(
    sim_process: Any, tmp_path: Path, rows: int, *sim_args: str
) -> list[tuple[str, str]]:
    """Record the replaying simulator until it has sent ``rows`` messages."""
    sim = sim_process(*sim_args)
    out = tmp_path / "again.jsonl"
    record_until(sim, out, RICS, rows, 60)
    return _stripped(out)


@pytest.mark.parametrize(
    ("kind", "speed"), [("duckdb", "max"), ("parquet", "max"), ("jsonl", "max"), ("duckdb", "20")]
)
def test_every_kind_replays_as_the_same_messages_in_order(
    recorded: dict[str, Path], sim_process: Any, tmp_path: Path, kind: str, speed: str
) -> None:
    original = _stripped(recorded["jsonl"])
    assert sum('"Type": "Update"' in m for _, m in original) >= 6
    again = _replay_and_record(
        sim_process, tmp_path, len(original), "--replay", str(recorded[kind]), "--speed", speed
    )
    assert again == original


def test_rics_and_a_time_window(
    recorded: dict[str, Path], sim_process: Any, tmp_path: Path
) -> None:
    rows = read_recording(recorded["duckdb"])
    tri = [r for r in rows if r.ric == "TRI.N"]
    k = len(tri) // 2
    # between two messages, so that the microseconds of an ISO time do not matter
    start, end = (tri[k - 1].ts + tri[k].ts) / 2, (tri[-3].ts + tri[-2].ts) / 2
    rec = Recording.load(recorded["parquet"], start=start, end=end, rics=["TRI.N"])
    assert list(rec.items) == [("MarketPrice", "TRI.N")]
    msgs = rec.items[("MarketPrice", "TRI.N")].messages
    # it begins with the image TRI.N had at `start`: the Refresh with every earlier change
    image: dict[str, Any] = {}
    for r in tri:
        if r.ts < start and r.fields:
            image.update(r.fields)
    first = msgs[0][2]
    assert type(first).__name__ == "Refresh" and first.fields == image
    assert [s for _, s, _ in msgs[1:]] == [r.seq for r in tri if start <= r.ts <= end]

    # and from the command line, with ISO times
    iso = [
        datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")
        for t in (start, end)
    ]
    again = _replay_and_record(
        sim_process, tmp_path, len(msgs) + 2,  # and a Status for each item not replayed
        "--replay", str(recorded["jsonl"]), "--rics", "TRI.N", "--speed", "max",
        "--from", iso[0], "--to", iso[1],
    )  # fmt: skip
    assert {ric for ric, _ in again} == set(RICS)
    assert len([m for ric, m in again if ric == "TRI.N"]) == len(msgs)
    for ric in ("EUR=", "IBM.N"):  # not replayed: answered as an unknown item
        ((_, status),) = [x for x in again if x[0] == ric]
        assert '"NotFound"' in status


def test_files_of_the_wrong_kind_are_one_line(tmp_path: Path, recorded: dict[str, Path]) -> None:
    picture = tmp_path / "ticks.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("buy low, sell high\n")
    cases: list[tuple[tuple[str, ...], str]] = [
        (("--replay", str(picture)), "not a recording"),
        (("--replay", str(empty_dir)), "no Parquet parts"),
        (("--replay", str(notes)), "not an ertcloud recording"),
        (("--replay", str(recorded["duckdb"]), "--speed", "fast"), "--speed"),
        (("--replay", str(recorded["duckdb"]), "--from", "yesterday"), "not a time"),
        (("--replay", str(recorded["duckdb"]), "--rics", "NOPE.X"), "NOPE.X"),
        (("--from", "2026-01-01T00:00:00Z",), "go with --replay"),
    ]  # fmt: skip
    for args, says in cases:
        r = run_cli("sim", "--port", "0", *args, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("ertcloud: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert says in r.stderr, (args, r.stderr)
    with pytest.raises(RecordingError, match="not a recording"):
        Recording.load(picture)
