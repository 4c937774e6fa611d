"""DataFrames: a recording (any sink) or a session's live records as pandas or polars."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..exceptions import ConfigError, ErtcloudError, one_line
from .readback import RecordingError, read_recording
from .rows import (
    BAR_COLUMNS,
    BOOK_COLUMNS,
    COLUMNS,
    NEWS_COLUMNS,
    QUOTE_COLUMNS,
    TRADE_COLUMNS,
    Row,
    book_rows,
    derived_row,
    quote_row,
    trade_row,
)
from .spec import make_sink, split_spec
from .tables import TABLES

__all__ = ["RecordingError", "load", "records_frame", "rows_frame"]

_TABLES = {
    "messages": COLUMNS,
    "quotes": QUOTE_COLUMNS,
    "trades": TRADE_COLUMNS,
    "book": BOOK_COLUMNS,
    "news": NEWS_COLUMNS,
    "bars": BAR_COLUMNS,
}


#: Tables whose DataFrames get the column types of their SQL tables (the typed tables).
_TYPED_TABLES = ("quotes", "trades")


def _polars_schema(cols: list[str], table: str | None) -> Any:
    """Column names, or with a typed table their polars types from :data:`TABLES`."""
    if table not in _TYPED_TABLES:
        return cols
    import polars as pl

    types = {
        "BIGINT": pl.Int64, "DOUBLE": pl.Float64, "DATE": pl.Date, "TIME": pl.Time,
        "VARCHAR": pl.Utf8,
    }  # fmt: skip
    return {c: types[duck] for c, duck, _ in TABLES[table]}


def _pandas_types(df: Any, table: str) -> Any:
    """DOUBLE columns as float64 and nullable BIGINT ones as ``Int64`` (also when empty);
    DATE and TIME columns hold ``datetime.date`` and ``datetime.time`` values."""
    for c, duck, _ in TABLES[table]:
        if duck == "DOUBLE" and c != "ts":
            df[c] = df[c].astype("float64")
        elif duck == "BIGINT" and c != "seq":
            df[c] = df[c].astype("Int64")
    return df


def _frame(
    records: list[dict[str, Any]], columns: Iterable[str], kind: str, table: str | None = None
) -> Any:
    cols = list(columns)
    if kind == "pandas":
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("DataFrames need pandas: pip install 'ertcloud[pandas]'") from None
        df = pd.DataFrame.from_records(records, columns=cols)
        if "ts" in cols:
            df["ts"] = pd.to_datetime(df["ts"].astype("float64"), unit="s", utc=True)
        return df
    if kind == "polars":
        try:
            import polars as pl
        except ImportError:
            raise ConfigError("kind='polars' needs polars: pip install polars") from None
        schema = _polars_schema(cols, table)
        if not records:
            out = (
                pl.DataFrame(schema=schema) if isinstance(schema, dict)
                else pl.DataFrame({c: [] for c in cols})
            )  # fmt: skip
        else:
            out = pl.DataFrame(records, schema=schema, orient="row", infer_schema_length=None)
        if "ts" in cols:
            micros = (pl.col("ts").cast(pl.Float64) * 1_000_000).round(0).cast(pl.Int64)
            out = out.with_columns(micros.cast(pl.Datetime("us", "UTC")).alias("ts"))
        return out
    raise ConfigError(f"unknown DataFrame kind {kind!r}: use 'pandas' or 'polars'")


def rows_frame(rows: Iterable[Row], table: str = "messages", kind: str = "pandas") -> Any:
    """Rows as a DataFrame of one table: ``messages`` (every row, ``fields`` as dicts),
    ``quotes``, ``trades`` or ``book`` (derived as the database sinks derive them)."""
    if table not in _TABLES:
        raise ConfigError(f"unknown table {table!r}: use one of {', '.join(_TABLES)}")
    cols = _TABLES[table]
    out: list[dict[str, Any]] = []
    for r in rows:
        if table == "messages":
            out.append(
                {
                    c: (r.fields if c == "fields" else v)
                    for c, v in zip(cols, r.as_tuple(), strict=True)
                }
            )
        elif table == "quotes":
            q = quote_row(r)
            if q is not None:
                out.append(dict(zip(cols, q, strict=True)))
        elif table == "trades":
            t = trade_row(r)
            if t is not None:
                out.append(dict(zip(cols, t, strict=True)))
        elif table in ("news", "bars"):
            derived = derived_row(r)
            if derived is not None and derived[0] == table:
                out.append(dict(zip(cols, derived[1], strict=True)))
        else:
            out.extend(dict(zip(cols, b, strict=True)) for b in book_rows(r))
    if kind == "polars" and table == "messages":
        import json

        for d in out:
            d["fields"] = json.dumps(d["fields"]) if d["fields"] is not None else None
    df = _frame(out, cols, kind, table)
    if kind == "pandas" and table in _TYPED_TABLES:
        df = _pandas_types(df, table)
    return df


def _is_int(dictionary: Any, name: str) -> bool:
    f = dictionary.fields.get(name)
    return f is not None and f.type in ("INT", "UINT")


def _int_columns(df: Any, columns: list[str]) -> Any:
    """Integer fields as pandas' nullable ``Int64`` (not float64 because of blanks)."""
    for c in columns:
        try:
            df[c] = df[c].astype("Int64")
        except (TypeError, ValueError, OverflowError):
            pass  # a value that is not an integer: the column stays as it is
    return df


def load(spec: str, table: str = "messages", kind: str = "pandas") -> Any:
    """Load a recording into a DataFrame in one call: ``load("ticks.db")``,
    ``load("jsonl:ticks.jsonl", table="quotes")``, ``load("ticks/")`` (Parquet parts),
    ``load("postgres://...")``.

    ``ts`` is a UTC timestamp column. A file is only read, never created or changed; a
    DuckDB file a recorder holds open is read from a copy (what it had committed). Any
    failure (no such file, a file of another kind, a damaged one) is a
    :class:`RecordingError` with a one-line message."""
    if table not in _TABLES:
        raise ConfigError(f"unknown table {table!r}: use one of {', '.join(_TABLES)}")
    scheme, target = _file_target(spec)
    if scheme is not None:
        rows = read_recording(target, expect=scheme or None)
        return rows_frame(rows, table=table, kind=kind)
    sink = make_sink(spec)
    try:
        sink.open()
        try:
            return rows_frame(list(sink.read_rows()), table=table, kind=kind)
        finally:
            sink.close()
    except ErtcloudError:
        raise
    except Exception as exc:  # a driver's own error type: say it in one line
        raise RecordingError(f"cannot load {spec}: {one_line(exc)}") from None


def _file_target(spec: str) -> tuple[str | None, str]:
    """(kind, path) for a file recording spec; (None, spec) for a server (postgres, nats).
    A bare path with no known suffix is taken as a file whose kind is detected."""
    try:
        scheme, target = split_spec(spec)
    except ConfigError:
        if "://" in spec or not spec.strip():
            raise
        return "", spec.strip()
    if scheme in ("postgres", "nats"):
        return None, target
    explicit = spec.strip().lower().startswith(f"{scheme}:")
    return (scheme if explicit else ""), target


def records_frame(streams: Iterable[Any], kind: str = "pandas", dictionary: Any = None) -> Any:
    """The latest image of item streams, one row per item (index ``ric``), one column per
    field, plus ``state`` and ``updates``; values typed by ``dictionary`` (a
    :class:`~ertcloud.protocol.dictionary.Dictionary`) when one is given."""
    recs: list[dict[str, Any]] = []
    names: list[str] = []
    for s in streams:
        st = s.state
        state = f"{st.stream}/{st.data}" if st is not None else "Pending"
        image = dictionary.typed(s.fields) if dictionary is not None else s.fields
        rec = {"ric": s.name, "state": state, "updates": s.updates, **image}
        recs.append(rec)
        for k in rec:
            if k not in names:
                names.append(k)
    df = _frame(recs, names or ["ric", "state", "updates"], kind)
    if kind == "pandas" and dictionary is not None:
        df = _int_columns(df, [n for n in names if _is_int(dictionary, n)])
    if kind == "pandas":
        df = df.set_index("ric")
    return df
