"""What is particular to each backend: DuckDB's and PostgreSQL's derived tables, NATS
subjects and the latest-image bucket, and loading recordings into DataFrames."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ertcloud.sinks import load, load_csv, load_duckdb, load_jsonl, load_parquet, make_sink
from ertcloud.sinks.nats_stream import NatsSink

from .sink_samples import sample_rows


def _expected_counts() -> dict[str, int]:
    # sample_rows(): TRI.N Refresh, 14 Quote and 6 Trade updates, an /EUR= Refresh, an
    # order-book Refresh (2 entries) and Update (1 entry), a Status.
    return {"messages": 25, "quotes": 16, "trades": 6, "book": 3}


def _fill(spec: str) -> None:
    s = make_sink(spec)
    s.open()
    s.write_batch(sample_rows())
    s.close()


def test_duckdb_tables(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "ticks.db"
    _fill(str(db))
    con = duckdb.connect(str(db), read_only=True)
    counts = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
        for t in ("messages", "quotes", "trades", "book")
    }
    assert counts == _expected_counts()
    assert con.execute("SELECT price, size FROM trades ORDER BY seq LIMIT 1").fetchone() == (
        45.1 + 2 / 100,
        102.0,
    )
    assert con.execute(
        "SELECT action, key, fields->>'ORDER_PRC' FROM book ORDER BY seq, key"
    ).fetchall() == [("Add", "3.5B", "3.5"), ("Add", "3.6A", "3.6"), ("Delete", "3.5B", None)]
    # the fields column is queryable JSON
    bid = con.execute(
        "SELECT CAST(fields->>'BID' AS DOUBLE) FROM messages WHERE kind = 'Refresh' "
        "AND ric = 'TRI.N'"
    ).fetchone()
    assert bid == (45.12,)
    con.close()


def test_postgres_tables(postgres_dsn: str) -> None:
    import uuid

    import psycopg

    db = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    dsn = postgres_dsn.rsplit("/", 1)[0] + "/" + db
    _fill(dsn)
    with psycopg.connect(dsn) as con:
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("messages", "quotes", "trades", "book")
        }
        assert counts == _expected_counts()
        row = con.execute(
            "SELECT (fields->>'BID')::float8 FROM messages WHERE kind='Refresh' AND ric='TRI.N'"
        ).fetchone()
        assert row == (45.12,)
    df = load(dsn, table="trades")
    assert len(df) == _expected_counts()["trades"]


def test_nats_subjects_and_latest_image(nats_url: str) -> None:
    import nats

    spec = f"{nats_url}?stream=LATEST&prefix=ertcloud&bucket=latest_test"
    rows = sample_rows(n_updates=6)
    sink = make_sink(spec)
    assert isinstance(sink, NatsSink)
    sink.open()
    sink.write_batch(rows)
    sink.flush()
    img = sink.latest("MarketPrice", "TRI.N")
    sink.close()

    # the image is the Refresh with every Update applied, as a late consumer needs it
    expected: dict[str, object] = {}
    for r in rows:
        if r.ric == "TRI.N" and r.fields:
            expected.update(r.fields)
    assert img is not None
    assert img["fields"] == expected
    assert img["seq"] == max(r.seq for r in rows if r.ric == "TRI.N")

    async def consume() -> tuple[list[str], dict[str, object]]:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        sub = await js.subscribe("ertcloud.MarketPrice.TRI_N", ordered_consumer=True)
        subjects = []
        n = sum(1 for r in rows if r.ric == "TRI.N")
        for _ in range(n):
            m = await sub.next_msg(timeout=10)
            subjects.append(m.subject)
        kv = await js.key_value("latest_test")
        entry = await kv.get("MarketPrice.TRI_N")
        await nc.close()
        assert entry.value is not None
        return subjects, json.loads(entry.value)

    subjects, late = asyncio.run(consume())
    assert set(subjects) == {"ertcloud.MarketPrice.TRI_N"}
    assert late["fields"] == expected


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet", "duckdb"])
def test_load_a_recording_in_one_call(tmp_path: Path, kind: str) -> None:
    path = tmp_path / {"jsonl": "r.jsonl", "csv": "r.csv", "parquet": "r", "duckdb": "r.db"}[kind]
    _fill(f"{kind}:{path}")
    rows = sample_rows()
    df = load(f"{kind}:{path}")
    assert list(df["seq"]) == [r.seq for r in rows]
    assert df["fields"].iloc[0] == rows[0].fields
    per_format = {
        "jsonl": load_jsonl,
        "csv": load_csv,
        "parquet": load_parquet,
        "duckdb": load_duckdb,
    }[kind]
    quotes = per_format(str(path), "quotes")
    assert len(quotes) == _expected_counts()["quotes"]
    assert quotes["bid"].iloc[0] == 45.12
    book = load(f"{kind}:{path}", table="book", kind="polars")
    assert book.height == 3
