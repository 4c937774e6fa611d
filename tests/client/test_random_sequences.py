"""Property: after any sequence of subscribes, closes, snapshots and posts, the library's
records equal the simulator's own view of the same items, and the streams the simulator
serves to this connection are exactly the ones the library holds open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.both_cores  # on each receive core (tests/receive_cores.py)

RICS = ["TRI.N", "IBM.N", "EUR=", ".SPX", "VOD.L", "JPY=", "BAD.RIC"]
VIEWS = [None, ["BID", "ASK"], ["TRDPRC_1", "BID", "ACVOL_1"], [22, 25]]

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("subscribe"),
            st.lists(st.sampled_from(RICS), min_size=1, max_size=3, unique=True),
            st.sampled_from(VIEWS),
            st.booleans(),
        ),
        st.tuples(st.just("close"), st.integers(0, 10)),
        st.tuples(
            st.just("post"), st.integers(0, 10), st.floats(1, 500).map(lambda x: round(x, 2))
        ),
        st.tuples(st.just("wait"), st.floats(0.0, 0.15)),
    ),
    min_size=1,
    max_size=12,
)


async def scenario(steps: list[tuple[Any, ...]]) -> None:
    async with SimServer(SimOptions(port=0)) as sim:
        sim.streaming.config.rate = 50.0
        tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "p"))
        async with Session(sim.websocket_url, tokens=tokens) as session:
            subs = []
            for step in steps:
                kind = step[0]
                if kind == "subscribe":
                    _, rics, view, snapshot = step
                    subs.append(session.subscribe(rics, fields=view, snapshot=snapshot))
                elif kind == "close":
                    if not subs:
                        continue
                    await subs[step[1] % len(subs)].close()
                elif kind == "post":
                    if not subs:
                        continue
                    sub = subs[step[1] % len(subs)]
                    await sub.wait_complete(timeout=5)
                    live = [s for s in sub.streams if s.is_open and s.streaming]
                    if live:
                        price = step[2]
                        await session.post(live[0], {"BID": price, "ASK": round(price + 0.01, 2)})
                else:  # "wait" (a close or post before any subscribe is a no-op, not a wait)
                    await asyncio.sleep(step[1])
            for sub in subs:
                if not sub.closed:
                    await sub.wait_complete(timeout=5)
            # Quiesce: stop the market, let in-flight frames arrive (until the views agree,
            # for at most 3 s; the assertions below then say where they differ).
            sim.streaming.config.rate = 0
            deadline = asyncio.get_running_loop().time() + 3
            while True:
                await asyncio.sleep(0.02)
                served = {s.id: s for lst in sim.streaming.subs.values() for cs, s in lst}
                mine = {s.id: s for s in session.protocol.streams}
                if _agree(served, mine) or asyncio.get_running_loop().time() > deadline:
                    break
            assert set(served) == set(mine)
            for sid, stream in mine.items():
                assert stream.streaming and stream.state is not None
                assert stream.state.stream == "Open"
                image = served[sid].instrument.image
                view = served[sid].view
                expected = dict(image) if view is None else {k: image.get(k) for k in view}
                assert stream.fields == expected, stream.name
            for sub in subs:
                for s in sub.streams:
                    if s.name == "BAD.RIC" and not sub.closed:
                        assert not s.is_open and s.state is not None
                        assert s.state.code == "NotFound"


def _agree(served: dict[int, Any], mine: dict[int, Any]) -> bool:
    """The simulator serves this connection exactly the library's open streams, with the
    library's records equal to the simulator's images."""
    if set(served) != set(mine):
        return False
    for sid, stream in mine.items():
        image, view = served[sid].instrument.image, served[sid].view
        expected = dict(image) if view is None else {k: image.get(k) for k in view}
        if stream.fields != expected:
            return False
    return True


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops)
def test_library_records_match_the_simulator(steps: list[tuple[Any, ...]]) -> None:
    asyncio.run(scenario(steps))
