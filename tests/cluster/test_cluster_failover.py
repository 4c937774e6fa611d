"""Three workers share a thousand simulated items over a three-node NATS JetStream
cluster (R3 stream and buckets); then a fourth joins, one is killed with SIGKILL, a
consumer started late catches up and follows live, and a NATS node is killed with SIGKILL.

The simulator numbers each item's Updates in fixed steps, the same for every client, so
the stream shows what was lost: within one owner's epoch (from its Refresh on) every
Update sent must be stored, once and in order (``epoch_check``).

The tests of this file run in order on one module-wide setup.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from epoch_check import epoch_faults, last_seq, stored
from nats_cluster import NatsCluster
from support import SimProcess, run_cli, start_cli_to

from ertcloud.cluster import consume, parse_cluster_url
from ertcloud.cluster.connect import connect_nats
from ertcloud.cluster.lease import LeaseTable
from ertcloud.cluster.rendezvous import owner

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

N_ITEMS = 1000
RATE = 0.3  # updates per second per item, round robin: 300 messages/s in all
TTL = 3.0  # lease lifetime; the handover bound is the issue's, not a function of it
HANDOVER_BOUND = 10.0
RICS = [f"C{i:04d}.SIM" for i in range(N_ITEMS)]


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.nats = NatsCluster()
        self.sim: SimProcess | None = None
        self.workers: dict[str, subprocess.Popen[str]] = {}
        self.url = ""
        self.items_file = tmp / "items.txt"
        self.items_file.write_text("\n".join(RICS) + "\n")
        self.killed_at: dict[str, float] = {}

    def start(self) -> None:
        self.nats.start()
        self.url = f"{self.nats.url}?group=t&ttl={TTL:g}"
        # one machine ID per worker, as the service's exclusive sign-on requires
        users = self.tmp / "users.txt"
        users.write_text("".join(f"w{i}:pw{i}\n" for i in range(1, 6)))
        proc = start_cli_to(
            ["sim", "--port", "0", "--rate", str(RATE), "--rics", ",".join(RICS),
             "--users-file", str(users)],
            subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        import json

        line = proc.stdout.readline()
        self.sim = SimProcess(proc, json.loads(line))
        for name in ("w1", "w2", "w3"):
            self.start_worker(name)

    def start_worker(self, name: str) -> None:
        assert self.sim is not None
        with open(self.tmp / f"{name}.log", "w") as log:
            self.workers[name] = start_cli_to(
                ["record", "--cluster", self.url, "--worker-name", name,
                 "--items-file", str(self.items_file), "--progress-interval", "0",
                 *self.sim.client_args(), "--user", name, "--password", f"pw{name[1:]}"],
                log.fileno(), log.fileno(),
            )  # fmt: skip

    def kill_worker(self, name: str) -> None:
        p = self.workers[name]
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.killed_at[name] = time.monotonic()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        # killed, not stopped: a graceful leave (every lease released, on a cluster that
        # lost a node) is not what this tier checks, and it can take seconds
        for p in self.workers.values():
            if p.poll() is None:
                p.kill()
        for p in self.workers.values():
            p.wait()
        if self.sim is not None:
            self.sim.stop()
            if self.sim.proc.stdout is not None:
                self.sim.proc.stdout.close()
        self.nats.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    s = Setup(tmp_path_factory.mktemp("cluster"))
    try:
        s.start()
        yield s
    finally:
        s.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def owners(url: str, attempts: int = 3) -> dict[str, str]:
    """The lease owners, read as an observer; a request of the observer's own that times out
    on the loaded machine is asked again."""
    from nats.errors import TimeoutError as NatsTimeout  # not at collection: every worker collects

    cfg = parse_cluster_url(url)
    for attempt in range(attempts):
        nc = await connect_nats(cfg)
        try:
            table = LeaseTable(nc.jetstream(timeout=10), cfg, "", 1)
            await table.open()
            return await table.owners()
        except NatsTimeout:
            if attempt == attempts - 1:
                raise
        finally:
            await nc.close()
    raise AssertionError("unreachable")


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def ric_of(key: str) -> str:
    return key.split(".", 2)[2].replace("_", ".")


def all_owned_by(
    url: str, live: set[str], least: float = 0.0, settled: bool = False
) -> dict[str, str] | None:
    """The owners once every item has one of ``live`` and each of them has items (at
    least ``least`` of them all: a joining worker claims its share over a few rounds, as
    the others release it); with ``settled``, once each item has the owner that
    rendezvous hashing gives it among ``live`` (a share seen part-way, with items still
    on their way from a worker that started earlier, is not a state to compare with)."""
    o = run(owners(url))
    counts = Counter(o.values())
    if len(o) == N_ITEMS and set(counts) == live and min(counts.values()) > least * N_ITEMS:
        if not settled or all(owner(ric_of(k), live) == w for k, w in o.items()):
            return o
    return None


def wait_owned(
    setup: Setup,
    live: set[str],
    timeout: float,
    what: str,
    least: float = 0.0,
    settled: bool = False,
) -> dict[str, str]:
    """``all_owned_by``, waited for; on time-out the owners and the workers' logs."""
    try:
        o: dict[str, str] = wait_for(
            lambda: all_owned_by(setup.url, live, least, settled), timeout, what, 0.5
        )
        return o
    except AssertionError as exc:
        o = run(owners(setup.url))
        raise AssertionError(
            f"{exc}\nowners: {Counter(o.values())}\n"
            + "\n".join(f"{w}: {setup.log(w)[-1500:]}" for w in setup.workers)
        ) from None


def test_three_workers_share_the_items(setup: Setup) -> None:
    o = wait_owned(setup, {"w1", "w2", "w3"}, 60, "3-way share", least=0.2, settled=True)
    counts = Counter(o.values())
    assert set(counts) == {"w1", "w2", "w3"}, counts
    for n in counts.values():
        assert 0.2 * N_ITEMS < n < 0.47 * N_ITEMS, counts


def test_a_fourth_worker_takes_about_a_quarter(setup: Setup) -> None:
    # the share settled again first: a lease lost on the loaded machine and taken back
    # moves items between the three for a while
    before = wait_owned(setup, {"w1", "w2", "w3"}, 60, "3-way share", settled=True)
    setup.start_worker("w4")
    every = {"w1", "w2", "w3", "w4"}

    after = wait_owned(setup, every, 60, "w4 to take its share", least=0.15, settled=True)
    moved = {k for k in after if after[k] != before.get(k)}
    assert all(after[k] == "w4" for k in moved), "only items won by the new worker move"
    n4 = Counter(after.values())["w4"]
    assert 0.15 * N_ITEMS < n4 < 0.35 * N_ITEMS, n4
    assert len(after) == N_ITEMS  # one owner each: one key per item


def test_killed_worker_items_move_within_the_bound(setup: Setup) -> None:
    before = run(owners(setup.url))
    held = {k for k, w in before.items() if w == "w2"}
    assert held, (Counter(before.values()), setup.log("w2")[-2000:])
    since = run(last_seq(setup.url)) + 1
    setup.kill_worker("w2")
    t0 = setup.killed_at["w2"]
    o = wait_owned(setup, {"w1", "w3", "w4"}, 30, "w2's items to move")
    took = time.monotonic() - t0
    assert took < HANDOVER_BOUND, f"handover took {took:.1f} s"
    assert {o[k] for k in held} <= {"w1", "w3", "w4"}
    # each moved item's new epoch reaches the stream: its Refresh, then its Updates
    moved = {ric_of(k) for k in held}
    try:
        msgs = run(asyncio.wait_for(new_epochs(setup.url, since, moved), 60))
    except asyncio.TimeoutError:
        raise AssertionError(
            "the new owners' epochs did not reach the stream\n"
            + "\n".join(setup.log(w)[-600:] for w in setup.workers)
        ) from None
    assert epoch_faults(msgs) == []


async def new_epochs(url: str, since: int, rics: set[str]) -> list[Any]:
    """The messages of ``rics`` from stream sequence ``since`` on, read until each of them
    has an epoch of a new owner with its Refresh and an Update."""
    waiting = set(rics)
    refreshed: set[tuple[str, int | None]] = set()
    out = []
    async with aclosing(consume(parse_cluster_url(url), start=since)) as messages:
        async for m in messages:
            if m.ric not in rics or m.worker == "w2":
                continue
            out.append(m)
            if m.kind == "Refresh":
                refreshed.add((m.ric, m.epoch))
            elif m.kind == "Update" and (m.ric, m.epoch) in refreshed:
                waiting.discard(m.ric)
                if not waiting:
                    return out
    return out


def test_late_consumer_catches_up_then_follows_live(setup: Setup) -> None:
    progress = {"n": 0, "last": 0, "seq": 0}

    async def late() -> tuple[int, int, int]:
        cfg = parse_cluster_url(setup.url)
        nc = await connect_nats(cfg)
        try:
            last = (await nc.jetstream(timeout=10).stream_info(cfg.stream)).state.last_seq
        finally:
            await nc.close()
        n, prev, live = 0, 0, 0
        async with aclosing(consume(cfg, start="all")) as messages:
            async for m in messages:
                assert m.seq > prev  # in stream order, hence in order per item
                prev = m.seq
                n += 1
                progress.update(n=n, last=last, seq=prev)
                if m.seq > last:
                    live += 1
                    if live >= 50:
                        break
        return n, last, prev

    try:
        n, last, prev = run(asyncio.wait_for(late(), 60))
    except asyncio.TimeoutError:
        now = run(stored(setup.url))[-1].seq
        logs = "\n".join(setup.log(w)[-600:] for w in setup.workers)
        raise AssertionError(f"consumer stalled: {progress}, stream now {now}\n{logs}") from None
    assert n >= last and prev > last

    out = run_cli(
        "subscribe", "--from", setup.url, "*", "--start", "all", "--count", "5", timeout=60
    )
    assert out.returncode == 0, out.stderr
    import json

    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]


def test_killed_nats_node_loses_nothing_acknowledged(setup: Setup) -> None:
    before = run(stored(setup.url))
    setup.nats.nodes[0].kill()
    # once the survivors answer (they elect new leaders, the workers reconnect): not the
    # count of ``before``, which publishing went past while it was being read
    target = run(last_seq(setup.url)) + 2 * RATE * N_ITEMS

    def published_on() -> bool:  # the survivors elect new leaders, the workers reconnect
        return run(last_seq(setup.url)) > target

    wait_for(published_on, 60, "publishing to go on")
    after = run(stored(setup.url))
    # every message stored before the failure is still there, in the same place
    assert [(m.seq, m.ric, m.sn) for m in after[: len(before)]] == [
        (m.seq, m.ric, m.sn) for m in before
    ]
    assert len(after) > len(before) + RATE * N_ITEMS  # publishing went on
    # nothing the simulator sent during the elections is missing from its epoch
    assert epoch_faults(after) == []
    for name in ("w1", "w3", "w4"):
        assert setup.workers[name].poll() is None, setup.log(name)
