"""The wheel holds the compiled receive core (built where a C compiler is present)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# a file of its own, so that `make test` (--dist loadfile) runs it beside the other wheel test
pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(
        os.environ.get("ERTCLOUD_WHEEL_TEST") != "1", reason="set ERTCLOUD_WHEEL_TEST=1 (slow)"
    ),
]


def test_wheel_holds_the_compiled_core(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "-o", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("ertcloud/protocol/_speedups.") and n.endswith(".so") for n in names)
    assert "ertcloud/protocol/_speedups.pyi" in names
