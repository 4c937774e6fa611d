"""Shared fixtures: the simulator in-process or as a real ``ertcloud sim`` process, and
throw-away PostgreSQL and NATS JetStream servers (``scripts/services/local_servers.py``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from local_servers import NatsServer, PostgresServer, ServerError
from support import SimProcess, start_cli
from warm_bytecode import warm_bytecode, warm_hypothesis

import ertcloud
from ertcloud.sim.server import SimOptions, SimServer

# A run started where Ctrl+C is ignored (a background job of a non-interactive shell) passes
# that on to every program it starts, and the tests stop programs with Ctrl+C as a user at a
# terminal would: the programs must get it, so the run takes Python's default back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TESTS = Path(__file__).resolve().parent

# The fast tier (`make check`, `pytest -m "unit and not slow"`): in-process unit and property
# tests, with no subprocesses, servers or real-time waits. Every test under these folders and
# files is marked `unit`; elsewhere a module opts in with `pytestmark = pytest.mark.unit`, and
# a test here that takes seconds opts out with `@pytest.mark.slow`.
UNIT_PATHS = (
    "protocol/",
    "auth/",
    "sim/test_gateway.py",
    "sim/test_market.py",
    "sinks/test_row_properties.py",
    "reliability/test_fuzz_state_machines.py",
)

@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """The xdist controller, before it starts the workers: the caches they share."""
    module_dirs = [*config.getini("pythonpath"), *map(Path, ertcloud.__path__)]
    warm_bytecode(config, TESTS, [d for d in module_dirs if d.resolve() != TESTS])
    warm_hypothesis()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            rel = item.path.relative_to(TESTS).as_posix()
        except ValueError:
            continue
        if rel.startswith(UNIT_PATHS):
            item.add_marker(pytest.mark.unit)
    # Files that start processes, servers or real-time waits first, the files of in-process unit
    # tests last: xdist (`--dist loadfile --no-loadscope-reorder`) hands out files in this
    # order, so the long ones start early and the many short ones fill the gaps at the end.
    not_unit = {item.path for item in items if not item.get_closest_marker("unit")}
    items.sort(key=lambda item: item.path not in not_unit)


@pytest.fixture(scope="session", autouse=True)
def dictionary_defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Sessions use the builtin field dictionary unless a test asks for a download (test
    servers need not serve the Dictionary domain), and a download's cache (also that of
    the ``ertcloud`` processes, which inherit the environment) is in a temp dir."""
    keys = ("ERTCLOUD_CACHE_DIR", "ERTCLOUD_DICTIONARY")
    old = {k: os.environ.get(k) for k in keys}
    d = tmp_path_factory.mktemp("ertcloud-cache")
    os.environ["ERTCLOUD_CACHE_DIR"] = str(d)
    os.environ["ERTCLOUD_DICTIONARY"] = "builtin"
    yield d
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A private CA (``ca``) and a certificate chain and key for 127.0.0.1 (``cert``, ``key``),
    as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d: Path = tmp_path_factory.mktemp("pki")
    files = {"ca": str(d / "ca.pem"), "cert": str(d / "cert.pem"), "key": str(d / "key.pem")}
    ca.cert_pem.write_to_path(files["ca"])
    with open(files["cert"], "wb") as f:
        for pem in cert.cert_chain_pems:
            f.write(pem.bytes())
    cert.private_key_pem.write_to_path(files["key"])
    return files


@pytest.fixture
def sim_process() -> Iterator[Callable[..., SimProcess]]:
    """Start ``ertcloud sim --port 0 ARGS...`` and read its start-up JSON line."""
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        proc = start_cli("sim", "--port", "0", *args)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:  # reap it and close its pipes, or they leak into a later test's warnings
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            raise AssertionError(f"simulator did not start: {err}")
        sp = SimProcess(proc, json.loads(line))
        started.append(sp)
        return sp

    yield start
    for sp in started:
        sp.stop()
        for stream in (sp.proc.stdout, sp.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The simulator in this process on a free port (plain HTTP/WS)."""
    async with SimServer(SimOptions(port=0)) as s:
        yield s


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Any]]:
    """Factory: ``async with make_sim(token_ttl=3) as sim``."""

    def make(**kw: Any) -> SimServer:
        server_kw = kw.pop("server", None)
        opts = SimOptions(port=0, **kw)
        if server_kw:
            for k, v in server_kw.items():
                setattr(opts.server, k, v)
        return SimServer(opts)

    yield make


def _serve(server: PostgresServer | NatsServer) -> Iterator[str]:
    try:
        url = server.start()
    except ServerError as e:  # a missing or broken server fails the tests that need it
        pytest.fail(str(e), pytrace=False)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a PostgreSQL server on loopback for this test session (one per xdist worker);
    tests that write should use ``postgres_database``."""
    yield from _serve(PostgresServer())


@pytest.fixture
def postgres_database(postgres_dsn: str) -> str:
    """DSN of a new, empty database of its own on the session's PostgreSQL server."""
    import psycopg

    db = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {db}")
    return postgres_dsn.rsplit("/", 1)[0] + "/" + db


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """URL of a NATS server with JetStream on loopback for this test session (one per xdist
    worker); give streams, subjects and buckets names of the test's own."""
    yield from _serve(NatsServer())
