"""What a recording misses is in the recording: a lost connection and a sequence gap are
written to every sink as Status rows (state text ``ertcloud: ...``), and counted in
``/metrics``. The real recorder and client against the simulator."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.sinks import make_sink
from ertcloud.sinks.metrics import prometheus_text
from ertcloud.sinks.recorder import Recorder

from .sinks_helpers import stored

RICS = ["EUR=", "JPY=", "TRI.N", "IBM.N"]


async def _eventually(check: Any, what: str, timeout: float = 30.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _state(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row["raw"]).get("State") or {})


async def test_disconnects_and_sequence_gaps_become_status_rows(
    make_sim: Any, tmp_path: Path
) -> None:
    jl, db = tmp_path / "g.jsonl", tmp_path / "g.duckdb"
    rec: Recorder | None = None

    def trace(kind: str, detail: Any) -> None:
        if rec is not None:
            rec.on_trace(kind, detail)

    async with make_sim(server={"rate": 50.0}) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app")
        )
        session = Session(sim.websocket_url, tokens=tokens, trace=trace)
        rec = Recorder(session, [make_sink(f"jsonl:{jl}"), make_sink(f"duckdb:{db}")])
        await rec.open()
        await session.start()
        try:
            sub = rec.subscribe(RICS)
            await _eventually(lambda: all(s.updates > 10 for s in sub.streams), "updates")
            # the server drops the connection: the client reconnects and re-requests
            await sim.faults.apply("drop")
            await _eventually(lambda: rec.stats.connects >= 2, "the reconnect")
            await _eventually(lambda: all(s.refreshes >= 2 for s in sub.streams), "refreshes")
            # the server conflates: sequence numbers are skipped
            await sim.faults.apply("slow_consumer", interval=0.3)
            await _eventually(lambda: rec.stats.gaps >= 1, "a gap")
            await sim.faults.clear()
            metrics = prometheus_text(rec)
        finally:
            await rec.close()
            await session.close()
            await tokens.client.close()
    assert "ertcloud_record_disconnects_total 1" in metrics
    m = re.search(r"^ertcloud_record_sequence_gaps_total (\d+)$", metrics, re.M)
    assert m is not None and int(m.group(1)) >= 1, metrics

    rows = stored(f"jsonl:{jl}")
    assert [r["seq"] for r in stored(f"duckdb:{db}")] == [r["seq"] for r in rows]
    lost = [r for r in rows if _state(r).get("Text", "").startswith("ertcloud: connection lost")]
    assert sorted(r["ric"] for r in lost) == sorted(RICS)  # one per item
    assert all(r["kind"] == "Status" and _state(r)["Data"] == "Suspect" for r in lost)
    # each item's next Refresh (after the reconnect) comes after its connection-lost row
    for r in lost:
        later = [x for x in rows if x["ric"] == r["ric"] and x["seq"] > r["seq"]]
        assert later and later[0]["kind"] in ("Refresh", "Status"), later[:1]
        assert any(x["kind"] == "Refresh" for x in later)
    gap_rows = [r for r in rows if _state(r).get("Text", "").startswith("ertcloud: sequence gap")]
    assert len(gap_rows) == rec.stats.gaps >= 1
    assert all(r["kind"] == "Status" and r["ric"] in RICS for r in gap_rows)
    assert "message(s) missing (SeqNumber" in _state(gap_rows[0])["Text"]
    # the recorder's own rows take sequence numbers like the others: no hole, no repeat
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
