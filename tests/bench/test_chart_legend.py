"""``bench.png``: no legend covers a bar, and a colour means one client in both panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.report import build_chart, write_chart

CLIENTS = ["aiohttp", "baseline", "bare", "discard", "lseg-data", "parse-only", "picows"]


def _doc() -> dict[str, Any]:
    throughput = [
        {"client": c, "domain": d, "per_frame": k, "median": 10_000 * (i + 1) * k}
        for i, c in enumerate(CLIENTS)
        for d in ("MarketByPrice", "MarketPrice")
        for k in (1, 10)
    ]
    # the latency rows come in another order than the bars, with a client of their own
    latency = [
        {"client": c, "rate": rate, "p50_us": 50.0 + i, "p99_us": 200.0 + i, "p999_us": 900.0}
        for rate in (20_000, 100_000)
        for i, c in enumerate(["raw-socket", "picows", "bare", "aiohttp"])
    ]
    return {"summary": {"throughput": throughput, "latency": latency}}


def _overlaps(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_legends_cover_no_bar_and_colours_mean_one_client(tmp_path: Path) -> None:
    # here, not at import: every xdist worker collects this module, one runs it
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fig = build_chart(_doc())
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax1, ax2 = fig.axes[:2]
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        assert legends
        boxes = [lg.get_window_extent(renderer) for lg in legends]
        bars = [p for p in ax1.patches if p.get_height() > 0]
        assert len(bars) == len(CLIENTS) * 4
        from matplotlib.transforms import Bbox

        panel = ax1.get_window_extent(renderer)
        for bar in bars:
            seen = Bbox.intersection(bar.get_window_extent(renderer), panel)  # log scale: clip
            assert seen is not None
            for box in boxes:
                assert not _overlaps(seen, box)
        for box in boxes:  # nor any part of either panel
            for ax in (ax1, ax2):
                assert not _overlaps(ax.get_window_extent(renderer), box)

        bar_colour: dict[str, tuple[float, ...]] = {}
        for container, client in zip(ax1.containers, sorted(CLIENTS), strict=True):
            colours = {tuple(p.get_facecolor()) for p in container}
            assert len(colours) == 1
            bar_colour[client] = colours.pop()
        assert len(set(bar_colour.values())) == len(CLIENTS)  # one colour, one client
        doc_latency = _doc()["summary"]["latency"]
        from matplotlib.colors import to_rgba

        for line, row in zip(ax2.get_lines(), doc_latency, strict=True):
            if row["client"] in bar_colour:
                assert to_rgba(line.get_color()) == bar_colour[row["client"]], row
            else:
                assert to_rgba(line.get_color()) not in bar_colour.values(), row
        styles = {
            (r["rate"], line.get_linestyle())
            for line, r in zip(ax2.get_lines(), doc_latency, strict=True)
        }
        assert len({s for _, s in styles}) == 2  # the rate is told by the line style
    finally:
        plt.close(fig)
    out = write_chart(_doc(), tmp_path / "bench.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
