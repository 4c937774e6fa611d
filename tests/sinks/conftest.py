"""Real backends for the sink tests: PostgreSQL and NATS JetStream servers started by
``scripts/services/*.sh`` for the test session (installed with apt-get when missing).

A service that cannot be started fails the tests that need it; nothing is skipped."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ertcloud.sinks import Sink, make_sink

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"


def _service(name: str, state: Path) -> Iterator[str]:
    script = str(SERVICES / f"{name}.sh")
    try:
        out = subprocess.run(
            ["bash", script, "start", str(state)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}.sh start timed out")
    if out.returncode != 0:
        pytest.fail(f"{name}.sh start failed ({out.returncode}):\n{out.stderr[-3000:]}")
    url = out.stdout.strip().splitlines()[-1]
    try:
        yield url
    finally:
        subprocess.run(["bash", script, "stop", str(state)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a PostgreSQL server on loopback, for this test session."""
    yield from _service("postgres", tmp_path_factory.mktemp("postgres"))


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a NATS server with JetStream on loopback, for this test session."""
    yield from _service("nats", tmp_path_factory.mktemp("nats"))


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
        import psycopg

        dsn = request.getfixturevalue("postgres_dsn")
        db = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {db}")
        return dsn.rsplit("/", 1)[0] + "/" + db
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
