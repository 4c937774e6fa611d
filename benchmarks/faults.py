"""The fault matrix: every simulator fault against the client library, as a table.

``python -m benchmarks.faults`` runs every case (``--only NAME`` for some) and prints one row
per case: time to recover, streams restored, updates lost in hot standby, and whether the
client's final record of every item equals the simulator's current image. The short form
runs in CI as ``tests/faults/test_matrix.py``.

Each case gets its own simulator (three endpoints, found through service discovery) and a
client: one :class:`~ertcloud.client.session.Session`, or a
:class:`~ertcloud.client.standby.HotStandby` pair.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.client.standby import HotStandby, StandbySubscription
from ertcloud.client.subscription import Subscription
from ertcloud.discovery import DiscoveryClient, select_endpoints
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated
from ertcloud.protocol.streams import ItemStream
from ertcloud.sim.server import SimOptions, SimServer

RICS = ["TRI.N", "IBM.N", "EUR=", "JPY=", ".DJI"]

Action = Callable[[SimServer], Awaitable[None]]


@dataclass
class Case:
    """One row: what to do to the simulator, and what the client should live through."""

    name: str
    act: Action
    standby: bool = False
    #: the client must lose its connection or streams and recover them (None: either way)
    disrupts: bool | None = True
    #: items the fault affects (None: all)
    rics: list[str] | None = None
    hold: float = 0.0  # seconds to keep the fault on before clearing it
    sim: dict[str, Any] = field(default_factory=dict)
    before: Action | None = None  # applied before the client starts


@dataclass
class Row:
    case: str
    mode: str
    recover_s: float | None
    restored: int
    streams: int
    lost: int | None
    images_equal: bool
    reconnects: int
    note: str = ""

    @property
    def ok(self) -> bool:
        return (
            self.restored == self.streams
            and self.images_equal
            and (self.lost in (None, 0))
            and not self.note.startswith("FAIL")
        )


def fault(name: str, **params: Any) -> Action:
    async def act(sim: SimServer) -> None:
        await sim.faults.apply(name, **params)

    return act


def both(*actions: Action) -> Action:
    async def act(sim: SimServer) -> None:
        for a in actions:
            await a(sim)

    return act


def cases(short: bool = True) -> list[Case]:
    """The matrix (``short``: the CI subset, same faults with shorter holds)."""
    hold = 1.5 if short else 5.0
    return [
        Case("drop all connections", fault("drop")),
        Case("ping stall (half-open)", fault("stall")),
        Case("server sends no pings", fault("no_pings"), disrupts=False, hold=hold),
        Case("server answers no pings", fault("no_pongs"), disrupts=False, hold=hold),
        Case("tokens expired early", fault("expire_tokens")),
        Case("tokens revoked", fault("revoke_tokens")),
        Case(
            "refresh token rejected",
            fault("reject_refresh"),
            disrupts=None,
            hold=4.0,
            sim={"token_ttl": 3},
        ),
        Case(
            "gateway 503 + tokens expired",
            both(fault("gateway_error", duration=2.0), fault("expire_tokens")),
        ),
        Case(
            "gateway slow + tokens expired",
            both(fault("gateway_slow", delay=1.5, duration=3.0), fault("expire_tokens")),
        ),
        Case(
            "gateway 307 + tokens expired",
            both(fault("redirect"), fault("expire_tokens")),
        ),
        Case(
            "discovery lists a subset",
            fault("drop"),
            before=fault("discovery_subset", endpoints=[1, 2]),
        ),
        Case(
            "endpoint refuses (fail over)",
            fault("refuse", endpoint=0, duration=6.0),
        ),
        Case(
            "ClosedRecover on 2 items",
            fault("closed_recover", rics=["TRI.N", "EUR="]),
            rics=["TRI.N", "EUR="],
        ),
        Case("Login closed by server", fault("close_login")),
        Case(
            "slow consumer (conflation)",
            fault("slow_consumer", interval=0.4),
            disrupts=False,
            hold=hold,
        ),
        # hot standby: one endpoint fails, the other carries the stream
        Case("standby: drop endpoint 1", fault("drop", endpoint=1), standby=True),
        Case("standby: stall endpoint 2", fault("stall", endpoint=2), standby=True),
        Case(
            "standby: endpoint 1 refuses",
            fault("refuse", endpoint=1, duration=3.0),
            standby=True,
        ),
        Case("standby: drop all", fault("drop"), standby=True),
        Case("standby: tokens expired", fault("expire_tokens"), standby=True),
        Case(
            "standby: ClosedRecover",
            fault("closed_recover", rics=["IBM.N"]),
            standby=True,
            rics=["IBM.N"],
        ),
    ]


class _Watch:
    """What the client saw, for the lost-update count."""

    def __init__(self) -> None:
        self.raw: set[tuple[str, int]] = set()
        self.emitted: set[tuple[str, int]] = set()
        self.refresh_seq: dict[str, int] = {}
        self.counting = False

    def on_raw(self, _: int, ev: Any) -> None:
        if self.counting and isinstance(ev, ItemUpdated) and ev.message.seq_number is not None:
            self.raw.add((ev.stream.name, ev.message.seq_number))

    def on_merged(self, ev: Any) -> None:
        if not self.counting:
            return
        seq = ev.message.seq_number
        if seq is None:
            return
        if isinstance(ev, ItemUpdated):
            self.emitted.add((ev.stream.name, seq))
        elif isinstance(ev, ItemRefreshed):
            self.refresh_seq[ev.stream.name] = max(self.refresh_seq.get(ev.stream.name, 0), seq)

    def lost(self) -> int:
        # Not passed on and not covered by a later Refresh that was.
        return sum(
            1 for name, seq in self.raw - self.emitted if seq > self.refresh_seq.get(name, -1)
        )


def _sessions(client: Session | HotStandby) -> list[Session]:
    if isinstance(client, HotStandby):
        return [s for s in client.sessions if s is not None]
    return [client]


def _snapshot(client: Session | HotStandby) -> dict[ItemStream, int]:
    # Keyed by the stream objects themselves (kept alive, so never confused with new ones).
    return {st: st.refreshes for s in _sessions(client) for st in s.streams}


def _recovered(
    client: Session | HotStandby,
    before: dict[ItemStream, int],
    rics: list[str] | None,
    reconnects: dict[int, int] | None = None,
) -> bool:
    """Every session logged in with every stream open; a session that was hit (it
    reconnected, or one of its streams was refreshed again) has every affected stream
    refreshed again; and at least one session was hit."""
    sessions = _sessions(client)
    if isinstance(client, HotStandby) and len(sessions) < 2:
        return False
    hit_any = False
    for s in sessions:
        if not s.protocol.login.is_open:
            return False
        streams = [st for st in s.streams if rics is None or st.name in rics]
        again = [st.refreshes > before.get(st, 0) for st in streams]
        hit = any(again) or (reconnects is not None and s.reconnects != reconnects.get(id(s)))
        if any(not (st.is_open and st.data_ok) for st in s.streams):
            return False
        if hit:
            hit_any = True
            if not all(again):
                return False
    return hit_any or not before


def _healthy(records: list[ItemStream]) -> int:
    return sum(1 for st in records if st.is_open and st.data_ok and st.refreshes > 0)


async def run_case(case: Case, *, timeout: float = 30.0) -> Row:
    opts = SimOptions(port=0, endpoints=3, token_ttl=int(case.sim.get("token_ttl", 60)))
    opts.server.ping_timeout = 2
    opts.server.rate = 4.0
    mode = "standby" if case.standby else "single"
    async with SimServer(opts) as sim:
        if case.before is not None:
            await case.before(sim)
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "fault-matrix")
        )
        token = await tokens.get()
        dc = DiscoveryClient(sim.discovery_url)
        try:
            found = await dc.fetch(token.access_token)
        finally:
            await dc.close()
        urls = [e.url(tls=False) for e in select_endpoints(found, hotstandby=case.standby)]
        watch = _Watch()
        client: Session | HotStandby
        sub: Subscription | StandbySubscription
        if case.standby:
            client = HotStandby(urls, tokens=tokens, connect_timeout=5)
            client.on_raw = watch.on_raw
            await client.start()
            sub = client.subscribe(
                RICS, on_refresh=watch.on_merged, on_update=watch.on_merged, queue=False
            )
        else:
            client = Session(urls, tokens=tokens, connect_timeout=5)
            await client.start()
            sub = client.subscribe(RICS, queue=False, on_refresh=_noop)
        try:
            ready = time.monotonic() + 15
            while not (_all_open(client, sub) and _recovered(client, {}, None)):
                if time.monotonic() > ready:
                    raise TimeoutError("streams did not open")
                await asyncio.sleep(0.05)
            watch.counting = True
            before = _snapshot(client)
            per_session = {id(s): s.reconnects for s in _sessions(client)}
            reconnects0 = sum(per_session.values())
            t0 = time.monotonic()
            await case.act(sim)
            recover: float | None = None
            note = ""
            if case.disrupts is False:
                await asyncio.sleep(case.hold)
                if _snapshot(client) != before:
                    note = "FAIL: streams were disturbed"
            else:
                deadline = t0 + timeout
                while time.monotonic() < deadline:
                    if _recovered(client, before, case.rics, per_session):
                        recover = time.monotonic() - t0
                        break
                    if case.disrupts is None and time.monotonic() - t0 >= case.hold:
                        break  # no disruption: nothing to recover from
                    await asyncio.sleep(0.02)
                else:
                    note = "FAIL: not recovered in time"
            await sim.faults.clear()
            # Quiesce: no more updates; let in-flight ones land; then compare images.
            await asyncio.sleep(0.3)
            settle = time.monotonic() + 15
            while time.monotonic() < settle:
                if _all_open(client, sub):
                    break
                await asyncio.sleep(0.05)
            sim.streaming.config.rate = 0
            await asyncio.sleep(0.5)
            records = _records(client, sub)
            equal = all(
                (inst := sim.market.get(st.name)) is not None and st.fields == inst.image
                for st in records
            )
            restored = _healthy(records)
            reconnects = sum(s.reconnects for s in _sessions(client)) - reconnects0
            return Row(
                case.name,
                mode,
                recover,
                restored,
                len(RICS),
                watch.lost() if case.standby else None,
                equal,
                reconnects,
                note,
            )
        finally:
            await client.close()
            await tokens.client.close()


def _records(client: Session | HotStandby, sub: Subscription | StandbySubscription) -> list[Any]:
    if isinstance(sub, StandbySubscription):
        return list(sub.records.values())
    return list(sub.records.values())


def _all_open(client: Session | HotStandby, sub: Subscription | StandbySubscription) -> bool:
    recs = _records(client, sub)
    return len(recs) == len(RICS) and _healthy(recs) == len(RICS)


def _noop(_: object) -> None:
    return None


async def run_matrix(
    selected: list[Case], *, concurrency: int = 5, timeout: float = 30.0
) -> list[Row]:
    """Run the cases (a few at a time: each has its own simulator)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(c: Case) -> Row:
        async with gate:
            try:
                return await run_case(c, timeout=timeout)
            except Exception as exc:
                mode = "standby" if c.standby else "single"
                return Row(c.name, mode, None, 0, len(RICS), None, False, 0, f"FAIL: {exc!r}")

    return list(await asyncio.gather(*(one(c) for c in selected)))


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table."""
    head = ("fault", "mode", "recover s", "streams", "lost", "image=sim", "reconn", "result")
    body = [
        (
            r.case,
            r.mode,
            f"{r.recover_s:.2f}" if r.recover_s is not None else "-",
            f"{r.restored}/{r.streams}",
            str(r.lost) if r.lost is not None else "-",
            "yes" if r.images_equal else "NO",
            str(r.reconnects),
            "ok" if r.ok else (r.note or "FAIL"),
        )
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__)
    p.add_argument("--long", action="store_true", help="longer holds (the non-CI form)")
    p.add_argument("--only", action="append", default=[], help="run cases containing this text")
    p.add_argument("--concurrency", type=int, default=5, help="cases at a time (default 5)")
    a = p.parse_args(argv)
    selected = [
        c for c in cases(short=not a.long) if not a.only or any(o in c.name for o in a.only)
    ]
    rows = asyncio.run(run_matrix(selected, concurrency=a.concurrency))
    sys.stdout.write(table(rows) + "\n")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
