"""An install from source without a C compiler falls back to the pure receive core."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wheel_marks import ROOT, WHEEL_TEST

pytestmark = WHEEL_TEST


def test_install_without_a_compiler_gives_the_pure_core(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    r = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-v", "--no-deps", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CC": "/bin/false"},
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "compiled core not built" in r.stdout + r.stderr
    site = next((venv / "lib").glob("python3*/site-packages/ertcloud/protocol"))
    assert not list(site.glob("_speedups*.so"))
    assert (site / "_dispatch_pure.py").exists()
