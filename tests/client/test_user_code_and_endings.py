"""What a session does around its user's code: failing callbacks, consumers waiting when
the session ends, posts when the connection goes, token renewal through gateway errors.
Real client against the in-process simulator over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from support import TRANSPORTS

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.exceptions import ConnectError, ErtcloudError
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)


def session_for(sim: SimServer, **kw: Any) -> Session:
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens, **kw)


async def until(cond: Callable[[], object], timeout: float = 10) -> None:
    async def wait() -> None:
        while not cond():  # noqa: ASYNC110 (polls state that other code changes)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def consume(sub: Any, out: list[Any]) -> None:
    async for ev in sub:
        out.append(ev)


async def test_iteration_ends_when_the_session_is_closed(sim: SimServer) -> None:
    sim.streaming.config.rate = 20  # the first updates come at once
    session = session_for(sim)
    await session.start()
    sub = session.subscribe("TRI.N")
    out: list[Any] = []
    task = asyncio.create_task(consume(sub, out))
    await until(lambda: len(out) >= 2)
    await session.close()
    await asyncio.wait_for(task, 3)  # StopAsyncIteration, not a wait for ever
    assert task.exception() is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_iteration_and_waits_end_when_the_session_ends_by_itself(
    sim: SimServer, transport: str
) -> None:
    sim.streaming.config.rate = 20  # the first updates come at once
    session = session_for(sim, reconnect=False, transport=transport)
    await session.start()
    sub = session.subscribe("TRI.N")
    out: list[Any] = []
    task = asyncio.create_task(consume(sub, out))
    await until(lambda: len(out) >= 2)
    sim.streaming.config.rate = 0
    late = session.subscribe("NO.SUCH.WAIT")  # its image never comes: the server goes first
    await sim.streaming.drop_all()
    await until(lambda: session.closed_by_itself, 5)
    await asyncio.wait_for(task, 3)
    with pytest.raises(ErtcloudError):
        await late.wait_complete(timeout=3)
    await session.close()


async def test_a_failing_on_recovered_does_not_stop_later_recoveries(sim: SimServer) -> None:
    calls: list[int] = []

    def on_recovered(_: Session) -> None:
        calls.append(1)
        raise RuntimeError("bug in user code")

    async with session_for(sim, on_recovered=on_recovered) as session:
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(5)
        for n in (1, 2):
            await sim.streaming.drop_all()
            await until(lambda n=n: len(calls) >= n and sub.streams[0].refreshes > n, 15)
        assert session.recoveries == 2 and not session.closed_by_itself


@pytest.mark.parametrize("hook", ["on_event", "on_generic"])
async def test_a_failing_event_callback_does_not_drop_the_connection(
    sim: SimServer, hook: str
) -> None:
    seen: list[Any] = []

    def bad(ev: Any) -> None:
        seen.append(ev)
        raise RuntimeError("bug in user code")

    kw = {"on_event": bad} if hook == "on_event" else {}
    sim.streaming.config.rate = 20  # the three updates waited for below come in 0.15 s
    async with session_for(sim, **kw) as session:
        if hook == "on_generic":
            session.on_generic = bad
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(5)
        if hook == "on_generic":
            session.send_generic(session.protocol.login.id + 40, domain=200, name="chan")
        await until(lambda: len(seen) >= 3 if hook == "on_event" else seen, 10)
        await until(lambda: sub.streams[0].updates >= 3, 10)
        assert session.connects == 1 and session.reconnects == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_post_fails_with_one_line_errors_when_the_connection_goes(
    sim: SimServer, transport: str
) -> None:
    async with session_for(sim, transport=transport) as session:
        sub = session.subscribe("TRI.N")
        await sub.wait_complete(5)
        sim.streaming.config.answer_pings = True
        for s in list(sim.streaming.sessions):
            s.serving = False  # the server reads on but answers nothing: no Ack comes
        post = asyncio.create_task(session.post("TRI.N", {"BID": 1.5}, timeout=10))
        await asyncio.sleep(0.3)
        await sim.streaming.drop_all()
        with pytest.raises(ConnectError, match="connection lost before the Ack of post"):
            await asyncio.wait_for(post, 5)
        assert not session._posts


async def test_token_renewal_survives_a_gateway_error() -> None:
    async with SimServer(SimOptions(port=0, token_ttl=4)) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url),
            PasswordCredentials("demo", "demo", "app"),
            renew_fraction=0.25,  # renew at 1 s: time to retry before the token expires at 4
        )
        async with Session(sim.websocket_url, tokens=tokens) as session:
            sub = session.subscribe("TRI.N")
            await sub.wait_complete(5)
            await sim.faults.apply("gateway_error", status=403)
            (conn,) = sim.streaming.sessions
            first_expiry = conn.token_expires_at
            assert first_expiry is not None
            await until(lambda: sim.gateway.refused >= 1, 5)
            await sim.faults.clear("gateway_error")
            await until(lambda: tokens.renewals >= 1, 5)
            # past the first token's expiry, and the simulator's expiry check ran after it
            await until(lambda: sim.gateway.clock() > first_expiry + 0.5, 10)
            # renewed on the same login: no reconnect, and the renewal task lives on
            assert session.reconnects == 0 and session.fatal is None
            assert sub.streams[0].updates > 0 and not session._tasks[1].done()
