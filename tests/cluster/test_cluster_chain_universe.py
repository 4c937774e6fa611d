"""A chain as the item universe of a cluster group: two workers in this process, each on
its own session to the in-process simulator, share the constituents of ``0#.DJI`` and
follow them as the chain churns; a chain that does not exist is a one-line error."""

from __future__ import annotations

import asyncio

from epoch_check import sim_session
from support import own_names, run_cli, until

from ertcloud.cluster import Worker, parse_cluster_url
from ertcloud.cluster.universe import ChainUniverse
from ertcloud.sim.server import SimOptions, SimServer


async def test_workers_share_a_chain_and_follow_its_changes(nats_url: str) -> None:
    url = f"{nats_url}?group=chainu&ttl=2&stream=CHAINU&prefix=chainu&latest=chainu_latest"
    cfg = parse_cluster_url(url)
    opts = SimOptions(port=0)
    opts.server.chain_churn = 0.0
    async with SimServer(opts) as sim:
        chains = sim.streaming.chains
        sessions = [sim_session(sim) for _ in range(2)]
        workers = [Worker(cfg, f"cw{i}", [], s) for i, s in enumerate(sessions)]
        universes: list[ChainUniverse] = []
        tasks: list[asyncio.Future[None]] = []
        stop = asyncio.Event()

        def held() -> list[str]:
            return sorted(r for w in workers for r in w.held)

        try:
            for w, s in zip(workers, sessions, strict=True):
                await s.start()
                await w.open()
                u = ChainUniverse(w, s, ["0#.DJI"])
                await u.start()
                universes.append(u)
            for w in workers:
                tasks.append(asyncio.ensure_future(w.run(stop)))
            want = chains.constituents("0#.DJI")
            assert all(w.rics == want for w in workers)
            await until(
                lambda: held() == sorted(want) and all(len(w.members) == 2 for w in workers),
                20,
                "the constituents shared by both workers",
            )
            assert all(w.held for w in workers)  # each holds a share, none twice (sorted ==)

            cfg_sim = sim.streaming.config
            rate = cfg_sim.rate
            cfg_sim.chain_churn, cfg_sim.rate = 1.0, 30  # every chain record tick changes a link
            await until(
                lambda: set(chains.constituents("0#.DJI")) != set(want), 20, "a churned link"
            )
            cfg_sim.chain_churn, cfg_sim.rate = 0.0, rate  # the chain stays as it is now
            new = chains.constituents("0#.DJI")
            assert set(new) != set(want)
            await until(
                lambda: all(w.rics == new for w in workers) and held() == sorted(new),
                20,
                "the workers following the churned chain",
            )
            assert all(u.changes >= 2 for u in universes)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for u in universes:
                await u.close()
            for w in workers:
                await w.close()
            for s in sessions:
                await s.close()


def test_a_chain_that_does_not_exist_is_a_one_line_error(nats_url: str) -> None:
    out = run_cli(
        "record", "--cluster", f"{nats_url}?{own_names('nochain')}", "--chain", "0#NOPE",
        "--duration", "5", "--progress-interval", "0", timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    errors = [ln for ln in out.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, out.stderr  # (the line before says the simulator is used)
    assert errors[0].startswith("ertcloud: error: 0#NOPE is not an available chain record")
    assert "Traceback" not in out.stderr


def test_chain_without_cluster_is_a_one_line_error() -> None:
    out = run_cli("record", "--chain", "0#.DJI", "--duration", "1", timeout=60)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [
        "ertcloud: error: --chain needs --cluster (a chain is the item universe of a group)"
    ], out.stderr


def test_record_cluster_chain_worker_shares_the_constituents(nats_url: str) -> None:
    out = run_cli(
        "record", "--cluster", f"{nats_url}?{own_names('cli-chain')}", "--worker-name", "c1",
        "--chain", "0#.DJI", "TRI.N", "--duration", "3", "--progress-interval", "0", timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    sharing = [ln for ln in out.stderr.splitlines() if "worker c1 of group cli-chain" in ln]
    # the Dow's constituents (about 30: the embedded simulator's chain churns) and TRI.N
    assert sharing and 20 < int(sharing[0].split("sharing ")[1].split()[0]) < 40, out.stderr
    stopped = [ln for ln in out.stderr.splitlines() if "worker c1 stopped: " in ln]
    assert stopped and int(stopped[0].split(": ")[-1].split()[0]) > 0, out.stderr
