"""The in-process benchmark of the per-frame path above ``receive`` runs every variant to the
callback (no thresholds)."""

from __future__ import annotations

import pytest

from ertcloud.client import transport_picows as tp
from ertcloud.protocol import core


def test_every_variant_delivers_every_frame_and_is_timed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if tp._COMPILED is None or core.compiled_dispatch is None:
        pytest.skip("needs the compiled core and the compiled picows listener")
    from benchmarks.delivery import VARIANTS, main

    # each pass asserts that the callback ran once per frame
    assert main(["--rounds", "2", "--seconds", "0.01", "--items", "20"]) == 0
    rows = {line[:28].strip(): line[28:].split() for line in capsys.readouterr().out.splitlines()}
    for v in VARIANTS:
        median, span, ratio = rows[v]
        low, high = map(float, span.split("-"))
        assert 0 < low <= float(median) <= high and float(ratio) > 0
    assert rows["bare"][2] == "1.00"
