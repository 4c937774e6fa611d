"""Typed values end to end: ``ertcloud record`` from the simulator into DuckDB gives a
``quotes`` table with DOUBLE, DATE, TIME and BIGINT columns; ``load()`` returns them
typed; a live session's ``snapshot()`` and ``record()`` are typed, with the raw JSON
still there (``raw=True``, ``event.message``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from support import run_cli

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.protocol.events import ItemRefreshed
from ertcloud.protocol.messages import Refresh
from ertcloud.sinks import load
from ertcloud.sinks.duckdb_store import DuckDBSink
from ertcloud.sinks.rows import row_from_message


def test_recorded_quotes_have_typed_columns(tmp_path: Path) -> None:
    import duckdb  # here, not at collection: each test process collects every module

    db = tmp_path / "ticks.db"
    r = run_cli("record", "TRI.N", "--ric", "IBM.N", "--to", str(db), "--duration", "3")
    assert r.returncode == 0, r.stderr
    con = duckdb.connect(str(db), read_only=True)
    types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                             "WHERE table_name = 'quotes'").fetchall())  # fmt: skip
    assert types["bid"] == "DOUBLE" and types["ask"] == "DOUBLE"
    assert types["quote_date"] == "DATE" and types["quote_time"] == "TIME"
    assert types["quotim_ms"] == "BIGINT"
    ttypes = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                              "WHERE table_name = 'trades'").fetchall())  # fmt: skip
    assert (ttypes["trade_date"], ttypes["trade_time"], ttypes["saltim_ms"]) == (
        "DATE", "TIME", "BIGINT",
    )  # fmt: skip
    dated = con.execute(
        "SELECT quote_date, quote_time FROM quotes WHERE quote_date IS NOT NULL"
    ).fetchall()
    timed = con.execute(
        "SELECT quote_time, quotim_ms FROM quotes WHERE quote_time IS NOT NULL"
    ).fetchall()
    con.close()
    assert len(dated) == 2  # the two refreshes carry QUOTE_DATE
    assert all(isinstance(d, dt.date) for d, _ in dated)
    assert timed and all(isinstance(t, dt.time) and isinstance(ms, int) for t, ms in timed)
    # QUOTIM (seconds) and QUOTIM_MS (ms since midnight) describe the same instant
    for t, ms in timed:
        assert (t.hour * 3600 + t.minute * 60 + t.second) == ms // 1000

    q = load(f"duckdb:{db}", table="quotes")
    assert str(q["bid"].dtype) == "float64" and str(q["quotim_ms"].dtype) == "Int64"
    got = q[q["quote_date"].notna()]
    assert all(isinstance(v, dt.date) for v in got["quote_date"])
    assert all(isinstance(v, dt.time) for v in q["quote_time"].dropna())
    # the same recording through the messages table: raw JSON kept
    m = load(f"duckdb:{db}")
    refresh = m[m["kind"] == "Refresh"].iloc[0]
    assert isinstance(refresh["fields"]["QUOTE_DATE"], str) and refresh["raw"].startswith("{")


def test_an_old_database_gets_the_typed_columns(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "old.db"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE quotes (seq BIGINT, ts DOUBLE, ric VARCHAR, bid DOUBLE, ask DOUBLE, "
        "bidsize DOUBLE, asksize DOUBLE)"
    )
    con.execute("INSERT INTO quotes VALUES (1, 0, 'OLD', 1, 2, 3, 4)")
    con.close()
    sink = DuckDBSink(db)
    sink.open()
    msg = Refresh(
        id=2, fields={"BID": 10, "ASK": 10.5, "QUOTE_DATE": "2024-02-29", "QUOTIM": "bad",
                      "QUOTIM_MS": 36_000_123},
    )  # fmt: skip
    sink.write_batch([row_from_message(2, 1.0, msg, ric="NEW")])
    sink.close()
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT ric, bid, quote_date, quote_time, quotim_ms FROM quotes ORDER BY seq"
    ).fetchall()
    con.close()
    assert rows == [
        ("OLD", 1.0, None, None, None),
        ("NEW", 10.0, dt.date(2024, 2, 29), None, 36_000_123),  # a bad TIME stays NULL
    ]


async def test_snapshot_and_record_are_typed(make_sim: Any) -> None:
    pytest.importorskip("pandas")
    refreshes: list[ItemRefreshed] = []
    async with make_sim() as sim:
        tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "x"))
        async with Session(sim.websocket_url, tokens=tokens, dictionary="builtin") as s:
            sub = s.subscribe(["TRI.N", "EUR="], on_refresh=refreshes.append)
            await sub.wait_complete(10)
            rec = sub.record("TRI.N")
            raw = sub.record("TRI.N", raw=True)
            df = s.snapshot()
            df_raw = s.snapshot(raw=True)
    assert isinstance(rec["TRADE_DATE"], dt.date) and isinstance(raw["TRADE_DATE"], str)
    assert isinstance(rec["SALTIM"], dt.time) and isinstance(rec["BID"], float)
    assert type(rec["SALTIM_MS"]) is int and rec["CURRENCY"] == "USD"
    assert isinstance(df.loc["TRI.N", "TRADE_DATE"], dt.date)
    assert isinstance(df_raw.loc["TRI.N", "TRADE_DATE"], str)
    assert str(df["SALTIM_MS"].dtype) == "Int64"
    # the raw message of each event is untouched
    ev = next(e for e in refreshes if e.stream.name == "TRI.N")
    assert ev.message.fields is not None and isinstance(ev.message.fields["TRADE_DATE"], str)
