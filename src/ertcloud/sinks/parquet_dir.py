"""Parquet: a folder of part files (``part-<first seq>.parquet``), appended to by new parts.

A Parquet file cannot be appended to, so rows are buffered and written as a new part when
``rows_per_part`` rows are waiting or ``seconds_per_part`` have passed since the last part,
and always on close. Parts are written to a temporary name and renamed, so a reader (or a
crash) never sees half a file.

The messages are the part files of the folder itself; the tables the database sinks derive
(``quotes``, ``trades``, ``book``, ``news``, ``bars``) get part files of the same name in
a subfolder each (``quotes/part-<first seq>.parquet``), with the same typed columns
(DATE, TIME, BIGINT and DOUBLE where the field's dictionary type says so).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from .rows import COLUMNS, Row
from .tables import arrow_schema, split

__all__ = ["ParquetSink"]


def _table(name: str, values: list[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    schema = arrow_schema(name)
    cols = list(zip(*values, strict=True)) if values else [() for _ in schema]
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema=schema
    )


class ParquetSink:
    """Writes rows to Parquet part files in a folder (``parquet:DIR``)."""

    def __init__(
        self, path: str | Path, *, rows_per_part: int = 100_000, seconds_per_part: float = 60.0
    ) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError(
                "the parquet sink needs pyarrow: pip install 'ertcloud[parquet]'"
            ) from None
        self.path = Path(path)
        self.name = f"parquet:{path}"
        self.rows_per_part = rows_per_part
        self.seconds_per_part = seconds_per_part
        self._buf: list[Row] = []
        self._last_part = time.monotonic()

    def _parts(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob("part-*.parquet"))

    def open(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file; the parquet sink writes to a folder")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.path.parent} does not exist")
        self.path.mkdir(exist_ok=True)
        for tmp in [*self.path.glob(".part-*.tmp"), *self.path.glob("*/.part-*.tmp")]:
            tmp.unlink()

    def last_seq(self) -> int:
        import pyarrow.parquet as pq

        last = 0
        for p in self._parts():
            col = pq.read_table(p, columns=["seq"]).column("seq")
            if len(col):
                import pyarrow.compute as pc

                last = max(last, int(pc.max(col).as_py()))
        return max(last, self._buf[-1].seq if self._buf else 0)

    def write_batch(self, rows: Sequence[Row]) -> None:
        self._buf.extend(rows)
        if len(self._buf) >= self.rows_per_part:
            try:
                self._write_part()
            except BaseException:
                del self._buf[len(self._buf) - len(rows) :]  # the retry brings them again
                raise

    def _write_part(self) -> None:
        import pyarrow.parquet as pq

        self._last_part = time.monotonic()
        if not self._buf:
            return
        rows = self._buf  # kept until the part is in place: a failed write loses nothing
        part = f"part-{rows[0].seq:015d}"
        written: list[tuple[Path, Path]] = []
        # the derived tables first, the messages last: last_seq() reads the messages only
        for name, values in sorted(split(rows).tables.items(), key=lambda t: t[0] == "messages"):
            if not values:
                continue
            folder = self.path if name == "messages" else self.path / name
            folder.mkdir(exist_ok=True)
            tmp = folder / f".{part}.tmp"
            pq.write_table(_table(name, values), tmp, compression="zstd")
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            written.append((tmp, folder / f"{part}.parquet"))
        for tmp, final in written:
            tmp.replace(final)
        self._buf = []

    def flush(self) -> None:
        if self._buf and time.monotonic() - self._last_part >= self.seconds_per_part:
            self._write_part()

    def close(self) -> None:
        self._write_part()

    def read_rows(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        for p in self._parts():
            for rec in pq.read_table(p).to_pylist():
                yield Row.from_values({k: rec[k] for k in COLUMNS})
