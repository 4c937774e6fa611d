"""PostgreSQL (psycopg 3): the same four tables as DuckDB, filled with COPY.

A batch is one transaction. When the connection is lost (a server restart, a network
cut) the write fails, the connection is dropped, and the next write (the runner retries
the batch) connects again. A retried batch never stores a row twice: after reconnecting
the sink reads ``max(seq)`` back and leaves out the rows already there (a batch whose
COMMIT went through although its answer was lost)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from ..exceptions import SinkNotOpen
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
        self._opened = False
        #: the highest seq known to be stored (None: to be read after a reconnect)
        self._high: int | None = None

    def open(self) -> None:
        self._connect()
        self._opened = True

    def _connect(self) -> Any:
        import psycopg

        con = psycopg.connect(self.dsn, connect_timeout=5)
        try:
            with con.transaction():
                for stmt in create_statements("postgres"):
                    con.execute(stmt)
        except BaseException:
            con.close()
            raise
        self._con = con
        self._high = None
        return con

    def _connection(self) -> Any:
        if not self._opened:
            raise SinkNotOpen("sink is not open")
        con = self._con
        if con is None or con.closed or con.broken:
            if con is not None:
                con.close()
                self._con = None
            con = self._connect()
        return con

    def _drop_if_broken(self) -> None:
        con = self._con
        if con is not None and (con.closed or con.broken):
            con.close()
            self._con = None

    def last_seq(self) -> int:
        con = self._connection()
        row = con.execute("SELECT max(seq) FROM messages").fetchone()
        con.commit()
        return int(row[0]) if row and row[0] is not None else 0

    def write_batch(self, rows: Sequence[Row]) -> None:
        try:
            self._write(rows)
        except Exception:
            self._drop_if_broken()
            self._high = None  # did the COMMIT make it? ask the server next time
            raise

    def _write(self, rows: Sequence[Row]) -> None:
        con = self._connection()
        if self._high is None:
            self._high = self.last_seq()
        high = self._high
        if rows and rows[0].seq <= high:
            rows = [r for r in rows if r.seq > high]
        if not rows:
            return
        batch = split(rows)
        with con.transaction(), con.cursor() as cur:
            for name, values in batch.tables.items():
                if not values:
                    continue
                cols = ", ".join(c for c, _, _ in TABLES[name])
                with cur.copy(f"COPY {name} ({cols}) FROM STDIN") as cp:
                    for v in values:
                        cp.write_row(v)
        self._high = max(high, rows[-1].seq)

    def flush(self) -> None:
        # Every batch is its own committed transaction.
        return None

    def close(self) -> None:
        self._opened = False
        if self._con is not None:
            self._con.close()
            self._con = None

    def read_rows(self) -> Iterator[Row]:
        return self.read_rows_after(None)

    def read_rows_after(self, seq: int | None) -> Iterator[Row]:
        """The stored rows with a ``seq`` above ``seq`` (all of them for None), in order."""
        con = self._connection()
        where = "" if seq is None else f"WHERE seq > {int(seq)} "
        with con.cursor() as cur:
            cur.execute(f"SELECT {', '.join(COLUMNS)} FROM messages {where}ORDER BY seq")
            for rec in cur:
                yield Row.from_values(dict(zip(COLUMNS, rec, strict=True)))
        con.commit()
