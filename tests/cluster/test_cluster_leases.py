"""Rendezvous hashing (properties), cluster URLs, and the one-line errors of bad input:
an unreachable NATS, a bucket of another group, two workers of the same name."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import run_cli

from ertcloud.cluster import assign, owner, parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.cluster.lease import LeaseTable
from ertcloud.exceptions import ConfigError

names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)


@pytest.mark.unit
@settings(max_examples=50, deadline=None)
@given(st.sets(names, min_size=1, max_size=6), names)
def test_a_new_worker_only_takes_items(workers: set[str], new: str) -> None:
    items = [f"R{i}.X" for i in range(300)]
    before = assign(items, workers)
    after = assign(items, workers | {new})
    assert all(after[i] in (before[i], new) for i in items)


@pytest.mark.unit
@settings(max_examples=50, deadline=None)
@given(st.sets(names, min_size=2, max_size=6))
def test_a_leaving_worker_only_gives_its_own_items(workers: set[str]) -> None:
    items = [f"R{i}.X" for i in range(300)]
    gone = sorted(workers)[0]
    before = assign(items, workers)
    after = assign(items, workers - {gone})
    assert all(after[i] == before[i] for i in items if before[i] != gone)


@pytest.mark.unit
def test_shares_are_balanced() -> None:
    items = [f"C{i:04d}.SIM" for i in range(4000)]
    counts = Counter(assign(items, ["w1", "w2", "w3", "w4"]).values())
    assert all(800 < n < 1200 for n in counts.values()), counts
    assert owner("x", []) is None


@pytest.mark.unit
def test_cluster_urls() -> None:
    cfg = parse_cluster_url("nats://u:p@h1:1,h2:2?group=g&ttl=3&replicas=3")
    assert cfg.servers == ("nats://u:p@h1:1", "nats://u:p@h2:2")
    assert (cfg.group, cfg.ttl, cfg.replicas, cfg.lease_bucket) == ("g", 3.0, 3, "ertcloud_g")
    assert "p@" not in cfg.display
    for bad in ("http://h:1", "nats://h:1?ttl=0.1", "nats://h:1?color=red", "nats://h?group=a b"):
        with pytest.raises(ConfigError):
            parse_cluster_url(bad)


def test_unreachable_nats_is_one_line() -> None:
    out = run_cli("cluster", "status", "nats://127.0.0.1:1", timeout=60)
    assert out.returncode == 2
    assert (
        out.stderr.strip().splitlines() == [out.stderr.strip()]
        and "cannot reach NATS at nats://127.0.0.1:1" in out.stderr
    )


async def test_bucket_of_another_group_and_duplicate_names(nats_url: str) -> None:
    a = parse_cluster_url(f"{nats_url}?group=alpha&bucket=shared_leases&ttl=30")
    b = parse_cluster_url(f"{nats_url}?group=beta&bucket=shared_leases&ttl=30")
    nc = await connect_nats(a)
    try:
        js = nc.jetstream()
        first = LeaseTable(js, a, "w1", 1)
        await first.open()
        await first.join({})
        twin = LeaseTable(js, a, "w1", 1)
        await twin.open()
        with pytest.raises(ConfigError, match="already running"):
            await twin.join({})
        with pytest.raises(ConfigError, match="belongs to cluster group 'alpha'"):
            await LeaseTable(js, b, "w2", 1).open()
        other = LeaseTable(js, a, "w2", 1)
        await other.open()
        await other.join({})
        key = "i.MarketPrice.X"
        epoch = await first.claim(key, {"w1", "w2"})
        assert epoch is not None
        assert await other.claim(key, {"w1", "w2"}) is None  # held by a live worker
        # w1 joined after the round's members were read: asked for again, not taken
        assert await other.claim(key, {"w2"}) is None
        await first.leave()
        assert await other.claim(key, {"w2"}) is not None  # w1 no longer a member
        assert await first.owners() == {key: "w2"}
    finally:
        await nc.close()


async def test_a_member_key_that_expired_between_renewals_is_noticed(nats_url: str) -> None:
    """A renewal late enough for the key to expire (the others may have taken the items
    meanwhile) is not a silent re-creation: the worker learns its lease lapsed."""
    import asyncio

    cfg = parse_cluster_url(f"{nats_url}?group=lapse&ttl=1")
    nc = await connect_nats(cfg)
    try:
        table = LeaseTable(nc.jetstream(timeout=10), cfg, "late", 1)
        await table.open()
        await table.join({"name": "late"})
        await table.renew({"name": "late"})
        assert not table.lapsed
        for _ in range(100):  # the server drops the key a TTL after the last write
            if "late" not in await table.members():
                break
            await asyncio.sleep(0.1)
        assert "late" not in await table.members()
        await table.renew({"name": "late"})
        assert table.lapsed
        assert "late" not in await table.members()  # not re-created behind the worker's back
        await table.rejoin({"name": "late"})
        assert not table.lapsed and "late" in await table.members()
        await table.renew({"name": "late"})
        assert not table.lapsed
    finally:
        await nc.close()
