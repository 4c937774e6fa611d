"""DuckDB, the embedded default store: ``messages``, ``quotes``, ``trades`` and ``book``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import SinkNotOpen
from .rows import COLUMNS, Row
from .tables import TABLES, arrow_schema, create_statements, split

__all__ = ["DuckDBSink"]

_CHUNK = 500  # rows per INSERT: a multi-row VALUES is far faster than executemany


def _has_arrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


class DuckDBSink:
    """Appends rows to a DuckDB database file (``duckdb:PATH`` or a path ending .db/.duckdb).

    Each batch is one transaction over the four tables. DuckDB lets one process write a
    file at a time: load a recording once the recorder has stopped (or copy the file)."""

    def __init__(self, path: str | Path) -> None:
        try:
            import duckdb  # noqa: F401
        except ImportError:
            raise ImportError(
                "the duckdb sink needs duckdb: pip install 'ertcloud[duckdb]'"
            ) from None
        self.path = str(path)
        self.name = f"duckdb:{path}"
        self._con: Any = None
        # With pyarrow a batch goes in as Arrow tables, ten times faster than VALUES.
        self._arrow = _has_arrow()

    def open(self) -> None:
        import duckdb

        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise FileNotFoundError(f"folder {parent} does not exist")
        self._con = duckdb.connect(self.path)
        for stmt in create_statements("duckdb"):
            self._con.execute(stmt)

    def _connection(self) -> Any:
        if self._con is None:
            raise SinkNotOpen("sink is not open")
        return self._con

    def last_seq(self) -> int:
        row = self._connection().execute("SELECT max(seq) FROM messages").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def write_batch(self, rows: Sequence[Row]) -> None:
        con = self._connection()
        batch = split(rows)
        con.execute("BEGIN TRANSACTION")
        try:
            for name, values in batch.tables.items():
                if not values:
                    continue
                if self._arrow:
                    self._insert_arrow(con, name, values)
                    continue
                width = len(TABLES[name])
                one = "(" + ",".join("?" * width) + ")"
                for i in range(0, len(values), _CHUNK):
                    chunk = values[i : i + _CHUNK]
                    con.execute(
                        f"INSERT INTO {name} VALUES " + ",".join([one] * len(chunk)),
                        [v for row in chunk for v in row],
                    )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _insert_arrow(self, con: Any, name: str, values: list[tuple[Any, ...]]) -> None:
        import pyarrow as pa

        schema = arrow_schema(name)
        table = pa.Table.from_arrays(
            [pa.array([v[j] for v in values], type=f.type) for j, f in enumerate(schema)],
            schema=schema,
        )
        con.register("_ertcloud_batch", table)
        try:
            con.execute(f"INSERT INTO {name} SELECT * FROM _ertcloud_batch")
        finally:
            con.unregister("_ertcloud_batch")

    def flush(self) -> None:
        # Each batch is committed (and so in DuckDB's write-ahead log) as it is written.
        return None

    def close(self) -> None:
        if self._con is not None:
            self._con.execute("CHECKPOINT")
            self._con.close()
            self._con = None

    def read_rows(self) -> Iterator[Row]:
        return self.read_rows_after(None)

    def read_rows_after(self, seq: int | None) -> Iterator[Row]:
        """The stored rows with a ``seq`` above ``seq`` (all of them for None), in order."""
        where = "" if seq is None else f"WHERE seq > {int(seq)} "
        cur = self._connection().execute(
            f"SELECT {', '.join(COLUMNS)} FROM messages {where}ORDER BY seq"
        )
        while True:
            chunk = cur.fetchmany(5000)
            if not chunk:
                return
            for rec in chunk:
                yield Row.from_values(dict(zip(COLUMNS, rec, strict=True)))
