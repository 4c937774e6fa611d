"""Recovery from a simulator restarted on the same port (it forgets every token it issued):
the library and ``ertcloud subscribe`` have every item flowing again within 3 s of the
server being back, on both transports; the refused token is replaced at once; credentials
refused for good end the session with an error instead of a silent hang."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import pytest
from support import cli_env, start_cli
from support import until as _until

from ertcloud.auth.client import TokenClient
from ertcloud.auth.grants import PasswordCredentials
from ertcloud.auth.manager import TokenManager
from ertcloud.client.session import Session
from ertcloud.discovery import DiscoveryClient
from ertcloud.exceptions import ConnectError, InvalidCredentials
from ertcloud.protocol.events import ItemRefreshed, ItemUpdated, LoginAccepted

RICS = ["TRI.N", "IBM.N", "EUR="]
#: from the new simulator's start-up line to every item updating again
TARGET = 3.0
TRANSPORTS = ["aiohttp", "picows"]


def _drain(stream: IO[str]) -> None:
    with stream:
        stream.read()


class RestartableSim:
    """An ``ertcloud sim`` process that can be killed and restarted on the same port."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.drain = threading.Thread()
        self.info: dict[str, Any] = {}

    def start(self, port: int = 0, *extra: str) -> float:
        """Start it; returns the monotonic time its start-up line was read (server up)."""
        deadline = time.monotonic() + 20
        while True:
            # forked with the package imported (start_cli): a restart is back sooner
            proc = start_cli("sim", "--port", str(port), "--rate", "10", *self.args, *extra)
            assert proc.stdout is not None and proc.stderr is not None
            self.drain = threading.Thread(target=_drain, args=(proc.stderr,), daemon=True)
            self.drain.start()
            line = proc.stdout.readline()
            if line:
                self.proc = proc
                self.info = json.loads(line)
                return time.monotonic()
            proc.wait()
            proc.stdout.close()
            self.drain.join()
            if time.monotonic() > deadline:  # the port stayed taken
                raise AssertionError(f"simulator could not start on port {port}")
            time.sleep(0.1)

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def kill(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        if p is not None and p.stdout is not None:
            p.stdout.close()
            self.drain.join()
        self.proc = None

    def restart(self, down: float = 0.0, *extra: str) -> float:
        """kill -9, stay down ``down`` seconds, start again on the same port."""
        port = self.port
        self.kill()
        if down:
            time.sleep(down)
        return self.start(port, *extra)


@pytest.fixture
def restartable_sim() -> Iterator[Callable[..., RestartableSim]]:
    made: list[RestartableSim] = []

    def make(*args: str) -> RestartableSim:
        s = RestartableSim(*args)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.kill()


class Watch:
    """Times of the events of a session, by kind and item."""

    def __init__(self) -> None:
        self.refreshes: dict[str, list[float]] = {}
        self.updates: dict[str, list[float]] = {}
        self.trace: list[tuple[float, str, Any]] = []

    def on_event(self, ev: Any) -> None:
        now = time.monotonic()
        if isinstance(ev, ItemRefreshed):
            self.refreshes.setdefault(ev.stream.name, []).append(now)
        elif isinstance(ev, ItemUpdated):
            self.updates.setdefault(ev.stream.name, []).append(now)
        elif isinstance(ev, LoginAccepted):
            self.trace.append((now, "login", None))

    def on_trace(self, kind: str, detail: Any) -> None:
        if kind == "received":
            if b"invalid token" in detail:
                self.trace.append((time.monotonic(), "refused", None))
        elif kind in ("reconnecting", "closed", "recovered", "connecting"):
            self.trace.append((time.monotonic(), kind, detail))

    def flowing_since(self, t: float) -> bool:
        """Every item has a refresh and an update after ``t``."""
        return all(
            any(x > t for x in self.refreshes.get(r, ()))
            and any(x > t for x in self.updates.get(r, ()))
            for r in RICS
        )

    def flowing_at(self, t: float) -> float:
        """When the last item had both a refresh and an update after ``t``."""
        return max(
            max(
                min(x for x in self.refreshes[r] if x > t),
                min(x for x in self.updates[r] if x > t),
            )
            for r in RICS
        )


def _session(sim: RestartableSim, transport: str, watch: Watch, **kw: Any) -> Session:
    tokens = TokenManager(
        TokenClient(sim.info["token_url"]), PasswordCredentials("demo", "demo", "recovery")
    )
    return Session(
        sim.info["websocket_url"],
        tokens=tokens,
        transport=transport,
        trace=watch.on_trace,
        on_event=watch.on_event,
        **kw,
    )


async def _healthy(session: Session) -> None:
    """Up long enough that its loss counts as a fresh outage (immediate first retry)."""
    await _until(
        lambda: (
            session.connected_since is not None
            and time.monotonic() - session.connected_since
            > session.reconnect_delays.healthy_after + 0.2
        ),
        10,
        "a healthy connection",
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_library_streams_flow_within_3s_of_a_restart_and_the_token_is_replaced_at_once(
    restartable_sim: Callable[..., RestartableSim], transport: str
) -> None:
    sim = restartable_sim()
    watch = Watch()
    times: list[float] = []
    session = _session(sim, transport, watch)
    # up 0.5 s (not the default 3 s) counts as healthy: the same rule, three outages sooner
    session.reconnect_delays.healthy_after = 0.5
    async with session:
        sub = session.subscribe(RICS, on_refresh=lambda e: None, on_update=lambda e: None)
        for run in range(3):
            await _until(lambda: watch.flowing_since(0.0), 10, "items flowing")
            await _healthy(session)
            # Down for a moment, as a restarting process is.
            back = await asyncio.to_thread(sim.restart, 0.5 if run == 1 else 0.0)
            await _until(lambda b=back: watch.flowing_since(b), 10, "items flowing after restart")
            times.append(watch.flowing_at(back) - back)
            # The restarted server refused the old token: the next attempt, with a new
            # grant, followed at once (no back-off), and logged in.
            refused = [t for t, k, _ in watch.trace if k == "refused" and t > back]
            assert refused, "the restarted server should refuse the token it never issued"
            after = [(t, k, d) for t, k, d in watch.trace if t > refused[0]]
            first_retry = next(d for _, k, d in after if k == "reconnecting")
            assert first_retry == 0.0
            login = next(t for t, k, _ in after if k == "login")
            assert login - refused[0] < 1.0
        assert session.recoveries >= 3
        assert not sub.closed
    print(f"recovery library/{transport}: median {statistics.median(times):.2f} s of {times}")
    assert max(times) < TARGET, times


def _read_lines(proc: subprocess.Popen[str], sink: list[tuple[float, str]]) -> threading.Thread:
    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.append((time.monotonic(), line))

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def _subscribe_cmd(sim: RestartableSim, transport: str, *extra: str) -> list[str]:
    """The arguments of ``ertcloud subscribe`` against ``sim`` (for ``start_cli``)."""
    return [
        "subscribe",
        *RICS,
        "--format",
        "jsonl",
        "--url",
        sim.info["websocket_url"],
        "--auth_url",
        sim.info["token_url"],
        "--user",
        "demo",
        "--clientid",
        "recovery",
        *(("--transport", transport) if transport != "aiohttp" else ()),
        *extra,
    ]


def _cli_flowing_at(lines: list[tuple[float, str]], since: float) -> float | None:
    seen: dict[str, set[str]] = {r: set() for r in RICS}
    for t, line in lines:
        if t <= since:
            continue
        rec = json.loads(line)
        seen[rec["ric"]].add(rec["event"])
        if all({"refresh", "update"} <= s for s in seen.values()):
            return t
    return None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cli_subscribe_flows_within_3s_of_a_restart_and_says_so(
    restartable_sim: Callable[..., RestartableSim], transport: str
) -> None:
    sim = restartable_sim()
    proc = start_cli(*_subscribe_cmd(sim, transport), env=cli_env(ERTCLOUD_PASSWORD="demo"))
    lines: list[tuple[float, str]] = []
    times: list[float] = []
    pump = _read_lines(proc, lines)
    try:
        since = 0.0
        for _ in range(2):
            _wait(lambda s=since: _cli_flowing_at(lines, s) is not None, 15, "CLI output", lines)
            time.sleep(3.3)  # a healthy connection: the first retry after its loss is immediate
            back = sim.restart()
            _wait(
                lambda b=back: _cli_flowing_at(lines, b) is not None,
                10,
                "CLI output after restart",
                lines,
            )
            flowing = _cli_flowing_at(lines, back)
            assert flowing is not None
            times.append(flowing - back)
            since = back
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        pump.join(15)  # stdout to its end before communicate() reads the rest
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    notices = [line for line in err.splitlines() if line.startswith("ertcloud: ")]
    assert sum("connection lost" in n and n.endswith("reconnecting") for n in notices) == 2, err
    assert sum(f"{len(RICS)} streams re-opened" in n for n in notices) == 2, err
    assert "Traceback" not in err
    print(f"recovery cli/{transport}: median {statistics.median(times):.2f} s of {times}")
    assert max(times) < TARGET, times


def _wait(cond: Callable[[], bool], timeout: float, what: str, seen: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {str(seen)[-2000:]}")
        time.sleep(0.02)


async def test_library_raises_when_the_restarted_gateway_refuses_the_credentials(
    restartable_sim: Callable[..., RestartableSim],
) -> None:
    sim = restartable_sim()
    watch = Watch()
    async with _session(sim, "aiohttp", watch) as session:
        sub = session.subscribe(RICS)
        await asyncio.wait_for(sub.wait_complete(), 10)
        await asyncio.to_thread(sim.restart, 0.0, "--user", "someone", "--password", "else")

        async def drain() -> None:
            async for _ in sub:
                pass

        with pytest.raises(InvalidCredentials):
            await asyncio.wait_for(drain(), 10)
        with pytest.raises(InvalidCredentials):
            await asyncio.wait_for(session.wait_closed(), 5)


def test_cli_exits_with_one_line_when_the_credentials_are_refused_for_good(
    restartable_sim: Callable[..., RestartableSim],
) -> None:
    sim = restartable_sim()
    proc = start_cli(*_subscribe_cmd(sim, "aiohttp"), env=cli_env(ERTCLOUD_PASSWORD="demo"))
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 15)
        assert ready and os.read(fd, 65536), "no output from subscribe"
        sim.restart(0.0, "--user", "someone", "--password", "else")
        code = proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    assert code != 0
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, err
    assert errors[0].startswith("ertcloud: error: ") and "Traceback" not in err


async def test_discovery_401_after_a_restart_replaces_the_token_at_once(
    restartable_sim: Callable[..., RestartableSim],
) -> None:
    sim = restartable_sim()
    tokens = TokenManager(
        TokenClient(sim.info["token_url"]), PasswordCredentials("demo", "demo", "recovery")
    )
    client = DiscoveryClient(sim.info["discovery_url"])
    try:
        first = await tokens.get()
        assert await client.discover(tokens)
        await asyncio.to_thread(sim.restart)
        # The restarted service answers 401 to the forgotten token; the refresh token is
        # forgotten too, so the manager falls back to the password grant, without waiting.
        started = time.monotonic()
        endpoints = await client.discover(tokens)
        elapsed = time.monotonic() - started
    finally:
        await client.close()
        await tokens.client.close()
    assert endpoints
    assert tokens.token is not None and tokens.token.access_token != first.access_token
    assert elapsed < 1.0


async def test_a_session_that_gives_up_raises_from_the_iterator_and_wait_closed(
    restartable_sim: Callable[..., RestartableSim],
) -> None:
    sim = restartable_sim()
    async with _session(sim, "aiohttp", Watch(), give_up_after=1.5) as session:
        sub = session.subscribe(RICS)
        await asyncio.wait_for(sub.wait_complete(), 10)
        sim.kill()  # and it does not come back
        lost = time.monotonic()

        async def drain() -> None:
            async for _ in sub:
                pass

        with pytest.raises(ConnectError, match=r"gave up reconnecting after 1\.5 s"):
            await asyncio.wait_for(drain(), 10)
        assert time.monotonic() - lost < 5.0
        with pytest.raises(ConnectError):
            await asyncio.wait_for(session.wait_closed(), 5)
