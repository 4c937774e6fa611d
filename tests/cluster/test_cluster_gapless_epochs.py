"""Within an epoch, what the cluster stores of an item has no gaps, also while the stream's
leader is being elected: one worker in this process publishes a steady Update flow to an
R3 stream on a three-node NATS cluster while the stream leader steps down again and
again, and then while the node the worker is connected to is killed with SIGKILL (and
started again). Each (RIC, epoch) must read as ``epoch_check`` says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from epoch_check import epoch_faults, sim_session, stored
from nats_cluster import NatsCluster

from ertcloud.cluster import Worker, parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

RICS = [f"G{i:03d}.SIM" for i in range(30)]
RATE = 30.0  # updates per second per item: 900 messages/s (several of an item in flight)


@pytest.fixture(scope="module")
def nats3() -> Iterator[NatsCluster]:
    with NatsCluster() as c:
        yield c


async def leader(nc: Any, stream: str) -> str:
    info = await nc.jetstream(timeout=10).stream_info(stream)
    return str(info.cluster.leader)


async def wait_published(worker: Worker, more: int, timeout: float) -> None:
    pub = worker.publisher
    assert pub is not None
    target = pub.published + more
    deadline = time.monotonic() + timeout
    while pub.published < target:
        assert time.monotonic() < deadline, f"published {pub.published}, wanted {target}"
        await asyncio.sleep(0.2)


@pytest.mark.unit
def test_epoch_faults_reads_the_order() -> None:
    from types import SimpleNamespace as M

    def msgs(*rows: tuple[str, int | None]) -> list[Any]:
        return [M(ric="A", epoch=1, kind=k, sn=sn, seq=i) for i, (k, sn) in enumerate(rows)]

    assert epoch_faults(msgs(("Refresh", 5), ("Update", 21), ("Update", 37), ("Gap", None))) == []
    assert epoch_faults(msgs(("Refresh", 5), ("Update", 37), ("Update", 21)))
    assert epoch_faults(msgs(("Update", 21)))
    assert epoch_faults(msgs(("Refresh", 5), ("Gap", None), ("Update", 21)))
    assert epoch_faults(msgs(("Gap", None))) == []


async def test_leader_elections_leave_no_gap_in_an_epoch(nats3: NatsCluster) -> None:
    url = f"{nats3.url}?group=gapless&ttl=5&stream=GAPLESS&prefix=gapless&latest=gapless_latest"
    cfg = parse_cluster_url(url)
    opts = SimOptions(port=0, extra_rics=tuple(RICS))
    opts.server.rate = RATE
    async with SimServer(opts) as sim:
        session = sim_session(sim)
        async with session:
            worker = Worker(cfg, "g1", RICS, session)
            await worker.open()
            stop = asyncio.Event()
            task = asyncio.ensure_future(worker.run(stop))
            nc = await connect_nats(cfg)
            try:
                await wait_published(worker, 1000, 60)
                # elections in quick succession: a backlog builds, and later elections catch
                # many messages of each item on their way
                for _ in range(6):
                    await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{cfg.stream}", b"", 10)
                    await asyncio.sleep(0.5)
                await wait_published(worker, 1000, 60)
                # the node the worker is connected to: what it had sent there is lost, what
                # it sends while reconnecting goes to another node
                port = worker.nc.connected_url.port
                node = next(n for n in nats3.nodes if n.port == port)
                await asyncio.to_thread(node.kill)
                await wait_published(worker, 1500, 60)
                await asyncio.to_thread(node.start)
                await wait_published(worker, 500, 60)
            finally:
                stop.set()
                await task
                await worker.close()
                await nc.close()
            pub = worker.publisher
            assert pub is not None
    messages = await stored(cfg)
    assert len({m.ric for m in messages}) == len(RICS)
    faults = epoch_faults(messages)
    assert faults == [], f"{len(faults)} faults, first: {faults[:10]}"
    # the elections did fail publishes (else this test proved nothing)
    assert pub.retries > 0
