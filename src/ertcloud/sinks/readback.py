"""Reading a recording file back without touching it: JSON lines, CSV, DuckDB, Parquet.

The kind is told by the file's content, not its name, so a file of the wrong kind is one
clear error. Nothing is created: a missing path is an error, and a DuckDB file is opened
read-only (or, while a recorder holds it open, a copy of it is read).
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from pathlib import Path

from ..exceptions import RecordingError, one_line
from .rows import COLUMNS, Row

__all__ = ["KINDS", "RecordingError", "detect_kind", "read_recording"]

#: The kinds of recording file this module reads, with what a user calls them.
KINDS = {"jsonl": "JSON lines", "csv": "CSV", "duckdb": "DuckDB", "parquet": "Parquet"}

_PARQUET_MAGIC = b"PAR1"
_DUCKDB_MAGIC = b"DUCK"  # at offset 8 of every DuckDB database file


def _head(path: Path, n: int = 4096) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(n)
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None


def detect_kind(path: str | Path) -> str:
    """``jsonl``, ``csv``, ``duckdb`` or ``parquet``, from what the file (or folder of
    Parquet parts) holds; :class:`RecordingError` when it is none of them."""
    p = Path(path)
    if p.is_dir():
        if any(p.glob("part-*.parquet")) or any(p.glob("*.parquet")):
            return "parquet"
        raise RecordingError(f"{path} is a folder with no Parquet parts (part-*.parquet)")
    if not p.exists():
        raise RecordingError(f"no such recording: {path}")
    head = _head(p)
    if not head:
        raise RecordingError(f"{path} is empty")
    if head[:4] == _PARQUET_MAGIC:
        return "parquet"
    if head[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a character at the end of the 4 KB head is not binary.
        if exc.start < len(head) - 4:
            raise RecordingError(
                f"{path} is not a recording (binary data, neither DuckDB nor Parquet)"
            ) from None
        text = head[: exc.start].decode("utf-8")
    first = text.lstrip().split("\n", 1)[0].strip()
    if first.startswith("{"):
        return "jsonl"
    if first.split(",")[:3] == ["seq", "ts", "kind"]:
        return "csv"
    raise RecordingError(
        f"{path} is not an ertcloud recording (expected JSON lines, CSV, DuckDB or Parquet)"
    )


def _jsonl_rows(p: Path) -> list[Row]:
    out = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(Row.from_values({k: d.get(k) for k in COLUMNS}))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if not line.endswith("\n"):
                    break  # a recorder mid-write: the last line is not finished yet
                raise RecordingError(f"{p}:{n}: not an ertcloud JSON-lines record: {exc}") from None
    return out


def _csv_rows(p: Path) -> list[Row]:
    out = []
    with p.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise RecordingError(f"{p} is not an ertcloud CSV recording (bad header)")
        for rec in reader:
            try:
                out.append(
                    Row.from_values({k: (rec[k] if rec[k] != "" else None) for k in COLUMNS})
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise RecordingError(
                    f"{p}:{reader.line_num}: not an ertcloud CSV record: {exc}"
                ) from None
    return out


def _parquet_rows(p: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise RecordingError(
            "Parquet recordings need pyarrow: pip install 'ertcloud[parquet]'"
        ) from None
    parts = sorted(p.glob("part-*.parquet")) or sorted(p.glob("*.parquet")) if p.is_dir() else [p]
    out: list[Row] = []
    for part in parts:
        try:
            recs = pq.read_table(part).to_pylist()
            out.extend(Row.from_values({k: r[k] for k in COLUMNS}) for r in recs)
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise RecordingError(
                f"{part}: not an ertcloud Parquet recording: {one_line(exc)}"
            ) from None
    return out


def _duckdb_select(con: object) -> list[Row]:
    cur = con.execute(f"SELECT {', '.join(COLUMNS)} FROM messages ORDER BY seq")  # type: ignore[attr-defined]
    return [Row.from_values(dict(zip(COLUMNS, rec, strict=True))) for rec in cur.fetchall()]


def _duckdb_rows(p: Path) -> list[Row]:
    try:
        import duckdb
    except ImportError:
        raise RecordingError(
            "DuckDB recordings need duckdb: pip install 'ertcloud[duckdb]'"
        ) from None
    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error:
        # Most often a recorder holds the file open for writing (DuckDB allows one writer
        # and no reader beside it): read a copy, with its write-ahead log, instead.
        return _duckdb_copy_rows(p)
    try:
        return _duckdb_select(con)
    except duckdb.Error as exc:
        raise RecordingError(f"{p}: not an ertcloud DuckDB recording: {one_line(exc)}") from None
    finally:
        con.close()


def _duckdb_copy_rows(p: Path) -> list[Row]:
    import duckdb

    error: Exception = RecordingError("no copy could be read")
    with tempfile.TemporaryDirectory(prefix="ertcloud-load-") as tmp:
        for _ in range(3):  # a copy taken mid-checkpoint may be torn: take another
            copy = Path(tmp) / p.name
            shutil.copyfile(p, copy)
            wal = p.with_name(p.name + ".wal")
            copy_wal = copy.with_name(copy.name + ".wal")
            copy_wal.unlink(missing_ok=True)
            if wal.exists():
                try:
                    shutil.copyfile(wal, copy_wal)
                except FileNotFoundError:
                    pass  # checkpointed meanwhile: the file has it all
            try:
                con = duckdb.connect(str(copy))  # the copy is ours: it may replay its log
                try:
                    return _duckdb_select(con)
                finally:
                    con.close()
            except duckdb.Error as exc:
                error = exc
    raise RecordingError(f"{p}: not a readable ertcloud DuckDB recording: {one_line(error)}")


_READERS = {
    "jsonl": _jsonl_rows,
    "csv": _csv_rows,
    "duckdb": _duckdb_rows,
    "parquet": _parquet_rows,
}


def read_recording(path: str | Path, expect: str | None = None) -> list[Row]:
    """Every row of a recording file, in ``seq`` order. ``expect`` (a key of :data:`KINDS`)
    makes a file of another kind an error; otherwise the kind is detected."""
    p = Path(path)
    kind = detect_kind(p)
    if expect is not None and kind != expect:
        raise RecordingError(
            f"{path} is a {KINDS[kind]} recording, not {KINDS[expect]}: "
            f"use {kind}:{path} (or just the path)"
        )
    try:
        rows = _READERS[kind](p)
    except UnicodeDecodeError:
        raise RecordingError(f"{path} is not a {KINDS[kind]} recording (not UTF-8 text)") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows.sort(key=lambda r: r.seq)
    return rows
