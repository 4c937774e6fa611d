"""The four tables of the database sinks (DuckDB, PostgreSQL) and how a batch fills them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocol.dictionary import builtin
from .rows import (
    BAR_COLUMNS,
    BOOK_COLUMNS,
    COLUMNS,
    NEWS_COLUMNS,
    QUOTE_COLUMNS,
    QUOTE_TYPED,
    TRADE_COLUMNS,
    TRADE_TYPED,
    Row,
    book_rows,
    derived_row,
    quote_row,
)
from .rows import trade_row as _trade_row

__all__ = [
    "TABLES",
    "TableBatch",
    "arrow_schema",
    "arrow_type",
    "create_statements",
    "split",
    "sql_types",
]

#: Dictionary type -> (DuckDB type, PostgreSQL type) of a typed column; any other type is
#: text. The one mapping of every sink (Parquet's Arrow types follow the DuckDB type).
_SQL_TYPES = {
    "REAL": ("DOUBLE", "double precision"),
    "INT": ("BIGINT", "bigint"),
    "UINT": ("BIGINT", "bigint"),
    "DATE": ("DATE", "date"),
    "TIME": ("TIME", "time"),
}


def sql_types(field: str) -> tuple[str, str]:
    """(DuckDB type, PostgreSQL type) of a field's column, from its dictionary type."""
    return _SQL_TYPES.get(builtin().fields[field].type, ("VARCHAR", "text"))


def arrow_type(duckdb_type: str) -> Any:
    """The Arrow type of a column of that DuckDB type (Parquet and DuckDB's Arrow inserts)."""
    import pyarrow as pa

    return {
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "DATE": pa.date32(),
        "TIME": pa.time64("us"),
    }[duckdb_type]


def arrow_schema(table: str) -> Any:
    """The Arrow schema of one of :data:`TABLES` (column order and types as in SQL)."""
    import pyarrow as pa

    return pa.schema([(c, arrow_type(duck)) for c, duck, _ in TABLES[table]])


def _typed(columns: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str, str], ...]:
    return tuple((c, *sql_types(f)) for c, f in columns)


#: name -> ((column, DuckDB type, PostgreSQL type), ...)
TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "messages": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("kind", "VARCHAR", "text"),
        ("domain", "VARCHAR", "text"),
        ("ric", "VARCHAR", "text"),
        ("service", "VARCHAR", "text"),
        ("update_type", "VARCHAR", "text"),
        ("fields", "JSON", "jsonb"),
        ("raw", "VARCHAR", "text"),
    ),
    "quotes": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("ric", "VARCHAR", "text"),
        ("bid", "DOUBLE", "double precision"),
        ("ask", "DOUBLE", "double precision"),
        ("bidsize", "DOUBLE", "double precision"),
        ("asksize", "DOUBLE", "double precision"),
        *_typed(QUOTE_TYPED),
    ),
    "trades": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("ric", "VARCHAR", "text"),
        ("price", "DOUBLE", "double precision"),
        ("size", "DOUBLE", "double precision"),
        *_typed(TRADE_TYPED),
    ),
    "book": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("ric", "VARCHAR", "text"),
        ("domain", "VARCHAR", "text"),
        ("action", "VARCHAR", "text"),
        ("key", "VARCHAR", "text"),
        ("fields", "JSON", "jsonb"),
    ),
    # filled from the recorder's derived rows (kind "Story", kind "Bar")
    "news": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("ric", "VARCHAR", "text"),
        ("guid", "VARCHAR", "text"),
        ("created", "VARCHAR", "text"),
        ("urgency", "BIGINT", "bigint"),
        ("headline", "VARCHAR", "text"),
        ("subjects", "VARCHAR", "text"),
        ("rics", "VARCHAR", "text"),
        ("body", "VARCHAR", "text"),
    ),
    "bars": (
        ("seq", "BIGINT", "bigint"),
        ("ts", "DOUBLE", "double precision"),
        ("ric", "VARCHAR", "text"),
        ("start_ts", "DOUBLE", "double precision"),
        ("end_ts", "DOUBLE", "double precision"),
        ("open", "DOUBLE", "double precision"),
        ("high", "DOUBLE", "double precision"),
        ("low", "DOUBLE", "double precision"),
        ("close", "DOUBLE", "double precision"),
        ("volume", "DOUBLE", "double precision"),
        ("vwap", "DOUBLE", "double precision"),
        ("count", "BIGINT", "bigint"),
        ("source", "VARCHAR", "text"),
    ),
}

assert tuple(c for c, _, _ in TABLES["news"]) == NEWS_COLUMNS
assert tuple(c for c, _, _ in TABLES["bars"]) == BAR_COLUMNS
assert tuple(c for c, _, _ in TABLES["messages"]) == COLUMNS
assert tuple(c for c, _, _ in TABLES["quotes"]) == QUOTE_COLUMNS
assert tuple(c for c, _, _ in TABLES["trades"]) == TRADE_COLUMNS
assert tuple(c for c, _, _ in TABLES["book"]) == BOOK_COLUMNS


def create_statements(dialect: str, prefix: str = "") -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for every table (``dialect``: duckdb or postgres)."""
    i = 1 if dialect == "duckdb" else 2
    out = []
    for name, cols in TABLES.items():
        body = ", ".join(f"{c[0]} {c[i]}" for c in cols)
        out.append(f"CREATE TABLE IF NOT EXISTS {prefix}{name} ({body})")
    out.append(f"CREATE INDEX IF NOT EXISTS {prefix}messages_seq ON {prefix}messages (seq)")
    # files written before the typed columns existed get them (appended: same order)
    for name, typed in (("quotes", QUOTE_TYPED), ("trades", TRADE_TYPED)):
        for col, fname in typed:
            ctype = sql_types(fname)[i - 1]
            out.append(f"ALTER TABLE {prefix}{name} ADD COLUMN IF NOT EXISTS {col} {ctype}")
    return out


@dataclass
class TableBatch:
    """A batch of rows split into the rows of each table."""

    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )


def split(rows: Sequence[Row]) -> TableBatch:
    b = TableBatch()
    t = b.tables
    for r in rows:
        t["messages"].append(r.as_tuple())
        q = quote_row(r)
        if q is not None:
            t["quotes"].append(q)
        tr = _trade_row(r)
        if tr is not None:
            t["trades"].append(tr)
        t["book"].extend(book_rows(r))
        d = derived_row(r)
        if d is not None:
            t[d[0]].append(d[1])
    return b
