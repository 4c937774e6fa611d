"""Fixtures of the compatibility tests: programs written like the vendor's examples."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import Program

HERE = Path(__file__).parent


def startup_env() -> dict[str, str]:
    """A ``PYTHONPATH`` that starts with ``startup/``: its ``sitecustomize`` lets
    websocket-client notice within 0.2 s, not 10 s, that the program closed its WebSocket,
    so a program ends when its work is done."""
    path = [str(HERE / "startup"), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}


@pytest.fixture(name="startup_env")
def startup_env_fixture() -> dict[str, str]:
    """``startup_env()``, for a test that starts its program itself."""
    return startup_env()


@pytest.fixture
def run_program() -> Iterator[Callable[..., Program]]:
    """``run_program(name, *args, **env)`` starts the program ``name`` of this folder with
    ``env`` added to its environment; every program still running is stopped (Ctrl+C) at
    the end of the test."""
    started: list[Program] = []

    def run(name: str, *args: str, **env: str) -> Program:
        started.append(Program(HERE / name, list(args), **{**env, **startup_env()}))
        return started[-1]

    yield run
    for p in started:
        p.stop()
