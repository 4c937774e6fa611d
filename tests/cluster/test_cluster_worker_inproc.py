"""One worker in this process against the in-process simulator and a single NATS server:
what it publishes, the latest images, de-duplication, the consumer, ``record --from`` and
``/metrics``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import pytest
from epoch_check import epoch_faults, last_seq, sim_session, sim_worker, stored
from support import run_cli

from ertcloud.cluster import Worker, consume, parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.cluster.metrics import WorkerMetricsServer
from ertcloud.cluster.publish import Outgoing
from ertcloud.sim.server import SimOptions, SimServer
from ertcloud.sinks.nats_stream import subject_token

RICS = [f"P{i:03d}.SIM" for i in range(40)]


async def test_worker_publishes_dedups_and_is_consumed(nats_url: str, tmp_path: Path) -> None:
    url = f"{nats_url}?group=inproc&ttl=2&stream=INPROC&prefix=inproc&latest=inproc_latest"
    cfg = parse_cluster_url(url)
    copy = tmp_path / "copy.jsonl"
    opts = SimOptions(port=0, extra_rics=tuple(RICS))
    opts.server.rate = 5.0
    opts.server.stamp_updates = True
    async with SimServer(opts) as sim:
        session = sim_session(sim)
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
                before = pub.duplicates
                for _ in range(2):
                    body = {"kind": "Update", "ric": "DUP"}
                    pub.submit(Outgoing("inproc.MarketPrice.DUP", "MarketPrice.DUP", body,
                                        "dup-test-1"))  # fmt: skip
                await pub.drain()
                assert pub.duplicates == before + 1
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{metrics.port}/metrics") as r:
                        text = await r.text()
                assert 'ertcloud_cluster_items{worker="solo",group="inproc"} 40' in text
                # a sink behind a consumer, for a while as the worker publishes (the rest
                # is caught up below)
                first = await asyncio.to_thread(run_cli, "record", "--from", url, "--to",
                                                f"jsonl:{copy}", "--duration", "1.5")  # fmt: skip
                assert first.returncode == 0, first.stderr
                # the stream goes on past what the sink holds, so there is a rest to catch up
                # (a quick exit of the command could otherwise leave the worker no time to)
                copied = json.loads(copy.read_text().splitlines()[-1])["seq"]
                for _ in range(400):
                    if await last_seq(cfg) > copied:
                        break
                    await asyncio.sleep(0.05)
                assert await last_seq(cfg) > copied
            finally:
                stop.set()
                await task
                await metrics.stop()
                await worker.close()
    # the latest-image bucket holds each item's image as of its last stored message (the
    # last ones written when the worker gave its items up, not up to 0.5 s before)
    msgs = await stored(cfg)  # the worker has stopped: everything
    last = {m.ric: m for m in msgs}
    nc = await connect_nats(cfg)
    try:
        latest = await nc.jetstream(timeout=10).key_value("inproc_latest")
        for ric in RICS:
            image = json.loads((await latest.get(f"MarketPrice.{subject_token(ric)}")).value)
            m = last[ric]
            assert (image["sn"], image["kind"], image["epoch"]) == (m.sn, m.kind, m.epoch)
            assert image["worker"] == "solo" and "BID" in image["fields"]  # from the Refresh
            assert image["fields"].items() >= (m.fields or {}).items()
    finally:
        await nc.close()
    # record --from again: it resumes after the last row of the sink, and catches up
    written = len(copy.read_text().splitlines())
    out = run_cli("record", "--from", url, "--to", f"jsonl:{copy}", "--duration", "1.5")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in copy.read_text().splitlines()]
    assert written and len(rows) > written
    assert f"from seq {rows[written - 1]['seq'] + 1}" in out.stderr
    assert {r["ric"] for r in rows} >= set(RICS)
    # each of the stream's item messages once, in stream order, across the two runs
    assert [r["seq"] for r in rows if r["ric"] in RICS] == [m.seq for m in msgs if m.ric in RICS]
    assert rows[0]["seq"] == 1
    # subscribe --from shows the simulator's send stamp (for latency measurements)
    out = run_cli("subscribe", "--from", url, "*", "--start", "all", "--count", "100")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    stamped = [x for x in lines if x["kind"] == "Update"]
    assert stamped and all(x["sim_ts"] / 1e9 <= x["ts"] + 1 for x in stamped)
    assert all("sim_ts" not in x for x in lines if x["kind"] == "Refresh")
    # from a sequence number, and from a time (after everything stored: nothing old)
    out = run_cli("subscribe", "--from", url, "*", "--start", "5", "--count", "2")
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["seq"] for x in out.stdout.splitlines()] == [5, 6]
    last = rows[-1]["seq"]
    async with aclosing(consume(cfg, start=datetime.now(timezone.utc))) as messages:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(messages.__anext__(), 1.0)  # the worker has stopped
    async with aclosing(consume(cfg, start=last)) as messages:
        assert (await messages.__anext__()).seq == last


def test_status_lists_the_group(nats_url: str) -> None:
    out = run_cli("cluster", "status", f"{nats_url}?group=nobody-here", "--json", timeout=60)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert st["group"] == "nobody-here" and st["members"] == {}


@pytest.mark.unit
def test_publish_ids() -> None:
    from ertcloud.cluster.publish import msg_id

    assert msg_id("MarketPrice", "TRI.N", "Update", 17, 5, 1) == "MarketPrice.TRI_N.U17.e5"
    # a handover's Refresh is new even at the same SeqNumber
    assert msg_id("MarketPrice", "TRI.N", "Refresh", 17, 5, 1) != msg_id(
        "MarketPrice", "TRI.N", "Refresh", 17, 6, 1
    )


async def _until(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.1)):
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class _Outage:
    """The worker's JetStream context, with publishes failing while ``down`` is set."""

    def __init__(self, js: object) -> None:
        self.js = js
        self.down = False

    async def publish(self, *args: object, **kw: object) -> object:
        if self.down:
            await asyncio.sleep(0.01)
            raise TimeoutError("no response from stream")
        return await self.js.publish(*args, **kw)  # type: ignore[attr-defined]


async def test_an_outage_longer_than_the_buffer_ends_epochs_with_a_gap_marker(
    nats_url: str,
) -> None:
    """Publishes fail until the bounded buffer is full: each item that ticks then ends its
    epoch (a Gap marker after what was stored) and, once NATS is back, starts a new one
    with a Refresh; no epoch has a gap."""
    rics = RICS[:20]
    url = f"{nats_url}?group=outage&ttl=2&stream=OUTAGE&prefix=outage&latest=outage_latest"
    cfg = parse_cluster_url(url)
    async with sim_worker(cfg, rics, 10.0) as worker:
        pub = worker.publisher
        assert pub is not None
        pub.limit = 60
        outage = _Outage(pub.js)
        pub.js = outage
        stop = asyncio.Event()
        task = asyncio.ensure_future(worker.run(stop))
        try:
            await _until(lambda: pub.published >= 3 * len(rics), "Refreshes and Updates")
            outage.down = True
            await _until(lambda: worker.stats.gaps >= len(rics) // 2, "epochs ended")
            assert pub.queued <= pub.limit + worker.stats.gaps
            outage.down = False
            seen: dict[str, list[str]] = {}
            messages = []
            async with aclosing(consume(cfg, start="all")) as stream:
                async for m in stream:
                    messages.append(m)
                    seen.setdefault(m.ric, []).append(m.kind)
                    # every item that had a gap is back with a new epoch's Refresh
                    gapped = [k for k in seen.values() if "Gap" in k]
                    if len(gapped) >= len(rics) // 2 and all(
                        "Refresh" in k[len(k) - k[::-1].index("Gap") :] for k in gapped
                    ):
                        break
        finally:
            stop.set()
            await task
            await worker.close()
    assert epoch_faults(messages) == []
    gaps = [m for m in messages if m.kind == "Gap"]
    assert all(m.body["dropped"] >= 1 and m.worker == "solo" for m in gaps)
    assert all(m.row().kind == "Gap" and json.loads(m.row().raw)["Type"] == "Gap" for m in gaps)
    for g in gaps:  # what follows a Gap marker is of later epochs of the item
        after = [m for m in messages if m.ric == g.ric and m.seq > g.seq]
        assert all(m.epoch > g.epoch for m in after)
    for kinds in seen.values():  # each item that had a gap is back: a Refresh after the last
        if "Gap" in kinds:
            assert "Refresh" in kinds[len(kinds) - kinds[::-1].index("Gap") :], kinds
