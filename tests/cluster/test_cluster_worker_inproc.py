"""One worker in this process against the in-process simulator and a single NATS server:
what it publishes, de-duplication, the consumer, ``record --from`` and ``/metrics``."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from pathlib import Path

import aiohttp
import pytest
from support import run_cli

from ertcloud import connect
from ertcloud.cluster import Worker, consume, parse_cluster_url
from ertcloud.cluster.metrics import WorkerMetricsServer
from ertcloud.cluster.publish import Outgoing
from ertcloud.sim.server import SimOptions, SimServer

RICS = [f"P{i:03d}.SIM" for i in range(40)]


async def test_worker_publishes_dedups_and_is_consumed(nats_url: str, tmp_path: Path) -> None:
    url = f"{nats_url}?group=inproc&ttl=2&stream=INPROC&prefix=inproc&latest=inproc_latest"
    cfg = parse_cluster_url(url)
    opts = SimOptions(port=0, extra_rics=tuple(RICS))
    opts.server.rate = 5.0
    async with SimServer(opts) as sim:
        session = connect(
            sim.websocket_url, token_url=sim.token_url, user="demo", password="demo",
            client_id="t",
        )  # fmt: skip
        async with session:
            worker = Worker(cfg, "solo", RICS, session)
            await worker.open()
            metrics = WorkerMetricsServer(worker)
            await metrics.start()
            stop = asyncio.Event()
            task = asyncio.ensure_future(worker.run(stop))
            try:
                seen: dict[str, list[str]] = {}
                workers: set[str | None] = set()
                async with aclosing(consume(cfg, start="all")) as messages:
                    async for m in messages:
                        seen.setdefault(m.ric, []).append(m.kind)
                        workers.add(m.worker)
                        if len(seen) == len(RICS) and all(len(v) >= 3 for v in seen.values()):
                            break
                assert all(kinds[0] == "Refresh" for kinds in seen.values())
                assert workers == {"solo"}
                # the same message published twice is stored once
                pub = worker.publisher
                assert pub is not None
                dup = Outgoing("inproc.MarketPrice.DUP", "MarketPrice.DUP",
                               {"kind": "Update", "ric": "DUP"}, "dup-test-1")  # fmt: skip
                before = pub.duplicates
                pub.submit(dup)
                pub.submit(dup)
                await pub.drain()
                assert pub.duplicates == before + 1
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{metrics.port}/metrics") as r:
                        text = await r.text()
                assert 'ertcloud_cluster_items{worker="solo",group="inproc"} 40' in text
            finally:
                stop.set()
                await task
                await metrics.stop()
                await worker.close()
    out = run_cli(
        "record", "--from", url, "--to", f"jsonl:{tmp_path / 'copy.jsonl'}", "--duration", "8",
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in (tmp_path / "copy.jsonl").read_text().splitlines()]
    assert {r["ric"] for r in rows} >= set(RICS)
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert rows[0]["seq"] == 1


def test_status_lists_the_group(nats_url: str) -> None:
    out = run_cli("cluster", "status", f"{nats_url}?group=nobody-here", "--json", timeout=60)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["group"] == "nobody-here" and st["members"] == {}


@pytest.mark.unit
def test_publish_ids() -> None:
    from ertcloud.cluster.publish import msg_id

    assert msg_id("MarketPrice", "TRI.N", "Update", 17, 5, 1) == "MarketPrice.TRI_N.U17"
    # a handover's Refresh is new even at the same SeqNumber
    assert msg_id("MarketPrice", "TRI.N", "Refresh", 17, 5, 1) != msg_id(
        "MarketPrice", "TRI.N", "Refresh", 17, 6, 1
    )
