"""Load and soak: many connections with many items, and a large client across a restart.

``python -m benchmarks.load`` (long form: 200 connections x 1,000 items, a 50,000-item
client across a simulator restart) or with smaller ``--clients/--items/--restart-items``
(the CI form in ``tests/reliability``). The simulator of the *hold* phase runs as a real
``ertcloud sim`` process; the restart phase runs it in this process so that it can be
stopped and started again on the same port. Prints what was tried and what survived; the
last line is one JSON object. Exit status 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer

__all__ = ["hold", "main", "restart"]


def rics(n: int, prefix: str = "LD") -> list[str]:
    return [f"{prefix}{i:05d}.N" for i in range(n)]


def _session(ws_url: str, token_url: str, user: str, password: str, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(token_url), PasswordCredentials(user, password, "load"))
    return Session(ws_url, tokens=tokens, connect_timeout=120.0, **kw)


async def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _start_sim(
    tmp: str, users: dict[str, str], names: list[str], rate: float
) -> subprocess.Popen[str]:
    users_file = os.path.join(tmp, "users.json")
    with open(users_file, "w") as f:
        json.dump(users, f)
    args = ["--port", "0", "--users-file", users_file, "--rics", ",".join(names)]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ertcloud",
            "sim",
            *args,
            "--rate",
            str(rate),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


async def hold(clients: int, items: int, duration: float, rate: float = 0.05) -> dict[str, Any]:
    """``clients`` connections with ``items`` items each to an ``ertcloud sim`` process."""
    names = rics(items)
    users = {f"load{i}": f"pw{i}" for i in range(clients)}
    with tempfile.TemporaryDirectory() as tmp:
        proc = _start_sim(tmp, users, names, rate)
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            return await _hold(info, users, names, duration)
        finally:
            proc.terminate()
            proc.wait(30)


async def _hold(
    info: dict[str, Any], users: dict[str, str], names: list[str], duration: float
) -> dict[str, Any]:
    violations = 0

    def on_event(ev: Any) -> None:
        nonlocal violations
        if type(ev).__name__ == "ProtocolViolation":
            violations += 1

    sessions = [
        _session(info["websocket_url"], info["token_url"], u, p, on_event=on_event)
        for u, p in users.items()
    ]
    try:
        return await _hold_sessions(info, sessions, names, duration, lambda: violations)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))


async def _hold_sessions(
    info: dict[str, Any],
    sessions: list[Session],
    names: list[str],
    duration: float,
    violations: Any,
) -> dict[str, Any]:
    t0 = time.monotonic()
    # connect in waves: a burst of logins is not what is being measured
    for i in range(0, len(sessions), 20):
        await asyncio.gather(*(s.start() for s in sessions[i : i + 20]))
    subs = [s.subscribe(names, queue=False, on_update=lambda e: None) for s in sessions]
    complete = await _wait(lambda: all(st.refreshes > 0 for sub in subs for st in sub.streams), 600)
    setup = time.monotonic() - t0
    updates0 = sum(st.updates for sub in subs for st in sub.streams)
    await asyncio.sleep(duration)
    async with aiohttp.ClientSession() as http:
        health_url = info["token_url"].split("/auth/")[0] + "/health"
        async with http.get(health_url) as r:
            health = await r.json()
    updates = sum(st.updates for sub in subs for st in sub.streams) - updates0
    open_streams = sum(1 for sub in subs for st in sub.streams if st.data_ok and st.is_open)
    # proof by sample: cached images equal fresh snapshots
    sample = random.Random(1).sample(range(len(sessions)), min(5, len(sessions)))
    mismatches = 0
    for i in sample:
        s = sessions[i]
        reports = await s.verify(subs[i].streams[0])
        mismatches += sum(1 for r in reports if not r.ok)
    reconnects = sum(s.reconnects for s in sessions)
    gaps = sum(s.integrity.gaps for s in sessions)
    streams = len(sessions) * len(names)
    return {
        "phase": "hold",
        "connections": len(sessions),
        "connections_seen_by_server": health.get("connections"),
        "items_per_connection": len(names),
        "streams": streams,
        "streams_open_ok": open_streams,
        "all_refreshed": complete,
        "setup_s": round(setup, 1),
        "held_s": duration,
        "updates_delivered": updates,
        "reconnects": reconnects,
        "protocol_violations": violations(),
        "sequence_gaps": gaps,
        "verify_mismatches": mismatches,
        "ok": complete
        and open_streams == streams
        and reconnects == 0
        and violations() == 0
        and mismatches == 0
        and health.get("connections") == len(sessions),
    }


async def restart(items: int, timeout: float = 300.0) -> dict[str, Any]:
    """A client with ``items`` items survives a simulator restart on the same port."""
    names = rics(items, prefix="RS")
    opts = SimOptions(port=0, extra_rics=tuple(names), server=ServerConfig(rate=0.02))
    recovered: list[float] = []
    t0 = time.monotonic()
    sim = SimServer(opts)
    await sim.__aenter__()
    port = sim.port
    session = _session(sim.websocket_url, sim.token_url, "demo", "demo")
    session.on_recovered = lambda s: recovered.append(time.monotonic())
    await session.start()
    try:
        sub = session.subscribe(names, queue=False, on_update=lambda e: None)
        first = await _wait(lambda: all(st.refreshes >= 1 for st in sub.streams), timeout)
        setup = time.monotonic() - t0
        await sim.__aexit__(None, None, None)
        down = time.monotonic()
        sim = SimServer(SimOptions(**{**opts.__dict__, "port": port}))
        await sim.__aenter__()
        again = await _wait(
            lambda: bool(recovered) and all(st.refreshes >= 2 for st in sub.streams), timeout
        )
        back = time.monotonic() - down
        sim.streaming.config.rate = 0
        await asyncio.sleep(1.0)
        market = sim.market
        mismatched = sum(
            1
            for st in sub.streams
            if st.fields != market.get(st.name).image  # type: ignore[union-attr]
        )
        open_ok = sum(1 for st in sub.streams if st.is_open and st.data_ok)
        return {
            "phase": "restart",
            "items": items,
            "refreshed_before": first,
            "setup_s": round(setup, 1),
            "recovered": bool(recovered),
            "all_rerequested": again,
            "recovery_s": round(back, 1),
            "streams_open_ok": open_ok,
            "images_mismatched": mismatched,
            "ok": first and again and open_ok == items and mismatched == 0,
        }
    finally:
        await session.close()
        await sim.__aexit__(None, None, None)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    if args.clients > 0:
        results.append(await hold(args.clients, args.items, args.duration, args.rate))
        _print(results[-1])
    if args.restart_items > 0:
        results.append(await restart(args.restart_items))
        _print(results[-1])
    return results


def _print(r: dict[str, Any]) -> None:
    width = max(len(k) for k in r)
    for k, v in r.items():
        sys.stderr.write(f"  {k:<{width}}  {v}\n")
    sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    p.add_argument("--clients", type=int, default=200, help="connections held (default 200)")
    p.add_argument("--items", type=int, default=1000, help="items per connection (1000)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to hold (30)")
    p.add_argument("--rate", type=float, default=0.05, help="updates/s per item (0.05)")
    p.add_argument(
        "--restart-items", type=int, default=50_000, help="items across a restart (50000)"
    )
    args = p.parse_args(argv)
    results = asyncio.run(run(args))
    ok = all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "results": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
