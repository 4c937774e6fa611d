"""The fault matrix, short form: every simulator fault against the real client over real
sockets. Prints the table (``pytest -s``) and fails on any row that is not ok."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The matrix lives in benchmarks/ (also runnable as ``python -m benchmarks.faults``).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.faults import cases, run_matrix, table


@pytest.mark.timeout(150)
async def test_fault_matrix_short(capsys: pytest.CaptureFixture[str]) -> None:
    selected = cases(short=True)
    rows = await run_matrix(selected, concurrency=5, timeout=40)
    text = table(rows)
    with capsys.disabled():
        print("\n" + text)
    assert len(rows) == len(selected)
    bad = [r for r in rows if not r.ok]
    assert not bad, text
    for r in rows:
        assert r.restored == r.streams  # every stream restored
        assert r.images_equal  # final record == simulator image, every item
        if r.mode == "standby":
            assert r.lost == 0  # no update one session delivered went missing
    disrupting = [r for r, c in zip(rows, selected, strict=True) if c.disrupts]
    assert all(r.recover_s is not None for r in disrupting)
