"""``load()`` only reads: no file appears for a typo, a recorder's open DuckDB file can be
read beside it, every failure is one clear line, and ``ts`` is a UTC timestamp."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sinks.sink_samples import sample_rows

from ertcloud.exceptions import ErtcloudError
from ertcloud.sinks import RecordingError, load, make_sink
from ertcloud.sinks.readback import detect_kind

from .cli import start_cli


def _fill(spec: str) -> None:
    s = make_sink(spec)
    s.open()
    s.write_batch(sample_rows())
    s.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, repr(text)
    return text


@pytest.mark.parametrize("spec", ["ticks.db", "duckdb:tcks.db", "ticks.jsonl", "csv:t.csv", "tix"])
def test_a_typo_creates_nothing_and_says_so(tmp_path: Path, spec: str) -> None:
    before = set(tmp_path.iterdir())
    with pytest.raises(RecordingError) as err:
        load(spec.replace("ticks", str(tmp_path / "ticks")).replace("tcks", str(tmp_path / "t")))
    assert "no such recording" in _one_line(err.value)
    assert set(tmp_path.iterdir()) == before


def test_a_damaged_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    _fill(str(damaged))
    data = bytearray(damaged.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # keep the header, wreck the rest
    damaged.write_bytes(bytes(data))
    text = tmp_path / "notes.db"
    text.write_text("shopping list\n")
    binary = tmp_path / "image.db"
    binary.write_bytes(bytes(range(256)) * 40)
    for path in (damaged, text, binary):
        with pytest.raises(ErtcloudError) as err:
            load(str(path))
        assert str(path) in _one_line(err.value)
        assert type(err.value).__module__.startswith("ertcloud")


def test_a_file_of_another_kind_is_named(tmp_path: Path) -> None:
    db = tmp_path / "ticks.db"
    _fill(str(db))
    assert detect_kind(db) == "duckdb"
    with pytest.raises(RecordingError) as err:
        load(f"jsonl:{db}")
    assert "DuckDB recording, not JSON lines" in _one_line(err.value)
    # a bare path is read as what it holds, whatever its name
    renamed = tmp_path / "ticks.data"
    db.rename(renamed)
    assert len(load(str(renamed))) == len(sample_rows())


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "duckdb"])
def test_ts_is_a_utc_timestamp(tmp_path: Path, kind: str) -> None:
    import pandas as pd
    import polars as pl

    path = tmp_path / {"jsonl": "r.jsonl", "csv": "r.csv", "parquet": "r", "duckdb": "r.db"}[kind]
    _fill(f"{kind}:{path}")
    rows = sample_rows()
    df = load(f"{kind}:{path}")
    assert isinstance(df["ts"].dtype, pd.DatetimeTZDtype) and str(df["ts"].dt.tz) == "UTC"
    assert df["ts"].iloc[0] == pd.Timestamp(rows[0].ts, unit="s", tz="UTC")
    quotes = load(f"{kind}:{path}", table="quotes", kind="polars")
    assert quotes.schema["ts"] == pl.Datetime("us", "UTC")
    first = quotes["ts"][0]
    assert abs(first.timestamp() - rows[0].ts) < 1e-5


def test_load_reads_a_database_the_recorder_holds_open(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    proc = start_cli("record", "TRI.N", "EUR=", "--to", f"duckdb:{db}")
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline and seen < 3:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.3)
            if not db.exists():
                continue
            df = load(str(db))  # the recorder holds the file: before, a DuckDB lock error
            seen = len(df)
        assert seen >= 3
        assert set(df["ric"]) <= {"TRI.N", "EUR="} and "Refresh" in set(df["kind"])
        assert proc.poll() is None  # the recorder was not disturbed
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0
    # and afterwards it reads the finished file directly, with at least as much in it
    assert len(load(str(db))) >= seen
