"""``record --cluster ... --hotstandby``: a worker streams its items on two sessions, to
two endpoints of the simulator, and publishes one de-duplicated flow. The connection of
one session is dropped (``POST /_sim/faults``) while Updates flow: the other session
carries them, and every SeqNumber step of every item is in the stream, once, in order.
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
from support import cli_env, ertcloud_cmd, own_names

from ertcloud.cluster import parse_cluster_url

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
    sim = subprocess.Popen(
        ertcloud_cmd("sim", "--port", "0", "--endpoints", "2", "--rate", str(RATE),
                     "--rics", ",".join(RICS), "--users-file", str(users)),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(),
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
        witness = subprocess.Popen(
            ertcloud_cmd("subscribe", *RICS, "--url", f"ws://127.0.0.1:{ports[1]}/WebSocket",
                         "--auth_url", info["token_url"], "--user", "witness", "--password",
                         "pw2", "--clientid", "witness"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=cli_env(),
        )  # fmt: skip
        with open(log, "w") as out:
            worker = subprocess.Popen(
                ertcloud_cmd(
                    "record", "--cluster", url, "--worker-name", "hw", *RICS,
                    "--progress-interval", "0", "--hotstandby", *login(ports[0], "hw", "pw1"),
                    "--standby-hostname", "127.0.0.1", "--standby-port", ports[1],
                ),
                stdout=out, stderr=subprocess.STDOUT, text=True, env=cli_env(),
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
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
        if sim.stdout is not None:
            sim.stdout.close()
    msgs = asyncio.run(stored(parse_cluster_url(url)))
    # one worker, one epoch per item: the drop did not end an epoch, nor was one step lost
    assert {m.worker for m in msgs} == {"hw"}
    assert Counter(m.ric for m in msgs if m.kind == "Refresh" and m.sn is not None)
    epochs = {(m.ric, m.epoch) for m in msgs}
    assert len(epochs) == len(RICS), sorted(epochs)
    faults = epoch_faults(msgs, resync=True)
    assert faults == [], f"{len(faults)} faults, first: {faults[:10]}\n{log.read_text()[-2000:]}"
