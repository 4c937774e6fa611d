"""The in-process image benchmark refreshes every item on each core and reports what it holds."""

from __future__ import annotations

import pytest

from benchmarks.images import main, measure
from ertcloud.protocol import core


@pytest.mark.parametrize("name", ["pure", "compiled"])
def test_measure_refreshes_every_item_and_counts_its_bytes(name: str) -> None:
    if name == "compiled" and core.compiled_dispatch is None:
        pytest.skip("the compiled core is not built")
    r = measure(300, name)
    assert r["core"] == name and r["items"] == 300
    assert r["fields_per_image"] > 20  # the simulator's full records
    assert r["refresh_s"] > 0 and r["refresh_cpu_s"] >= 0
    # an image of tens of fields holds at least a few bytes per field and its stream more
    # at least 8 bytes per field (a compact image stores each in 8 bytes and a 2-bit tag)
    assert 8 * r["fields_per_image"] < r["bytes_per_image"] < r["bytes_per_item"]


def test_the_command_prints_one_row_per_core(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--items", "50"]) == 0
    out = capsys.readouterr().out
    assert "50 MarketPrice items" in out and "pure" in out and "B/image" in out
    with pytest.raises(SystemExit) as exc:
        main(["--items", "0"])
    assert exc.value.code == 2


def test_the_breakdown_prints_each_piece_of_a_refresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--items", "40", "--breakdown", "2"]) == 0
    out = capsys.readouterr().out
    pieces = ["msgspec decode", "pure apply_refresh", "ItemRefreshed", "receive, pure"]
    if core.compiled_refresh is not None:
        pieces += ["compiled reader", "compiled apply_refresh", "receive, compiled"]
    for piece in pieces:
        assert f"  {piece} " in out
    with pytest.raises(SystemExit):
        main(["--items", "40", "--breakdown", "0"])
