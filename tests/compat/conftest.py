"""Fixtures of the compatibility tests: programs written like the vendor's examples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import Program

HERE = Path(__file__).parent


@pytest.fixture
def run_program() -> Iterator[Callable[..., Program]]:
    """``run_program(name, *args, **env)`` starts the program ``name`` of this folder with
    ``env`` added to its environment; every program still running is stopped (Ctrl+C) at
    the end of the test."""
    started: list[Program] = []

    def run(name: str, *args: str, **env: str) -> Program:
        started.append(Program(HERE / name, list(args), **env))
        return started[-1]

    yield run
    for p in started:
        p.stop()
