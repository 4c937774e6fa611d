"""Typed columns in every database-like sink, end to end: ``ertcloud record`` from the
simulator, with the field dictionary downloaded from it, into DuckDB, Parquet and
PostgreSQL at once; each sink's quotes/trades/messages columns have the SQL types of the
fields' dictionary types, and ``load()`` gives them back typed for each of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from support import cli_env, run_cli

from ertcloud.sinks import load

#: column -> (DuckDB, PostgreSQL information_schema, Arrow) type names
EXPECTED = {
    "quotes": {
        "seq": ("BIGINT", "bigint", "int64"),
        "ts": ("DOUBLE", "double precision", "double"),
        "bid": ("DOUBLE", "double precision", "double"),
        "quote_date": ("DATE", "date", "date32[day]"),
        "quote_time": ("TIME", "time without time zone", "time64[us]"),
        "quotim_ms": ("BIGINT", "bigint", "int64"),
    },
    "trades": {
        "price": ("DOUBLE", "double precision", "double"),
        "trade_date": ("DATE", "date", "date32[day]"),
        "trade_time": ("TIME", "time without time zone", "time64[us]"),
        "saltim_ms": ("BIGINT", "bigint", "int64"),
    },
    "messages": {
        "seq": ("BIGINT", "bigint", "int64"),
        "ts": ("DOUBLE", "double precision", "double"),
        "raw": ("VARCHAR", "text", "string"),
    },
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> dict[str, Any]:
    """One recording into the three sinks, with the dictionary downloaded (not builtin)."""
    import uuid

    import psycopg

    d = tmp_path_factory.mktemp("typed-sinks")
    db = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    specs = {
        "duckdb": f"duckdb:{d / 'ticks.db'}",
        "parquet": f"parquet:{d / 'ticks'}",
        "postgres": postgres_dsn.rsplit("/", 1)[0] + "/" + db,
    }
    cache = d / "cache"
    env = cli_env(ERTCLOUD_DICTIONARY="download", ERTCLOUD_CACHE_DIR=str(cache))
    args = ["record", "TRI.N", "IBM.N", "--duration", "3"]
    for spec in specs.values():
        args += ["--to", spec]
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    return {"specs": specs, "dir": d, "cache": cache}


def test_the_dictionary_was_downloaded(recorded: dict[str, Any]) -> None:
    assert list(recorded["cache"].glob("dictionary-*.json"))


def test_duckdb_column_types(recorded: dict[str, Any]) -> None:
    import duckdb

    con = duckdb.connect(str(recorded["dir"] / "ticks.db"), read_only=True)
    try:
        for table, cols in EXPECTED.items():
            got = dict(
                con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                    [table],
                ).fetchall()
            )
            assert {c: got[c] for c in cols} == {c: t[0] for c, t in cols.items()}
    finally:
        con.close()


def test_postgres_column_types(recorded: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(recorded["specs"]["postgres"]) as con:
        for table, cols in EXPECTED.items():
            got = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = %s",
                    (table,),
                ).fetchall()
            )
            assert {c: got[c] for c in cols} == {c: t[1] for c, t in cols.items()}
        dated = con.execute(
            "SELECT quote_date, quote_time FROM quotes WHERE quote_date IS NOT NULL"
        ).fetchall()
    assert dated and all(isinstance(v, dt.date) for v, _ in dated)


def test_parquet_column_types(recorded: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    folder = recorded["dir"] / "ticks"
    for table, cols in EXPECTED.items():
        parts = sorted((folder if table == "messages" else folder / table).glob("part-*.parquet"))
        assert parts, table
        schema = pq.read_schema(parts[0])
        assert {c: str(schema.field(c).type) for c in cols} == {
            c: t[2] for c, t in cols.items()
        }  # fmt: skip
    quotes = pq.read_table(folder / "quotes").to_pylist()
    assert any(isinstance(q["quote_date"], dt.date) for q in quotes)
    assert all(isinstance(q["quote_time"], (dt.time, type(None))) for q in quotes)


@pytest.mark.parametrize("sink", ["duckdb", "parquet", "postgres"])
def test_load_gives_typed_columns(recorded: dict[str, Any], sink: str) -> None:
    spec = recorded["specs"][sink]
    q = load(spec, table="quotes")
    assert len(q) > 0
    assert str(q["bid"].dtype) == "float64" and str(q["quotim_ms"].dtype) == "Int64"
    assert any(isinstance(v, dt.date) for v in q["quote_date"].dropna())
    assert all(isinstance(v, dt.date) for v in q["quote_date"].dropna())
    assert all(isinstance(v, dt.time) for v in q["quote_time"].dropna())
    t = load(spec, table="trades")
    assert str(t["price"].dtype) == "float64" and str(t["saltim_ms"].dtype) == "Int64"
    pl = pytest.importorskip("polars")
    qp = load(spec, table="quotes", kind="polars")
    assert qp.schema["quote_date"] == pl.Date and qp.schema["quote_time"] == pl.Time
    assert qp.schema["quotim_ms"] == pl.Int64 and qp.schema["bid"] == pl.Float64
    # the raw JSON of every message stays in the messages table
    m = load(spec)
    assert all(isinstance(r, str) and r.startswith("{") for r in m["raw"])


def test_load_an_empty_typed_table_keeps_its_types(tmp_path: Path) -> None:
    path = tmp_path / "none.jsonl"
    path.write_text(
        '{"seq":1,"ts":1.0,"kind":"Status","domain":"MarketPrice","ric":"X","service":null,'
        '"update_type":null,"fields":null,"raw":"{}"}\n'
    )
    q = load(f"jsonl:{path}", table="quotes")
    assert len(q) == 0 and str(q["bid"].dtype) == "float64"
    assert str(q["quotim_ms"].dtype) == "Int64"
    pl = pytest.importorskip("polars")
    qp = load(f"jsonl:{path}", table="trades", kind="polars")
    assert qp.height == 0 and qp.schema["trade_date"] == pl.Date
