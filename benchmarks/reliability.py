"""Reliability, long form: ``python -m benchmarks.reliability [--quick]``.

Prints what was tried and what survived:

1. **fuzz**: random hostile frames into the client core and into the simulator's
   per-connection session (malformed JSON, wrong types, unknown types and domains, bad
   ids, huge and binary frames); neither may raise;
2. **delivery**: one client, every item unfiltered, no faults: updates the simulator wrote
   to that connection vs updates the client applied (the protocol promises all of them);
3. **faults**: each fault of the simulator injected in turn while a client holds its
   items; after each, the client must recover and its images equal the simulator's;
4. **load**: many connections with many items, and a large client across a simulator
   restart (:mod:`benchmarks.load`);
5. **probes**: the hardening probes (:mod:`benchmarks.probes`), printed as a table
   ``probe | held | figure``: another client's rate while a raw client stalls, client
   peak RSS against enormous messages, recovery after kill -9 and a restart, rows lost
   after a PostgreSQL restart and after SIGKILL of ``record``; the table goes to stdout,
   a probe that did not hold fails the run. ``--probes-only`` runs just this section.

The last line is one JSON object; exit status 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from typing import Any

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.protocol import ClientProtocol, codec
from ertcloud.protocol.messages import Refresh, State
from ertcloud.sim.ads import ServerConfig, StreamingServer
from ertcloud.sim.gateway import Gateway
from ertcloud.sim.market import Market
from ertcloud.sim.server import SimOptions, SimServer

from . import load, probes

RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", "GBP=", "VOD.L", "T.N", "MSFT.O"]
TYPES = ["Refresh", "Update", "Status", "Ping", "Ack", "Error", "Generic", "Post", "Bogus", 3]
KEYS = ["Fields", "Map", "State", "SeqNumber", "Domain", "Key", "Complete", "ClearCache"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**63), 2**64)
    if kind == 3:
        return rng.random() * 1e6
    if kind == 4:
        return rng.choice(["", "x", "\x1b%0", "Ünïcødé", "株式", "\x00"])
    if kind == 5:
        return rng.choice(["Open", "Ok", "Suspect", "Closed", "Add", "Delete"])
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice([*KEYS, "Entries", "Action", "Stream", "Data"]): _value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def hostile_frame(rng: random.Random, ids: list[int]) -> bytes:
    r = rng.random()
    if r < 0.05:
        return rng.randbytes(rng.randrange(1, 200))
    if r < 0.08:
        return b"[" * 3000 + b"]" * 3000
    msgs = []
    for _ in range(rng.randrange(1, 5)):
        m: dict[str, Any] = {"ID": rng.choice([*ids, 0, -1, "x"]), "Type": rng.choice(TYPES)}
        for k in rng.sample(KEYS, rng.randrange(4)):
            m[k] = _value(rng)
        if rng.random() < 0.3:
            m["State"] = {
                "Stream": rng.choice(["Open", "Closed", "ClosedRecover", 7]),
                "Data": rng.choice(["Ok", "Suspect"]),
            }
        msgs.append(m)
    raw = json.dumps(msgs if rng.random() < 0.7 else msgs[0]).encode("utf-8", "surrogatepass")
    return (
        raw if rng.random() < 0.9 else raw.decode("utf-8", "replace").encode("latin-1", "replace")
    )


def fuzz(count: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    crashes: list[str] = []
    client_inputs = server_inputs = 0
    c = _client()
    for i in range(count):
        if i % 200 == 0:
            c = _client()
        ids = [s.id for s in c.streams] or [2]
        try:
            c.receive(hostile_frame(rng, ids), float(i))
        except Exception as exc:  # what is being counted
            crashes.append(f"client: {type(exc).__name__}: {exc}")
        client_inputs += 1

    async def server_side() -> None:
        nonlocal server_inputs
        gw = Gateway(users={"demo": "demo"}, clients={})
        _, body = gw.token(
            "/auth/oauth2/v1/token",
            {
                "grant_type": "password",
                "username": "demo",
                "password": "demo",
                "client_id": "x",
                "scope": "trapi",
                "takeExclusiveSignOnControl": "true",
            },
            None,
        )
        server = StreamingServer(Market(42), gw, ServerConfig())
        login = json.dumps(
            {
                "ID": 1,
                "Domain": "Login",
                "Key": {"Elements": {"AuthenticationToken": body["access_token"]}},
            }
        )

        async def nothing(_: bytes = b"") -> None:
            return None

        cs = server.connect(nothing, nothing, "fuzz")
        for i in range(count // 4):
            if cs.closed or i % 100 == 0:
                server.forget(cs)
                cs = server.connect(nothing, nothing, "fuzz")
                await cs.receive(login.encode())
                await cs.receive(b'{"ID":2,"Key":{"Name":"TRI.N"}}')
            try:
                await cs.receive(hostile_frame(rng, [1, 2, 3]))
            except Exception as exc:
                crashes.append(f"server: {type(exc).__name__}: {exc}")
            server_inputs += 1
        server.forget(cs)

    asyncio.run(server_side())
    return {
        "phase": "fuzz",
        "client_inputs": client_inputs,
        "server_inputs": server_inputs,
        "crashes": len(crashes),
        "first_crashes": crashes[:3],
        "ok": not crashes,
    }


def _client() -> ClientProtocol:
    c = ClientProtocol()
    c.connection_made(0.0)
    c.start_login("t")
    c.receive(
        codec.encode([Refresh(id=c.login.id, domain="Login", state=State("Open", "Ok"))]), 0.0
    )
    c.request(RICS, batch=False)
    c.data_to_send(0.0)
    return c


def _session(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "rel"))
    return Session(sim.websocket_url, tokens=tokens, **kw)


async def delivery(seconds: float) -> dict[str, Any]:
    async with SimServer(SimOptions(port=0, server=ServerConfig(rate=50.0))) as sim:
        async with _session(sim) as session:
            [cs] = list(sim.streaming.sessions)
            sent = 0
            inner = cs._send

            async def counting(frame: bytes) -> None:
                nonlocal sent
                sent += sum(1 for m in json.loads(frame) if m.get("Type") == "Update")
                await inner(frame)

            cs._send = counting
            sub = session.subscribe(RICS, queue=False, on_update=lambda e: None)
            await sub.wait_complete(timeout=30)
            await asyncio.sleep(seconds)
            sim.streaming.config.rate = 0
            await asyncio.sleep(1.0)
            delivered = sum(s.updates for s in sub.streams)
            same = all(
                s.fields == sim.market.get(s.name).image  # type: ignore[union-attr]
                for s in sub.streams
            )
            return {
                "phase": "delivery",
                "items": len(RICS),
                "seconds": seconds,
                "updates_sent": sent,
                "updates_delivered": delivered,
                "sequence_gaps": session.integrity.gaps,
                "images_equal": same,
                "ok": sent == delivered and same and session.integrity.gaps == 0,
            }


FAULT_PLAN: list[tuple[str, dict[str, Any]]] = [
    ("drop", {}),
    ("closed_recover", {"rics": ["TRI.N", "EUR="]}),
    ("expire_tokens", {}),
    ("close_login", {}),
    ("revoke_tokens", {}),
    ("stall", {}),
    ("slow_consumer", {"interval": 0.5}),
    ("no_pongs", {}),
]


async def faults(settle: float) -> dict[str, Any]:
    survived: list[str] = []
    failed: list[str] = []
    opts = SimOptions(port=0, token_ttl=30, server=ServerConfig(rate=10.0, ping_timeout=3))
    async with SimServer(opts) as sim, _session(sim) as session:
        sub = session.subscribe(RICS, queue=False, on_update=lambda e: None)
        await sub.wait_complete(timeout=30)
        for name, params in FAULT_PLAN:
            await sim.faults.apply(name, **params)
            await asyncio.sleep(settle)
            await sim.faults.clear()
            await load._wait(
                lambda: all(s.is_open and s.data_ok and s.refreshes > 0 for s in sub.streams), 60
            )
            await asyncio.sleep(1.0)
            reports = await session.verify(sub, timeout=30)
            (survived if all(r.ok for r in reports) else failed).append(name)
    return {
        "phase": "faults",
        "injected": len(FAULT_PLAN),
        "survived": survived,
        "failed": failed,
        "reconnects": session.reconnects,
        "ok": not failed,
    }


def _print(r: dict[str, Any]) -> None:
    width = max(len(k) for k in r)
    for k, v in r.items():
        sys.stderr.write(f"  {k:<{width}}  {v}\n")
    sys.stderr.write("\n")


async def probe_section(quick: bool) -> dict[str, Any]:
    """The probes, as one result: its table on stderr, ``ok`` unless a probe did not hold
    (a probe that could not run, such as PostgreSQL without its binaries, is skipped)."""
    sys.stderr.write("probes (each row printed as it finishes):\n")

    def report(r: dict[str, Any]) -> None:
        sys.stderr.write(f"  {r['probe']}: {r['figure']}\n")

    rows = await probes.run_all(quick, report=report)
    print(probes.table(rows), flush=True)  # on stdout, before the JSON line
    return {
        "phase": "probes",
        "probes": rows,
        "not_held": [r["probe"] for r in rows if r["held"] is False],
        "ok": all(r["held"] is not False for r in rows),
    }


async def _run(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.probes_only:
        return [await probe_section(args.quick)]
    results = [await asyncio.to_thread(fuzz, args.fuzz)]
    _print(results[-1])
    results.append(await delivery(args.seconds))
    _print(results[-1])
    results.append(await faults(args.settle))
    _print(results[-1])
    results.append(await load.hold(args.clients, args.items, args.seconds))
    _print(results[-1])
    results.append(await load.restart(args.restart_items))
    _print(results[-1])
    results.append(await probe_section(args.quick))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    p.add_argument("--probes-only", action="store_true", help="only the hardening probes")
    args = p.parse_args(argv)
    if args.quick:
        args.fuzz, args.seconds, args.settle = 4000, 3.0, 1.0
        args.clients, args.items, args.restart_items = 20, 200, 5000
    else:
        args.fuzz, args.seconds, args.settle = 100_000, 30.0, 3.0
        args.clients, args.items, args.restart_items = 200, 1000, 50_000
    results = asyncio.run(_run(args))
    ok = all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "results": results}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
