"""The printed table, the target checks and the chart of a results document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "build_chart", "check_targets", "render", "write_chart"]

#: (name, description) of every target, checked by :func:`check_targets`.
TARGETS = [
    ("x_baseline_k1", "client >= 25x the vendor-example baseline, 1 msg/frame (MarketPrice)"),
    ("of_parse_only_k1", "client >= 60 % of the msgspec parse-only ceiling, 1 msg/frame"),
    ("p99_20k", "p99 latency <= 250 us at 20k msgs/s"),
    ("x_lseg_k1", "client >= 10x lseg-data, 1 msg/frame (when lseg-data is installed)"),
    ("mem_mp", "<= 1.5 KB per subscribed MarketPrice instrument (10k items)"),
    ("sim_3x", "simulator >= 3x the client's rate (every frame size and domain)"),
    ("refresh_10k", "10k items fully refreshed in < 3 s"),
    # issue 25 (the compiled receive core)
    ("i25_hot_k1", "full path >= 1.0x msgspec parse-only, 1 msg/frame (in process)"),
    ("i25_hot_k10", "full path >= 1.0x msgspec parse-only, 10 msgs/frame (in process)"),
    ("i25_x_baseline_k1", "client >= 50x the vendor-example baseline, 1 msg/frame"),
    ("i25_x_lseg_k1", "client >= 30x lseg-data, 1 msg/frame (when lseg-data is installed)"),
    ("i25_mbp", "MarketByPrice full path >= 0.6x parse-only, 1 msg/frame (in process)"),
    ("i25_image", "<= 1.0 KB per full 80-field MarketPrice image at 100k items"),
    ("i25_refresh_100k", "100k items fully refreshed in < 1.5 s (in process)"),
    ("i25_p99_20k", "p99 at 20k msgs/s within 50 us of the bare stack's"),
    ("i25_p99_100k", "p99 at 100k msgs/s paced within 2x of the bare stack's"),
    ("i25_pure", "pure core >= 0.95x of before (of parse-only, in process)"),
]

#: The pure core's receive as a fraction of parse-only (MarketPrice, by msgs/frame) in the
#: full run on main at the start of issue 25's last round (1408d03): the "before" of
#: ``i25_pure``, a ratio to parse-only measured in the same run, so comparable across runs.
PURE_BEFORE = {1: 0.25, 10: 0.30}


def _tput(summary: dict[str, Any], client: str, domain: str, k: int) -> dict[str, Any] | None:
    for row in summary["throughput"]:
        if (row["client"], row["domain"], row["per_frame"]) == (client, domain, k):
            return row
    return None


def _times(v: float, target: float) -> str:
    """A ratio with one decimal, or two where one would round a miss up to the target."""
    return f"{v:.2f}x" if v < target <= round(v, 1) else f"{v:.1f}x"


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value and whether it is met (None: not measured)."""
    main = summary["main"]
    mp1 = _tput(summary, main, "MarketPrice", 1) or {}
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, met: bool | None, shown: str) -> None:
        desc = dict(TARGETS)[name]
        out.append({"target": name, "what": desc, "value": value, "met": met, "shown": shown})

    v = mp1.get("x_baseline")
    add("x_baseline_k1", v, None if v is None else v >= 25, _times(v, 25) if v else "n/a")
    v = mp1.get("of_parse_only")
    shown = f"{v:.0%}" if v else "n/a"
    bare = _tput(summary, "bare", "MarketPrice", 1)
    if v and bare and bare["of_parse_only"]:
        shown += f" (the bare stack alone: {bare['of_parse_only']:.0%})"
    add("of_parse_only_k1", v, None if v is None else v >= 0.6, shown)
    lat = next((r for r in summary["latency"] if r["rate"] == 20_000 and r["client"] == main), None)
    v = lat["p99_us"] if lat else None
    floor = next(
        (r for r in summary["latency"] if r["rate"] == 20_000 and r["client"] == "discard"), None
    )
    shown = f"{v:.0f} us" if v is not None else "n/a"
    if v is not None and floor is not None:
        shown += f" (the machine's floor: {floor['p99_us']:.0f} us)"
    add("p99_20k", v, None if v is None else v <= 250, shown)
    v = mp1.get("x_lseg")
    add("x_lseg_k1", v, None if v is None else v >= 10, _times(v, 10) if v else "not installed")
    mem = [r for r in summary["memory"] if r["items"] == 10_000] or summary["memory"][:2]
    full = next((r for r in mem if r["view"] == "full image"), None)
    viewed = next((r for r in mem if r["view"] != "full image"), None)
    if full is not None:
        v = full["bytes_per_item"]
        shown = f"{v:,.0f} B full image"
        if viewed is not None:
            shown += f", {viewed['bytes_per_item']:,.0f} B with a 4-field view"
        add("mem_mp", v, v <= 1536, shown)
    ratios = []
    for row in summary["throughput"]:
        if row["client"] == "discard":
            c = _tput(summary, main, row["domain"], row["per_frame"])
            if c and c["median"]:
                ratios.append(row["median"] / c["median"])
    v = min(ratios) if ratios else None
    add("sim_3x", v, None if v is None else v >= 3, f"{_times(v, 3)} (lowest)" if v else "n/a")
    ref = next((r for r in summary["memory"] if r["items"] == 10_000), None)
    v = ref["all_refreshed_s"] if ref else None
    add("refresh_10k", v, None if v is None else v < 3, f"{v:.2f} s" if v is not None else "n/a")
    _issue25(summary, add)
    return out


def _issue25(summary: dict[str, Any], add: Any) -> None:
    """Issue 25's targets, from the same run's figures (``summary["in_process"]``: the
    in-process rows, when they ran)."""
    main = summary["main"]
    inproc = summary.get("in_process") or {}
    hot = {r["per_frame"]: r["us_per_msg"] for r in inproc.get("hot_path", [])}
    for k in (1, 10):
        u = hot.get(k)
        v = u["of parse-only"]["median"] if u else None
        shown = f"{v:.2f}x ({u['receive']['median']:.2f} us/msg)" if u and v else "n/a"
        add(f"i25_hot_k{k}", v, None if v is None else v >= 1.0, shown)
    mp1 = _tput(summary, main, "MarketPrice", 1) or {}
    bare = _tput(summary, "bare", "MarketPrice", 1) or {}
    for name, key, goal, missing in (
        ("i25_x_baseline_k1", "x_baseline", 50, "n/a"),
        ("i25_x_lseg_k1", "x_lseg", 30, "not installed"),
    ):
        v = mp1.get(key)
        shown = _times(v, goal) if v else missing
        if v and bare.get(key):
            shown += f" (the bare stack: {bare[key]:.1f}x)"
        add(name, v, None if v is None else v >= goal, shown)
    mbp = inproc.get("hot_path_mbp")
    v = mbp["us_per_msg"]["of parse-only"]["median"] if mbp else None
    add("i25_mbp", v, None if v is None else v >= 0.6, f"{v:.2f}x" if v else "n/a")
    imgs = {r["core"]: r for r in inproc.get("images", [])}
    img = imgs.get("compiled") or imgs.get("pure")
    v = img["bytes_per_image"] if img and img["items"] >= 100_000 else None
    shown = "n/a"
    if img and v is not None:
        shown = f"{v:,.0f} B ({img['core']} core; {img['bytes_per_item']:,.0f} B with its stream)"
    add("i25_image", v, None if v is None else v <= 1024, shown)
    v = img["refresh_s"] if img and img["items"] >= 100_000 else None
    shown = "n/a"
    if img and v is not None:
        shown = f"{v:.2f} s, CPU {img['refresh_cpu_s']:.2f} s ({img['core']} core)"
    sock = next((r for r in summary["memory"] if r["items"] == 100_000), None)
    if v is not None and sock is not None:
        shown += f"; over the socket {sock['all_refreshed_s']:.2f} s"
    add("i25_refresh_100k", v, None if v is None else v < 1.5, shown)
    for rate, name, ok in (
        (20_000, "i25_p99_20k", lambda c, b: c - b <= 50),
        (100_000, "i25_p99_100k", lambda c, b: c <= 2 * b),
    ):
        lat = {r["client"]: r["p99_us"] for r in summary["latency"] if r["rate"] == rate}
        c, b = lat.get(main), lat.get("bare")
        if c is None or b is None:
            add(name, None, None, "n/a")
            continue
        v = c - b if rate == 20_000 else c / b
        shown = f"{c:.0f} us against {b:.0f} us"
        short = _sender_short(summary, rate)
        if short:  # the stream was not at its rate: the tails say nothing of the target
            add(name, v, None, f"{shown}; not settled: {short}")
            continue
        add(name, v, ok(c, b), shown)
    pure = [
        (k, u["of parse-only, pure"]["median"] / PURE_BEFORE[k])
        for k, u in sorted(hot.items())
        if "of parse-only, pure" in u and k in PURE_BEFORE
    ]
    v = min(x for _, x in pure) if pure else None
    shown = ", ".join(f"{x:.2f}x at {k} msg/frame" for k, x in pure) or "n/a"
    add("i25_pure", v, None if v is None else v >= 0.95, shown)


def _sender_short(summary: dict[str, Any], rate: int) -> str:
    """Why the paced streams at ``rate`` were not at that rate ("" if they were): a
    simulator preempted for long slips its schedule (``benchmarks.fast_sender``)."""
    rows = [r for r in summary["latency"] if r["rate"] == rate and "sender_rate_min" in r]
    low = min((r["sender_rate_min"] for r in rows), default=float(rate))
    if low >= 0.95 * rate:
        return ""
    return f"the sender reached only {low:,.0f} msgs/s in one job (the machine was busy)"


def _rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _x(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v:.0%}" if pct else f"{v:.1f}x"


def render(doc: dict[str, Any]) -> str:
    """The whole result as text tables."""
    s = doc["summary"]
    rounds = doc["settings"]["rounds"]
    full = doc["settings"].get("full_rounds", rounds)
    extra = f" ({full} of every job, then the targets' jobs)" if rounds > full else ""
    lines = [
        f"ertcloud {doc['version']} on Python {doc['python']}: {rounds} round(s){extra}, "
        f"{doc['seconds']:.0f} s",
        "",
        "Throughput, msgs/s: median (min-max); ratios are medians of same-round ratios",
        "bare: picows + msgspec decode and the same callback, no cache (the stack's ceiling)",
    ]
    head = [
        "client",
        "domain",
        "msg/frame",
        "median",
        "min-max",
        "x baseline",
        "x lseg-data",
        "of parse-only",
        "of bare",
    ]
    rows = [
        [
            r["client"],
            r["domain"],
            str(r["per_frame"]),
            _rate(r["median"]),
            f"{_rate(r['min'])}-{_rate(r['max'])}",
            _x(r["x_baseline"]),
            _x(r["x_lseg"]),
            _x(r["of_parse_only"], pct=True),
            _x(r["of_bare"], pct=True),
        ]
        for r in sorted(s["throughput"], key=lambda r: (r["domain"], r["per_frame"], -r["median"]))
    ]
    lines += _table(head, rows)
    limited = [
        f"{r['client']} {r['domain']} x{r['per_frame']} ({r['sender_waited_min']:.0%})"
        for r in s["throughput"]
        if r["client"] != "discard" and r.get("sender_waited_min") is not None
        if r["sender_waited_min"] < 0.5
    ]
    if limited:
        lines.append(
            "the sender waited on the client under half of a stream (it, not the client, set"
            " the rate) in: " + ", ".join(limited)
        )
    lines += [
        "",
        "End-to-end latency, 1 msg/frame (simulator send stamp -> callback), us;",
        "discard: the floor, a raw socket read with the stamps found in its bytes;",
        "bare: picows + msgspec alone, no record cache (the floor of the stack);",
        "percentiles of every round's samples pooled (rounds' own: min-max); p99 typical:",
        "median p99 of 1/5 sub-windows; sender: schedule slips (total ms), p99 lateness",
    ]
    head = ["client", "rate msg/s", "p50", "p99", "p99.9", "max", "p99 typical", "sender"]
    rows = [
        [r["client"], f"{r['rate']:,}"]
        + [
            f"{r[k]:.0f} ({r[k + '_min']:.0f}-{r[k + '_max']:.0f})"
            for k in ("p50_us", "p99_us", "p999_us", "max_us")
        ]
        + [
            f"{r['p99_windows_median']:.0f}" if "p99_windows_median" in r else "-",
            _sender(r),
        ]
        for r in s["latency"]
    ]
    lines += _table(head, rows)
    lines += _diagnostics(s.get("diagnostics") or [])
    lines += ["", "Memory and initial images (batch requests, MarketPrice)"]
    head = [
        "items",
        "image",
        "bytes/item (RSS delta)",
        "first Refresh s",
        "all Refreshes s",
        "from start: first / all s",
    ]
    rows = [
        [
            f"{r['items']:,}",
            r["view"],
            f"{r['bytes_per_item']:,.0f}",
            f"{r['first_refresh_s']:.3f}",
            f"{r['all_refreshed_s']:.2f}",
            f"{r['start_to_first_refresh_s']:.3f} / {r['start_to_all_refreshed_s']:.2f}",
        ]
        for r in s["memory"]
    ]
    lines += _table(head, rows)
    lines += _in_process(doc["raw"].get("in_process"))
    lines += ["", "Targets"]
    rows = [
        ["met" if t["met"] else "n/a" if t["met"] is None else "NOT MET", t["what"], t["shown"]]
        for t in doc["targets"]
    ]
    lines += _table(["", "target", "measured"], rows)
    return "\n".join(lines)


def _sender(r: dict[str, Any]) -> str:
    if "sender_slips" not in r:
        return "-"
    return f"{r['sender_slips']} ({r['sender_slipped_ms']:.1f} ms), {r['sender_lag_p99_us']:.0f} us"


def _gc(g: dict[str, Any] | None) -> str:
    """The collections of a stream: none, or how many and the longest."""
    if not g:
        return "-"
    n = sum(g["runs"])
    return f"{n}, {g['max_ms']:.1f} ms" if n else "0"


def _diagnostics(diag: list[dict[str, Any]]) -> list[str]:
    """Per job of the targets' measurements, what the client and the machine did."""
    if not diag:
        return []
    lines = [
        "",
        "Per job, MarketPrice 1 msg/frame and latency (what moved a round's figure): figure",
        "msgs/s or p99 us; fifths: the slowest and fastest fifth of the window over its rate",
        "(one low: a stall; all even: the speed all along); CPU us/msg; msgs/read, waits",
        "(epoll/poll) and preemptions per 1k msgs; the CPUs' largest stolen and smallest busy",
        "share; the client's cyclic collections (count, longest); the sender's msgs/s, its",
        "share of the stream spent waiting for the client (unpaced) or slips and p99",
        "lateness (paced)",
    ]
    head = ["rnd", "client", "rate", "figure", "fifths", "CPU", "msg/read", "waits", "preempt"]
    head += ["steal", "busy", "load", "gc", "sender/s", "sender"]

    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    rows = []
    for r in sorted(diag, key=lambda r: (r["rate"], r["client"], r["round"])):
        if r["rate"]:
            snd = f"{f(r['sender_slips'], 'd')} slips, {f(r['sender_lag_p99_us'], '.0f')} us"
        elif r["sender_blocked"] is not None:
            snd = f"waited {r['sender_blocked']:.0%}"
        else:
            snd = "-"
        rows.append(
            [
                str(r["round"] + 1),
                r["client"],
                f"{r['rate']:,}" if r["rate"] else "max",
                f"{r['figure']:,.0f}",
                f"{r['windows'][0]:.2f}-{r['windows'][1]:.2f}" if r.get("windows") else "-",
                f(r["cpu_us_per_msg"], ".2f"),
                f(r["msgs_per_read"], ".1f"),
                f(r["waits_per_1k"], ".1f"),
                f(r["preempted_per_1k"], ".2f"),
                f(r["steal_max"], ".1%"),
                f(r["busy_min"], ".0%"),
                f(r["loadavg"], ".1f"),
                _gc(r.get("gc")),
                f(r["sender_rate"], ",.0f"),
                snd,
            ]
        )
    return lines + _table(head, rows)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    fmt.insert(1, "  ".join("-" * w for w in widths))
    return fmt


def build_chart(doc: dict[str, Any]) -> Any:
    """The figure of :func:`write_chart`: throughput bars and latency percentiles. Each
    client has one colour in both panels; the legends sit outside the plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    s = doc["summary"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 1]})
    combos = sorted({(r["domain"], r["per_frame"]) for r in s["throughput"]})
    clients = sorted({r["client"] for r in s["throughput"]})
    everyone = [*clients, *sorted({r["client"] for r in s["latency"]} - set(clients))]
    palette = plt.get_cmap("tab10" if len(everyone) <= 10 else "tab20")
    colour = {c: palette(i % palette.N) for i, c in enumerate(everyone)}
    width = 0.8 / max(1, len(clients))
    for i, c in enumerate(clients):
        vals = []
        for d, k in combos:
            row = next(
                (
                    r
                    for r in s["throughput"]
                    if (r["client"], r["domain"], r["per_frame"]) == (c, d, k)
                ),
                None,
            )
            vals.append(row["median"] if row else 0)
        ax1.bar([j + i * width for j in range(len(combos))], vals, width, label=c, color=colour[c])
    ax1.set_xticks([j + 0.4 - width / 2 for j in range(len(combos))])
    ax1.set_xticklabels([f"{d}\n{k} msg/frame" for d, k in combos])
    ax1.set_yscale("log")
    ax1.set_ylabel("messages / s (median, log scale)")
    ax1.set_title("Throughput")
    rates = sorted({r["rate"] for r in s["latency"]})
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D"]
    for r in s["latency"]:
        n = rates.index(r["rate"]) % len(styles)
        ax2.plot(
            ["p50", "p99", "p99.9"],
            [r["p50_us"], r["p99_us"], r["p999_us"]],
            marker=markers[n],
            linestyle=styles[n],
            color=colour[r["client"]],
        )
    ax2.set_ylabel("microseconds")
    ax2.set_yscale("log")
    ax2.set_title("End-to-end latency")
    # One legend of clients (their colour in both panels), one of rates, both below.
    handles = [Line2D([], [], color=colour[c], linewidth=8, label=c) for c in everyone]
    fig.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.02, 0.0),
        ncol=min(5, max(1, len(handles))),
        fontsize=8,
        title="client",
        title_fontsize=8,
        frameon=False,
    )
    if rates:
        rate_handles = [
            Line2D(
                [],
                [],
                color="grey",
                linestyle=styles[i % len(styles)],
                marker=markers[i % len(markers)],
                label=f"{rate // 1000}k msgs/s",
            )
            for i, rate in enumerate(rates)
        ]
        fig.legend(
            handles=rate_handles,
            loc="lower right",
            bbox_to_anchor=(0.98, 0.0),
            fontsize=8,
            title="latency at",
            title_fontsize=8,
            frameon=False,
        )
    rows = -(-len(handles) // 5)
    fig.tight_layout(rect=(0.0, 0.06 + 0.045 * rows, 1.0, 1.0))
    return fig


def _in_process(got: dict[str, Any] | None) -> list[str]:
    """The in-process rows (benchmarks.hot_path and benchmarks.images), when they ran."""
    if not got:
        return []
    lines = [
        "",
        "In process, MarketPrice Updates (benchmarks.hot_path, CPU clock): us/msg and the whole",
        "receive path as a fraction of msgspec parse-only on the same frames, median of rounds",
    ]
    head = ["msg/frame", "parse-only", "receive", "of parse-only", "pure", "pure of parse-only"]
    rows = []
    for r in got.get("hot_path", []):
        u = r["us_per_msg"]
        pure = u.get("receive, pure")
        rows.append(
            [
                str(r["per_frame"]),
                f"{u['decode']['median']:.2f}",
                f"{u['receive']['median']:.2f}",
                f"{u['of parse-only']['median']:.2f}x",
                f"{pure['median']:.2f}" if pure else "n/a",
                f"{u['of parse-only, pure']['median']:.2f}x" if pure else "n/a",
            ]
        )
    lines += _table(head, rows)
    lines += ["", "In process, full MarketPrice images (benchmarks.images), one Refresh frame each"]
    head = ["core", "items", "fields", "refresh s (CPU s)", "bytes/image", "bytes/item"]
    rows = [
        [
            r["core"],
            f"{r['items']:,}",
            f"{r['fields_per_image']:.0f}",
            f"{r['refresh_s']:.2f} ({r['refresh_cpu_s']:.2f})",
            f"{r['bytes_per_image']:,.0f}",
            f"{r['bytes_per_item']:,.0f}",
        ]
        for r in got.get("images", [])
    ]
    return lines + _table(head, rows)


def write_chart(doc: dict[str, Any], path: Path) -> Path | None:
    """Throughput bars and latency percentiles as one PNG (needs the ``bench`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    import matplotlib.pyplot as plt

    fig = build_chart(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
