"""``record --cluster ... --hotstandby``: a worker streams its items on two sessions, to
two endpoints of the simulator, and publishes one de-duplicated flow. The connection of
one session is dropped (``POST /_sim/faults``) while Updates flow: the other session
carries them, and every SeqNumber step of every item is in the stream, once, in order.
In process: items handed back close on both sessions, and taken again start new epochs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from epoch_check import epoch_faults, stored
from support import own_names, start_cli_to

from ertcloud import PasswordCredentials, TokenClient, TokenManager
from ertcloud.client.standby import HotStandby, StandbySubscription
from ertcloud.cluster import Worker, parse_cluster_url
from ertcloud.sim.server import SimOptions, SimServer

RICS = [f"H{i:02d}.SIM" for i in range(20)]
RATE = 2.0  # updates per second per item


def sim_call(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def wait_for(cond: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-2000:]}")
        time.sleep(0.5)


def test_a_dropped_session_loses_no_update(nats_url: str, tmp_path: Path) -> None:
    url = f"{nats_url}?{own_names('hot')}&ttl=5"
    users = tmp_path / "users.txt"  # a user each: a login takes exclusive sign-on control
    users.write_text("hw:pw1\nwitness:pw2\n")
    sim = start_cli_to(
        ["sim", "--port", "0", "--endpoints", "2", "--rate", str(RATE),
         "--rics", ",".join(RICS), "--users-file", str(users)],
        subprocess.DEVNULL,
    )  # fmt: skip
    worker: subprocess.Popen[str] | None = None
    witness: subprocess.Popen[str] | None = None
    log = tmp_path / "worker.log"
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        faults, ports = info["faults_url"], [str(p) for p in info["ports"]]
        health_url = faults.replace("/_sim/faults", "/health")

        def login(port: str, user: str, password: str) -> list[str]:
            return ["--hostname", "127.0.0.1", "--port", port, "--auth_url", info["token_url"],
                    "--user", user, "--password", password, "--clientid", user]  # fmt: skip

        # the simulator moves only items someone subscribes to: a witness on the second
        # endpoint keeps them moving whatever happens to the worker's sessions
        witness = start_cli_to(
            ["subscribe", *RICS, "--url", f"ws://127.0.0.1:{ports[1]}/WebSocket",
             "--auth_url", info["token_url"], "--user", "witness", "--password",
             "pw2", "--clientid", "witness"],
            subprocess.DEVNULL, subprocess.DEVNULL,
        )  # fmt: skip
        with open(log, "w") as out:
            worker = start_cli_to(
                ["record", "--cluster", url, "--worker-name", "hw", *RICS,
                 "--progress-interval", "0", "--hotstandby", *login(ports[0], "hw", "pw1"),
                 "--standby-hostname", "127.0.0.1", "--standby-port", ports[1]],
                out.fileno(), out.fileno(),
            )  # fmt: skip

        def health() -> dict[str, Any]:
            h: dict[str, Any] = sim_call(health_url)
            return h

        def updates_per_item(after: float = 0.0) -> Counter[str]:
            msgs = asyncio.run(stored(url))
            return Counter(m.ric for m in msgs if m.kind == "Update" and m.ts > after)

        def each_item_has(n: int, after: float = 0.0) -> bool:
            c = updates_per_item(after)
            return len(c) == len(RICS) and min(c.values()) >= n

        wait_for(lambda: health()["endpoints"] == {"0": 1, "1": 2}, 60, "two sessions", log)
        wait_for(lambda: each_item_has(2), 60, "Updates of every item", log)
        # the first session's connection goes, and its endpoint refuses connections for 3 s
        # (a session alone would miss the Updates of 3 s: its Refresh would jump them)
        dropped_at = time.time()
        sim_call(
            faults,
            [{"fault": "refuse", "endpoint": 0, "duration": 3}, {"fault": "drop", "endpoint": 0}],
        )
        wait_for(lambda: health()["connections"] == 3, 60, "the session to reconnect", log)
        wait_for(lambda: each_item_has(3, dropped_at), 60, "Updates after the drop", log)
        assert worker.poll() is None, log.read_text()
    finally:
        if witness is not None:
            witness.kill()
            witness.wait()
        for p in (worker, sim):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if sim.stdout is not None:
            sim.stdout.close()
    msgs = asyncio.run(stored(parse_cluster_url(url)))
    # one worker, one epoch per item: the drop did not end an epoch, nor was one step lost
    assert {m.worker for m in msgs} == {"hw"}
    assert {m.ric for m in msgs if m.kind == "Refresh"} == set(RICS)
    epochs = {(m.ric, m.epoch) for m in msgs}
    assert len(epochs) == len(RICS), sorted(epochs)
    faults = epoch_faults(msgs, resync=True)
    assert faults == [], f"{len(faults)} faults, first: {faults[:10]}\n{log.read_text()[-2000:]}"


async def test_items_handed_back_close_on_both_sessions(nats_url: str) -> None:
    cfg = parse_cluster_url(f"{nats_url}?{own_names('hot-inproc')}&ttl=2")
    opts = SimOptions(port=0, endpoints=2, extra_rics=tuple(RICS))
    opts.server.rate = RATE
    async with SimServer(opts) as sim:
        tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "t"))
        base = sim.websocket_url.rsplit(":", 1)[0]
        hs = HotStandby([f"{base}:{p}/WebSocket" for p in sim.ports[:2]], tokens=tokens)
        kept, moved = RICS[:10], RICS[10:]
        async with hs:
            worker = Worker(cfg, "hi", RICS, hs)
            await worker.open()
            stop = asyncio.Event()
            task = asyncio.ensure_future(worker.run(stop))

            async def until(cond: Callable[[], bool], what: str) -> None:
                for _ in range(600):
                    if cond():
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError(f"timed out waiting for {what}")

            def open_on_both(name: str) -> bool:
                h = worker.held.get(name)
                sub = h.sub if h is not None else None
                return (
                    isinstance(sub, StandbySubscription)
                    and len(sub.legs) == 2
                    and all((s := leg.records.get(name)) is not None and s.is_open
                            for leg in sub.legs.values())
                )  # fmt: skip

            async def updated_anew() -> bool:
                msgs = await stored(cfg)
                last = {m.ric: m.epoch for m in msgs if m.kind == "Refresh"}
                return {
                    m.ric for m in msgs if m.kind == "Update" and m.epoch == last[m.ric]
                } >= set(moved)

            try:
                await until(lambda: len(worker.held) == len(RICS), "every item held")
                await until(lambda: all(open_on_both(r) for r in RICS), "two streams each")
                legs = [worker.held[r].sub for r in moved]
                worker.set_items(kept)
                await until(lambda: set(worker.held) == set(kept), "the items handed back")
                for sub in legs:
                    assert sub is not None
                    for leg in sub.legs.values():
                        assert not any(leg.records[r].is_open for r in moved)
                worker.set_items(RICS)
                await until(lambda: len(worker.held) == len(RICS), "the items taken again")
                await until(lambda: all(open_on_both(r) for r in RICS), "their new streams")
                for _ in range(120):  # an Update of each new epoch
                    if await updated_anew():
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError("no Update in the new epochs")
            finally:
                stop.set()
                await task
                await worker.close()
        await tokens.client.close()
    msgs = await stored(cfg)
    epochs = Counter(r for r, _ in {(m.ric, m.epoch) for m in msgs})
    assert all(epochs[r] == 2 for r in moved) and all(epochs[r] == 1 for r in kept), epochs
    faults = epoch_faults(msgs, resync=True)
    assert faults == [], f"{len(faults)} faults, first: {faults[:10]}"
