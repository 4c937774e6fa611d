"""What the wheel tests share. Each is a file of its own, so that ``make test``
(``--dist loadfile``) runs the two side by side."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL_TEST = [
    pytest.mark.wheel,
    pytest.mark.skipif(
        os.environ.get("ERTCLOUD_WHEEL_TEST") != "1", reason="set ERTCLOUD_WHEEL_TEST=1 (slow)"
    ),
]
