"""PostgreSQL (psycopg 3): the same four tables as DuckDB, filled with COPY."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from .rows import COLUMNS, Row
from .tables import TABLES, create_statements, split

__all__ = ["PostgresSink", "redact_dsn"]


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***``."""
    dsn = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", dsn)
    return re.sub(r"(password=)[^&\s]*", r"\1***", dsn)


class PostgresSink:
    """Appends rows to PostgreSQL (``postgres://user:pw@host:port/db``); one transaction
    per batch. ``fields`` is ``jsonb``; ``raw`` keeps the message text as received."""

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ImportError(
                "the postgres sink needs psycopg 3: pip install 'ertcloud[postgres]'"
            ) from None
        self.dsn = dsn
        self.name = redact_dsn(dsn)
        self._con: Any = None

    def open(self) -> None:
        import psycopg

        self._con = psycopg.connect(self.dsn, connect_timeout=10)
        with self._con.transaction():
            for stmt in create_statements("postgres"):
                self._con.execute(stmt)

    def _connection(self) -> Any:
        if self._con is None:
            raise RuntimeError("sink is not open")
        return self._con

    def last_seq(self) -> int:
        con = self._connection()
        row = con.execute("SELECT max(seq) FROM messages").fetchone()
        con.commit()
        return int(row[0]) if row and row[0] is not None else 0

    def write_batch(self, rows: Sequence[Row]) -> None:
        con = self._connection()
        batch = split(rows)
        with con.transaction(), con.cursor() as cur:
            for name, values in batch.tables.items():
                if not values:
                    continue
                cols = ", ".join(c for c, _, _ in TABLES[name])
                with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as cp:
                    for v in values:
                        cp.write_row(v)

    def flush(self) -> None:
        # Every batch is its own committed transaction.
        return None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def read_rows(self) -> Iterator[Row]:
        con = self._connection()
        with con.cursor() as cur:
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM messages ORDER BY seq")
            for rec in cur:
                yield Row.from_values(dict(zip(COLUMNS, rec, strict=True)))
        con.commit()
