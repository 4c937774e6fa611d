"""No code is imported from the working directory: not by ``--version``/``--help``, not by
``bench`` and not by ``record`` (a planted ``duckdb.py`` or ``benchmarks/runner.py``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support import cli_env, ertcloud_cmd

PLANT = "import pathlib\npathlib.Path(__file__).with_name('IMPORTED-{name}').write_text('x')\n"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    (tmp_path / "duckdb.py").write_text(PLANT.format(name="duckdb"))
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text(PLANT.format(name="benchmarks"))
    (bench / "runner.py").write_text(PLANT.format(name="runner"))
    return tmp_path


def _run(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ertcloud_cmd(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env=cli_env(),
    )  # fmt: skip


def _imported(cwd: Path) -> list[str]:
    return sorted(p.name for p in cwd.glob("IMPORTED-*"))


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("bench", "--help")])
def test_startup_imports_nothing_from_cwd(planted: Path, args: tuple[str, ...]) -> None:
    proc = _run(planted, *args)
    assert _imported(planted) == []
    assert proc.returncode == 0, proc.stderr


def test_record_does_not_import_a_planted_duckdb(planted: Path) -> None:
    proc = _run(planted, "record", "TRI.N", "--to", "duckdb:ticks.db", "--duration", "1")
    assert proc.returncode == 0, proc.stderr
    assert _imported(planted) == []
    assert (planted / "ticks.db").is_file()  # the real duckdb wrote it
