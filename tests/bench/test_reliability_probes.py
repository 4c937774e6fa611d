"""The hardening probes of ``python -m benchmarks.reliability``: a probe measures its figure
against the real client and simulator and says whether it held; the table shows each."""

from __future__ import annotations

import pytest

from benchmarks import probes

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
