"""The benchmark suite still runs end to end and reports every figure (no thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, cli_env

pytestmark = pytest.mark.timeout(300)

COMBOS = {(d, k) for d in ("MarketPrice", "MarketByPrice") for k in (1, 10)}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--no-lseg", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, json.loads((out / "results.json").read_text())


def test_every_throughput_figure_is_measured(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, doc = quick_run
    rows = doc["summary"]["throughput"]
    main = doc["clients"][0]
    for client in [*doc["clients"], "discard", "parse-only"]:
        got = {(r["domain"], r["per_frame"]) for r in rows if r["client"] == client}
        assert got == COMBOS, client
    for r in rows:
        assert r["median"] > 0 and r["min"] <= r["median"] <= r["max"]
        if r["client"] == main:
            assert r["x_baseline"] > 0 and 0 < r["of_parse_only"]
            assert 0 < r["of_bare"]
        if r["client"] == "bare":  # the stack's ceiling, with the cache and events left out
            assert 0 < r["of_parse_only"]


def test_latency_memory_and_targets_are_reported(quick_run: tuple[str, dict[str, Any]]) -> None:
    text, doc = quick_run
    s = doc["summary"]
    rates = {20_000, 100_000}
    assert {(r["client"], r["rate"]) for r in s["latency"]} == {
        (c, rate) for c in (s["main"], "bare", "discard") for rate in rates
    }
    for r in s["latency"]:
        assert 0 < r["p50_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"]
    assert {r["view"] for r in s["memory"]} == {"full image", "BID,ASK,TRDPRC_1,ACVOL_1"}
    for r in s["memory"]:
        assert r["bytes_per_item"] > 0
        assert 0 < r["first_refresh_s"] <= r["all_refreshed_s"]
    from benchmarks.report import TARGETS

    assert [t["target"] for t in doc["targets"]] == [name for name, _ in TARGETS]
    assert all(t["shown"] for t in doc["targets"])
    for heading in ("Throughput", "End-to-end latency", "Memory", "Targets"):
        assert heading in text
    assert "results.json" in text
    inproc = doc["raw"]["in_process"]  # pure beside compiled, in this process
    assert [r["per_frame"] for r in inproc["hot_path"]] == [1, 10]
    assert all(r["us_per_msg"]["of parse-only"]["median"] > 0 for r in inproc["hot_path"])
    assert {r["core"] for r in inproc["images"]} >= {"pure"}
    assert "In process, MarketPrice Updates" in text and "In process, full MarketPrice" in text


def test_chart_is_written(quick_run: tuple[str, dict[str, Any]]) -> None:
    text, _ = quick_run
    chart = Path(text.split("chart: ", 1)[1].splitlines()[0])
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_options_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--rounds", "0", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
    )
    assert proc.returncode == 2
    assert "must be positive" in proc.stderr


def test_a_ratio_just_under_its_target_is_not_shown_as_the_target() -> None:
    from benchmarks.report import _times

    assert _times(9.96, 10) == "9.96x"  # "10.0x" beside NOT MET would read as a bug
    assert _times(10.04, 10) == "10.0x"
    assert _times(17.74, 25) == "17.7x"
    assert _times(2.96, 3) == "2.96x"
