"""A worker watches the lease bucket: when another worker's name is written on the lease of
an item it holds (a worker that judged it gone), it stops the item at once, not at its next
rebalancing round nor by fencing (its own lease is fresh); also when the write comes while
its claim of the item is on its way. One worker in this process, rounds driven by hand,
against the in-process simulator and a single NATS server."""

from __future__ import annotations

import time
from typing import Any

from epoch_check import epoch_faults, sim_worker, stored
from support import own_names, until

from ertcloud.client.subscription import Subscription
from ertcloud.cluster import owner, parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.cluster.lease import LeaseTable, item_key

RICS = [f"W{i:02d}.SIM" for i in range(12)]


async def test_an_item_whose_lease_moves_stops_at_once(nats_url: str) -> None:
    # a long TTL: no heartbeat nor fencing happens during the test, rounds only by hand
    cfg = parse_cluster_url(f"{nats_url}?{own_names('leasewatch')}&ttl=60")
    async with sim_worker(cfg, RICS, 10.0) as worker:
        nc = await connect_nats(cfg)
        try:
            await worker.step()
            assert set(worker.held) == set(RICS)
            await until(lambda: worker.stats.messages > 3 * len(RICS), 30, "messages")
            thief = LeaseTable(nc.jetstream(timeout=10), cfg, "thief", 1)
            await thief.open()
            await thief.join({"name": "thief"})  # a live worker: the lease stays its own
            kv = thief.owners_kv
            # items that stay the worker's by rendezvous hashing with the thief there
            victim, raced = [r for r in RICS if owner(r, {"solo", "thief"}) == "solo"][:2]
            old = worker.held[victim]
            sub = old.sub
            assert isinstance(sub, Subscription) and sub.records[victim].is_open
            key = item_key("MarketPrice", victim)
            entry = await kv.get(key)
            assert entry.value == b"solo" and entry.revision == old.epoch
            await kv.update(key, b"thief", last=entry.revision)
            await until(lambda: victim not in worker.held, 10, "the item to stop")
            stopped_at = time.time()
            assert worker.stats.taken == 1
            assert not sub.records[victim].is_open  # its stream is closed on the session
            assert all(sub.records[r].is_open for r in RICS if r != victim)

            # a lease taken while the worker's claim of it is on its way
            leases = worker.leases
            assert leases is not None
            claim = leases.claim

            async def claim_then_taken(k: str, *args: Any) -> int | None:
                epoch = await claim(k, *args)
                if k == item_key("MarketPrice", raced) and epoch is not None:
                    await kv.update(k, b"thief", last=epoch)
                    await until(lambda: worker._claiming.get(k, 0) > epoch, 10, "the write")
                return epoch

            worker.set_items([r for r in RICS if r != raced])
            await worker.step()  # gives the raced item back
            assert raced not in worker.held
            leases.claim = claim_then_taken  # type: ignore[method-assign]
            worker.set_items(RICS)
            await worker.step()
            leases.claim = claim  # type: ignore[method-assign]
            assert raced not in worker.held and worker.stats.taken == 2
            # the next round does not take them back: their holder is alive
            await worker.step()
            assert victim not in worker.held and raced not in worker.held
            assert all(r in worker.held for r in RICS if owner(r, {"solo", "thief"}) == "solo"
                       and r not in (victim, raced))  # fmt: skip
            owners = await thief.owners()
            assert owners[key] == owners[item_key("MarketPrice", raced)] == "thief"
            kept = next(r for r in worker.held if r not in (victim, raced))
            n = worker.stats.messages
            await until(lambda: worker.stats.messages > n + 2 * len(worker.held), 30, "more")
        finally:
            await worker.close()
            await nc.close()
    msgs = await stored(cfg)
    # nothing the worker received of the item after it stopped went to the stream
    late = [m for m in msgs if m.ric == victim and m.epoch == old.epoch and m.ts > stopped_at]
    assert late == [], late
    assert any(m.ric == kept and m.ts > stopped_at for m in msgs)
    assert epoch_faults(msgs) == []


async def test_leases_a_worker_no_longer_streams_are_given_up(nats_url: str) -> None:
    """A worker that dropped its items (its lease lapsed) gives their leases up when it is
    back, and a new process of the same name gives up those its predecessor left: while it
    is a member, no other worker may take them, so they would stay unstreamed for good."""
    cfg = parse_cluster_url(f"{nats_url}?{own_names('orphans')}&ttl=60")
    nc = await connect_nats(cfg)
    try:
        other = LeaseTable(nc.jetstream(timeout=10), cfg, "other", 1)
        theirs = {r for r in RICS if owner(r, {"solo", "other"}) == "other"}
        async with sim_worker(cfg, RICS, 10.0) as worker:
            await worker.step()  # alone: every item
            assert set(worker.held) == set(RICS)
            await other.open()
            await other.join({"name": "other"})
            leases = worker.leases
            assert leases is not None
            leases.lapsed = True  # its member key expired between two renewals
            await worker.step()  # fenced: every item dropped; a member again
            assert not worker.held and not leases.lapsed
            await worker.step()  # gives up what it does not stream, claims its share
            assert set(worker.held) == set(RICS) - theirs
            for r in theirs:
                assert await other.claim(item_key("MarketPrice", r), {"solo", "other"})
            # SIGKILL: its member key expires, its leases stay
            kept = {item_key("MarketPrice", r) for r in worker.held}
            await leases.leave()
            worker.held.clear()
        assert {k for k, w in (await other.owners()).items() if w == "solo"} == kept
        async with sim_worker(cfg, [], 10.0) as again:  # nothing is its share now
            assert set(again._orphans) == kept
            await again.step()
            assert "solo" not in (await other.owners()).values()
    finally:
        await nc.close()
