"""Sink specs as strings, and the errors for bad ones."""

from __future__ import annotations

import pytest

from ertcloud.exceptions import ConfigError
from ertcloud.sinks import make_sink
from ertcloud.sinks.csv_file import CsvSink
from ertcloud.sinks.duckdb_store import DuckDBSink
from ertcloud.sinks.jsonl import JsonlSink
from ertcloud.sinks.nats_stream import NatsSink, subject_token
from ertcloud.sinks.parquet_dir import ParquetSink
from ertcloud.sinks.postgres import PostgresSink


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("jsonl:out/a.jsonl", JsonlSink),
        ("a.jsonl", JsonlSink),
        ("csv:a.txt", CsvSink),
        ("a.csv", CsvSink),
        ("parquet:folder", ParquetSink),
        ("duckdb:ticks.data", DuckDBSink),
        ("ticks.db", DuckDBSink),
        ("ticks.duckdb", DuckDBSink),
        ("DUCKDB:x", DuckDBSink),
        ("postgres://u@127.0.0.1:5432/db", PostgresSink),
        ("postgresql://u@127.0.0.1/db", PostgresSink),
        ("nats://127.0.0.1:4222", NatsSink),
    ],
)
def test_specs_pick_the_sink(spec: str, cls: type) -> None:
    assert isinstance(make_sink(spec), cls)


@pytest.mark.parametrize("spec", ["", "ticks", "kafka://x", "jsonl:", "ticks.txt"])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        make_sink(spec)


def test_names_never_show_passwords() -> None:
    assert "s3cret" not in make_sink("postgres://bob:s3cret@db:5432/ticks").name
    assert "s3cret" not in make_sink("postgresql://h/db?password=s3cret&x=1").name
    assert "s3cret" not in make_sink("nats://bob:s3cret@127.0.0.1:4222").name
    assert (
        make_sink("postgres://bob:s3cret@db:5432/ticks").name == "postgres://bob:***@db:5432/ticks"
    )


def test_nats_options_from_query() -> None:
    s = make_sink("nats://127.0.0.1:4222?stream=S1&prefix=p&bucket=b1")
    assert isinstance(s, NatsSink)
    assert (s.server, s.stream, s.prefix, s.bucket) == ("nats://127.0.0.1:4222", "S1", "p", "b1")
    assert s.subject("MarketPrice", "TRI.N") == "p.MarketPrice.TRI_N"
    assert subject_token("EUR=") == "EUR="
    assert subject_token("a b*>.c") == "a_b___c"
