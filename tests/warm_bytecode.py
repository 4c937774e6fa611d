"""Write the caches the test processes share once, before pytest-xdist starts its workers.

Each worker imports every test module (pytest rewrites their asserts) and the package. On a
fresh checkout the workers, all started at once, would each rewrite and compile all of it
again: 7-9 s of CPU apiece, against 3.5-4 s with the caches written. Likewise, hypothesis's
first text strategy in each worker would compute its Unicode tables (1.5 s) before any of
them had cached them under .hypothesis/. The xdist controller writes these caches first
(tests/conftest.py); bytecode only where it may be written: not under
PYTHONDONTWRITEBYTECODE, which `make test` clears for its runs.
"""

from __future__ import annotations

import compileall
import fnmatch
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


def warm_bytecode(config: pytest.Config, test_dir: Path, module_dirs: Iterable[Path]) -> None:
    """Rewrite and cache the test modules under ``test_dir`` as pytest would on import, and
    compile the other modules there and under ``module_dirs``; up-to-date caches are kept."""
    if sys.dont_write_bytecode:
        return
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
            try_makedirs,
        )

        state = config.stash[assertstate_key]
    except (ImportError, KeyError):  # other pytest internals, or no rewriting: workers compile
        state = None
    rewritten = [*config.getini("python_files"), "conftest.py"]
    for path in sorted(test_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        if state is None or not any(fnmatch.fnmatch(path.name, p) for p in rewritten):
            compileall.compile_file(path, quiet=2)
            continue
        cache_dir = get_cache_dir(path)
        pyc = cache_dir / (path.name[:-3] + PYC_TAIL)
        if _read_pyc(path, pyc) is None and try_makedirs(cache_dir):
            try:
                source_hash, code = _rewrite_test(path, config)
            except (SyntaxError, ValueError):  # the collection reports it
                continue
            _write_pyc(state, code, source_hash, pyc)
    for d in module_dirs:
        compileall.compile_dir(d, quiet=2)


def warm_hypothesis() -> None:
    """Have hypothesis compute and cache its Unicode tables (a no-op once cached)."""

    @settings(
        max_examples=1,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.text())
    def draw(text: str) -> None:
        pass

    draw()
