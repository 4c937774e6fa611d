"""What a consumer of the cluster's stream may rely on, as a check for the tests (with the
helpers to read the stream back and to open a session on an in-process simulator): in
stream order, each (RIC, epoch) reads a Refresh, then Updates each one simulator step
after the one before (or, for an Update the service conflated because the worker read
slowly, as many steps as its ``ConflationInfo`` counts), and at most a ``Gap`` marker at
the end (alone, when not even the Refresh of the epoch was stored)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

from ertcloud import connect
from ertcloud.client.session import Session
from ertcloud.cluster import Worker, consume, parse_cluster_url
from ertcloud.cluster.config import ClusterConfig
from ertcloud.cluster.connect import connect_nats
from ertcloud.sim.server import SimOptions, SimServer

SIM_SEQ_STEP = 16  # the simulator's SeqNumber step between two Updates of an item


def epoch_faults(messages: list[Any], resync: bool = False) -> list[str]:
    """Where a (RIC, epoch) in stream order does not read Refresh, Update +1 step, ...,
    [Gap]. With ``resync``, a later Refresh may stand for the step it is at (a hot
    standby's session that came back passes its Refresh on when it is the newer image)."""
    last: dict[tuple[str, int], tuple[str, int | None]] = {}
    bad: list[str] = []
    for m in messages:
        k = (m.ric, m.epoch)
        prev = last.get(k)
        if prev is None:
            if m.kind not in ("Refresh", "Gap"):
                bad.append(f"{k}: epoch starts with {m.kind} {m.sn} (seq {m.seq})")
        elif prev[0] == "Gap":
            bad.append(f"{k}: {m.kind} {m.sn} after the Gap marker (seq {m.seq})")
        elif m.kind == "Update":
            assert prev[1] is not None and m.sn is not None
            if m.sn != prev[1] + SIM_SEQ_STEP * merged(m):
                bad.append(f"{k}: Update {m.sn} after {prev[0]} {prev[1]} (seq {m.seq})")
        elif resync and m.kind == "Refresh" and prev[1] is not None:
            if m.sn not in (prev[1], prev[1] + SIM_SEQ_STEP):
                bad.append(f"{k}: Refresh {m.sn} after {prev[0]} {prev[1]} (seq {m.seq})")
        elif m.kind != "Gap":
            bad.append(f"{k}: a second {m.kind} (seq {m.seq})")
        last[k] = (m.kind, m.sn if m.kind != "Gap" else prev[1] if prev else None)
    return bad


def merged(m: Any) -> int:
    """How many of the service's Updates a stored Update stands for."""
    raw = (getattr(m, "body", None) or {}).get("raw")
    info = json.loads(raw).get("ConflationInfo") if raw else None
    return int(info.get("Count", 1)) if info else 1


async def last_seq(cluster: str | ClusterConfig, patience: float = 60) -> int:
    """The stream's last sequence number, asked again while the cluster has no leader for
    it (after a node died, on a busy machine, that can take a while): in short tries, so
    that the answer comes soon after the new leader does."""
    cfg = parse_cluster_url(cluster) if isinstance(cluster, str) else cluster
    nc = await connect_nats(cfg)
    try:
        deadline = time.monotonic() + patience
        while True:
            try:
                info = await nc.jetstream(timeout=2).stream_info(cfg.stream)
                return int(info.state.last_seq)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def stored(cluster: str | ClusterConfig, patience: float = 60) -> list[Any]:
    """Every message in the stream, in stream order (read again from the start when the
    consumer cannot be created yet, as while the stream has no leader)."""
    cfg = parse_cluster_url(cluster) if isinstance(cluster, str) else cluster
    last = await last_seq(cfg)
    deadline = time.monotonic() + patience
    while True:
        out = []
        try:
            async with aclosing(consume(cfg, start="all")) as messages:
                async for m in messages:
                    out.append(m)
                    if m.seq >= last:
                        return out
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


@asynccontextmanager
async def sim_worker(
    cfg: ClusterConfig, rics: list[str], rate: float, name: str = "solo"
) -> AsyncIterator[Worker]:
    """A worker, opened but not running, on its own session to an in-process simulator
    whose ``rics`` tick ``rate`` times a second; closed at the end."""
    opts = SimOptions(port=0, extra_rics=tuple(rics))
    opts.server.rate = rate
    async with SimServer(opts) as sim:
        session = sim_session(sim)
        async with session:
            worker = Worker(cfg, name, rics, session)
            await worker.open()
            try:
                yield worker
            finally:
                await worker.close()


def sim_session(sim: Any) -> Session:
    """A session (not started) on an in-process simulator."""
    return connect(
        sim.websocket_url, token_url=sim.token_url, user="demo", password="demo", client_id="t"
    )
