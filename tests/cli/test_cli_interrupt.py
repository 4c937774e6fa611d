"""Ctrl+C and SIGTERM end a command at once while it waits for the service (a token,
discovery, the WebSocket connection, the Login), with exit code 130 / 143; the waits have
timeouts; a line on the terminal says what is awaited after 2 s (``ERTCLOUD_NOTICE_AFTER``:
here 0.2 s, but for one test that keeps the default).

The commands run on a pseudo-terminal that is their controlling terminal, so Ctrl+C is a
real ``\\x03`` typed at it. The "service" is an aiohttp server in this process whose token
and discovery endpoints never answer and whose WebSocket accepts, then stays silent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cli_forkserver
import pytest
from aiohttp import web
from support import TRANSPORTS, cli_env, ertcloud_cmd, run_cli

from ertcloud.cli.interrupt import NOTICE_AFTER

pytestmark = pytest.mark.timeout(120)

CREDS = ("--user", "u", "--password", "p", "--client-id", "c")
#: a clean exit after a signal must come well within this (the process tree included)
PROMPT_EXIT = 3.0
#: the wait notice, which the tests wait for before they interrupt, sooner than by default
SOON = "0.2"


@dataclass
class Silent:
    """URLs of the never-answering service."""

    base: str

    @property
    def hanging_token(self) -> str:
        return f"{self.base}/hang/token"

    @property
    def token(self) -> str:
        return f"{self.base}/token"

    @property
    def hanging_discovery(self) -> str:
        return f"{self.base}/hang/discovery"

    @property
    def websocket(self) -> str:
        return self.base.replace("http://", "ws://") + "/WebSocket"


async def _hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")  # pragma: no cover


async def _token(request: web.Request) -> web.StreamResponse:
    return web.json_response({"access_token": "tok", "expires_in": "600", "token_type": "Bearer"})


async def _silent_ws(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=("tr_json2",))
    await ws.prepare(request)
    await asyncio.sleep(3600)  # accepts the connection, never answers the Login
    return ws  # pragma: no cover


@pytest.fixture(scope="module")
def silent() -> Iterator[Silent]:
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/hang/token", _hang)
    app.router.add_get("/hang/discovery", _hang)
    app.router.add_post("/token", _token)
    app.router.add_get("/WebSocket", _silent_ws)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Silent(f"http://127.0.0.1:{port}")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        with contextlib.suppress(Exception):
            loop.run_until_complete(runner.cleanup())
        loop.close()


#: makes the pseudo-terminal on fd 0 the controlling terminal, then runs the command
_ON_TTY = "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); " \
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"  # fmt: skip


class OnTerminal:
    """``ertcloud ARGS`` on a pseudo-terminal of its own (its own session; forked as
    ``run_cli``'s commands are)."""

    def __init__(self, *args: str, notice_after: str | None = SOON) -> None:
        self.master, slave = os.openpty()
        env = cli_env() if notice_after is None else cli_env(ERTCLOUD_NOTICE_AFTER=notice_after)
        forked = cli_forkserver.start_on_terminal(list(args), env, slave)
        if forked is not None:
            self.proc: subprocess.Popen[str] = forked
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _ON_TTY, *ertcloud_cmd(*args)[1:]],
                stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                text=True,
            )  # fmt: skip
        os.close(slave)
        self.output = b""

    def read_until(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{needle!r} not seen:\n{self.text}")
        return self.text

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], min(timeout, 0.2))
        if not ready:
            return self.proc.poll() is None
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the terminal closed with the process
            return False
        self.output += chunk
        return bool(chunk)

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        try:
            return self.proc.wait(max(0.0, deadline - time.monotonic()))
        finally:
            while self._read(0.05):
                pass

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)


@contextlib.contextmanager
def on_terminal(*args: str, notice_after: str | None = SOON) -> Iterator[OnTerminal]:
    t = OnTerminal(*args, notice_after=notice_after)
    try:
        yield t
    finally:
        t.close()


def _interrupt(t: OnTerminal, waiting_for: str, how: str = "ctrl-c") -> tuple[int, float]:
    t.read_until(f"waiting for {waiting_for}")
    start = time.monotonic()
    if how == "ctrl-c":
        os.write(t.master, b"\x03")  # typed at the terminal: SIGINT to its foreground group
    else:
        os.killpg(t.proc.pid, signal.SIGTERM)
    code = t.wait(30)
    return code, time.monotonic() - start


def _token_waits(s: Silent) -> dict[str, list[str]]:
    """Commands that wait for a token from an endpoint that never answers."""
    auth = ("--auth-url", s.hanging_token)
    return {
        "market-price": ["market-price", "--hostname", "127.0.0.1", *auth, *CREDS],
        "token": ["token", *auth, *CREDS],
        "subscribe": ["subscribe", "TRI.N", "--url", s.websocket, *auth, *CREDS],
        "post": ["post", "TRI.N", "--field", "BID=1", "--url", s.websocket, *auth, *CREDS],
        "discover": ["discover", "--discovery-url", s.hanging_discovery, *auth, *CREDS],
        "record": ["record", "TRI.N", "--to", "jsonl:/dev/null", "--url", s.websocket, *auth,
                   *CREDS],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["market-price", "token", "subscribe", "record"])
def test_ctrl_c_while_waiting_for_a_token_exits_130_at_once(silent: Silent, command: str) -> None:
    with on_terminal(*_token_waits(silent)[command]) as t:
        code, took = _interrupt(t, f"a token from {silent.hanging_token}")
        assert code == 130, t.text
        assert took < PROMPT_EXIT, f"exit took {took:.1f} s"
        assert "interrupted (SIGINT) while waiting for a token" in t.text
        assert t.text.count("Sending authentication request") <= 1  # not re-sent


@pytest.mark.parametrize("command", ["market-price", "subscribe", "subscribe-aiohttp", "record"])
def test_ctrl_c_while_connecting_to_a_silent_websocket_exits_130_at_once(
    silent: Silent, command: str
) -> None:
    """On the default transport (picows where installed), and on aiohttp."""
    args = {
        "market-price": ["market-price", "--url", silent.websocket],
        "subscribe": ["subscribe", "TRI.N", "--url", silent.websocket],
        "subscribe-aiohttp": ["subscribe", "TRI.N", "--url", silent.websocket,
                              "--transport", "aiohttp"],
        "record": ["record", "TRI.N", "--to", "jsonl:/dev/null", "--url", silent.websocket],
    }[command]  # fmt: skip
    with on_terminal(*args, "--auth-url", silent.token, *CREDS) as t:
        code, took = _interrupt(t, f"the connection to {silent.websocket}")
        assert code == 130, t.text
        assert took < PROMPT_EXIT, f"exit took {took:.1f} s"


def test_ctrl_c_during_service_discovery_exits_130(silent: Silent) -> None:
    args = ["market-price", "--discovery-url", silent.hanging_discovery, "--auth-url"]
    start = time.monotonic()
    with on_terminal(*args, silent.token, *CREDS, notice_after=None) as t:
        what = f"service discovery at {silent.hanging_discovery}"
        t.read_until(f"waiting for {what}")
        assert time.monotonic() - start >= NOTICE_AFTER  # the default when the variable is unset
        code, took = _interrupt(t, what)
        assert code == 130, t.text
        assert took < PROMPT_EXIT


@pytest.mark.parametrize("command", ["token", "discover", "post"])
def test_sigterm_while_waiting_exits_143_at_once(silent: Silent, command: str) -> None:
    with on_terminal(*_token_waits(silent)[command]) as t:
        code, took = _interrupt(t, "a token", how="sigterm")
        assert code == 143, t.text
        assert took < PROMPT_EXIT
        assert "interrupted (SIGTERM)" in t.text


def test_token_timeout_bounds_the_wait(silent: Silent) -> None:
    start = time.monotonic()
    r = run_cli("token", "--auth-url", silent.hanging_token, "--token-timeout", "1", *CREDS)
    assert r.returncode == 1
    assert time.monotonic() - start < 15
    assert r.stderr.strip().splitlines()[-1] == (
        f"ertcloud: error: timed out after 1 s waiting for a token from {silent.hanging_token} "
        "(set --token-timeout)"
    )


def test_connect_timeout_bounds_the_login_wait(silent: Silent) -> None:
    start = time.monotonic()
    r = run_cli(
        "subscribe", "TRI.N", "--url", silent.websocket, "--auth-url", silent.token,
        "--connect-timeout", "1", *CREDS,
    )  # fmt: skip
    assert r.returncode == 1
    assert time.monotonic() - start < 15
    assert f"no Login response from {silent.websocket} within 1 s" in r.stderr


def test_default_timeouts_are_at_most_15_seconds() -> None:
    for command in ("market-price", "subscribe", "record", "token"):
        r = run_cli(command, "--help")
        flat = " ".join(r.stdout.split())
        for option in ("--token-timeout", "--connect-timeout"):
            m = re.search(rf"{option} SECONDS give up [^(]*\(default (\d+)\)", flat)
            assert m is not None, (command, option)
            assert 0 < int(m.group(1)) <= 15


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_bad_notice_delay_is_a_usage_error(value: str) -> None:
    r = run_cli("token", "--auth-url", "http://127.0.0.1:9/token", *CREDS,
                env=cli_env(ERTCLOUD_NOTICE_AFTER=value))  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"ertcloud: error: ERTCLOUD_NOTICE_AFTER must be from 0 to 3600 seconds, got {value!r}"
    )


def test_bad_timeout_is_a_usage_error() -> None:
    r = run_cli("token", "--token-timeout", "0")
    assert r.returncode == 2
    assert (
        r.stderr.strip() == "ertcloud: error: --token-timeout must be from 0 to 3600 seconds, got 0"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ctrl_c_while_streaming_is_a_clean_stop_exit_0(transport: str) -> None:
    with on_terminal("subscribe", "TRI.N", "--format", "jsonl", "--transport", transport) as t:
        t.read_until('"event":"refresh"')
        start = time.monotonic()
        os.write(t.master, b"\x03")
        assert t.wait(30) == 0, t.text
        assert time.monotonic() - start < PROMPT_EXIT
        assert "interrupted" not in t.text
