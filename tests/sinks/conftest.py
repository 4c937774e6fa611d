"""Real backends for the sink tests: the PostgreSQL and NATS JetStream servers of
``tests/conftest.py`` (``postgres_dsn``, ``nats_url``).

A service that cannot be started fails the tests that need it; nothing is skipped."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ertcloud.sinks import Sink, make_sink

SINK_KINDS = ["jsonl", "csv", "parquet", "duckdb", "postgres", "nats"]


@pytest.fixture(params=SINK_KINDS)
def sink_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A spec for a fresh, empty store of each kind of sink."""
    kind = request.param
    if kind == "jsonl":
        return f"jsonl:{tmp_path / 'rec.jsonl'}"
    if kind == "csv":
        return f"csv:{tmp_path / 'rec.csv'}"
    if kind == "parquet":
        return f"parquet:{tmp_path / 'rec'}"
    if kind == "duckdb":
        return str(tmp_path / "rec.duckdb")
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_database"))
    url = request.getfixturevalue("nats_url")
    tag = uuid.uuid4().hex[:10]
    return f"{url}?stream=T{tag}&prefix=t{tag}&bucket=b{tag}"


@pytest.fixture
def new_sink(sink_spec: str) -> Iterator[Callable[[], Sink]]:
    """Factory of sinks on the same store (a new one per call, as a re-run would make);
    closes whatever it made at the end."""
    made: list[Sink] = []

    def make() -> Sink:
        s = make_sink(sink_spec)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
