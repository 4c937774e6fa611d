"""``ertcloud plot``: candlesticks with volume from a recording (extra: plot, matplotlib).

ertcloud record TRI.N -o ticks.db --duration 120
ertcloud plot ticks.db TRI.N -o tri.png --interval 5s
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..bars import bars_frame, parse_interval
from ..exceptions import ConfigError
from .options import description

__all__ = ["add_parser", "draw", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plot",
        help="candlestick chart of a recording (extra: plot)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("recording", help="a recording: ticks.db, jsonl:FILE, csv:FILE ...")
    p.add_argument("ric", metavar="RIC", help="the item to draw")
    p.add_argument("-o", "--output", required=True, help="image file (.png, .svg, .pdf)")
    p.add_argument("--interval", default="1m", help="bar length: 1s, 1m, 5m, 1h ... (default 1m)")
    p.set_defaults(func=run)


def draw(bars: Any, title: str, path: str) -> None:
    """Candlesticks (green up, red down) over a volume panel, saved to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plot needs matplotlib: pip install 'ertcloud[plot]'") from None
    import datetime as dt

    fig, (ax, axv) = plt.subplots(
        2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1]}
    )
    starts = [dt.datetime.fromtimestamp(s, dt.timezone.utc) for s in bars["start"]]
    x = mdates.date2num(starts)  # type: ignore[no-untyped-call]
    width = (float(bars["end"].iloc[0]) - float(bars["start"].iloc[0])) / 86400 * 0.7
    for xi, o, h, lo, c, v in zip(
        x, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], strict=True
    ):
        color = "#2ca02c" if c >= o else "#d62728"
        ax.vlines(xi, lo, h, color=color, linewidth=1)
        body = abs(c - o) or (h - lo) * 0.02 or abs(c) * 1e-4
        ax.bar(xi, body, width, bottom=min(o, c), color=color, edgecolor=color)
        axv.bar(xi, v, width, color=color, alpha=0.6)
    lo_all, hi_all = float(bars["low"].min()), float(bars["high"].max())
    pad = (hi_all - lo_all) * 0.05 or abs(hi_all) * 0.001 or 1.0
    ax.set_ylim(lo_all - pad, hi_all + pad)
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    axv.set_ylabel("volume")
    axv.grid(alpha=0.3)
    axv.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(a: argparse.Namespace) -> int:
    try:
        seconds = parse_interval(a.interval)
    except ValueError as exc:
        raise ConfigError(f"--interval: {exc}") from None
    from ..sinks import load

    spec = a.recording
    if "://" not in spec:  # a file or folder: opening a sink would create it
        kind, _, rest = spec.partition(":")
        path = rest if rest and kind in ("jsonl", "csv", "parquet", "duckdb") else spec
        if not Path(path).exists():
            raise ConfigError(f"no such recording: {spec}")
    try:
        df = load(a.recording, table="messages")
    except ConfigError:
        raise
    except Exception as exc:  # any backend: a missing file, another program's database
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read recording {a.recording}: {first}") from None
    df = df[df["ric"] == a.ric]
    if df.empty:
        raise ConfigError(f"{a.recording} holds no messages of {a.ric}")
    bars = bars_frame(df, seconds)
    if bars.empty:
        raise ConfigError(f"{a.recording} holds no trade or quote of {a.ric}")
    draw(bars, f"{a.ric}  {a.interval} bars", a.output)
    return 0
