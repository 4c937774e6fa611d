"""Shared fixtures: the simulator in-process or as a real ``ertcloud sim`` process."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from support import SimProcess, cli_env, ertcloud_cmd

from ertcloud.sim.server import SimOptions, SimServer


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
        proc = subprocess.Popen(
            ertcloud_cmd("sim", "--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
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
