"""The wheel holds the compiled receive core (built where a C compiler is present)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from wheel_marks import ROOT, WHEEL_TEST

pytestmark = WHEEL_TEST


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
