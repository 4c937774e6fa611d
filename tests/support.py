"""Helpers shared by the tests: running ``ertcloud`` commands and simulator processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the built-in WebSocket transports: the tests of what a session does over a real socket
#: (reconnect, token reissue, pings, hostile frames) run on both, not only on the default
TRANSPORTS = ("aiohttp", "picows")


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HTTPS_PROXY", None)
    env.pop("https_proxy", None)
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    env.update(extra)
    return env


def ertcloud_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ertcloud", *args]


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def client_args(self, *extra: str) -> list[str]:
        """market-price options that point at this simulator."""
        return [
            "--hostname",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--auth_url",
            self.info["token_url"],
            "--user",
            "demo",
            "--password",
            "demo",
            "--clientid",
            "test-app",
            *extra,
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m ertcloud ARGS`` to its end, output captured; forked from a process that
    has the package imported already where that changes nothing (``cli_forkserver``)."""
    import cli_forkserver

    done = cli_forkserver.run(list(args), env or cli_env(), timeout)
    if done is not None:
        return done
    return subprocess.run(
        ertcloud_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m ertcloud ARGS`` started with stdout and stderr on pipes (forked as
    ``run_cli``'s are)."""
    import cli_forkserver

    forked = cli_forkserver.start(list(args), env or cli_env())
    if forked is not None:
        return forked
    return subprocess.Popen(
        ertcloud_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
    )


def start_cli_to(
    args: list[str], stderr: int, stdout: int | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``start_cli`` with stderr on the file descriptor ``stderr`` (``subprocess.DEVNULL``
    for none) and stdout on ``stdout`` (None: on a pipe)."""
    import cli_forkserver

    env = env or cli_env()
    forked = cli_forkserver.start_with(args, env, stderr, stdout)
    if forked is not None:
        return forked
    out = subprocess.PIPE if stdout is None else stdout
    return subprocess.Popen(ertcloud_cmd(*args), stdout=out, stderr=stderr, text=True, env=env)


def wait_for_output(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> str:
    """Read the process's stdout until ``needle`` appears; returns what was read (the rest
    is left for ``communicate()``)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if needle.encode() in seen:
                return seen.decode()
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} not seen in output:\n{seen.decode()[-3000:]}")


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill ``proc`` if it still runs and close its pipes (in a test's ``finally``)."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class Program:
    """A program written like one of the vendor's examples, run as its own process with
    its output on a pipe; ``env`` adds to the environment (a CA bundle to trust...)."""

    def __init__(self, path: Path, args: list[str], **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(**env),
        )
        self.out = ""

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20) -> None:
        """Read output until ``pattern`` (a regex) has appeared ``count`` times."""

        def seen(out: str) -> bool:
            return len(re.findall(pattern, out, re.M)) >= count

        self.wait_until(seen, f"{pattern!r} x{count}", timeout)

    def wait_until(self, done: Callable[[str], bool], what: str, timeout: float = 20) -> None:
        """Read output until ``done(output)`` holds (``what`` names it in the failure)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not done(self.out):
            left = deadline - time.monotonic()
            ended = self.proc.poll() is not None and not select.select([fd], [], [], 0)[0]
            if left <= 0 or ended:
                raise AssertionError(f"{what} not seen:\n{self.out[-4000:]}")
            if select.select([fd], [], [], min(left, 0.2))[0]:
                chunk = os.read(fd, 65536)
                self.out += chunk.decode()

    def stop(self) -> str:
        """Ctrl+C, as a user would; returns the whole output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            try:
                rest, _ = self.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                # A threaded example can miss one Ctrl+C while its socket thread closes;
                # a user presses it again (a hang after that still fails the test).
                self.proc.send_signal(signal.SIGINT)
                rest, _ = self.proc.communicate(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.out += rest or ""
        return self.out


def printed(
    output: str, pattern: str, *, strict: bool = True
) -> Iterator[tuple[re.Match[str], Any]]:
    """Each JSON value printed where the regular expression ``pattern`` ends (``^`` is any
    line start), with its match. Not ``strict``: a match with no JSON value there is passed
    over."""
    dec = json.JSONDecoder()
    for m in re.finditer(pattern, output, re.M):
        try:
            yield m, dec.raw_decode(output, m.end())[0]
        except json.JSONDecodeError:
            if strict:
                raise


def messages(output: str, header: str) -> list[Any]:
    """Every message printed on the lines after each whole line that the regular expression
    ``header`` matches (``SENT:``, ``RECEIVED on session1:``); a frame is one message or an
    array of them."""
    return [
        m
        for _, doc in printed(output, rf"^{header}\n")
        for m in (doc if isinstance(doc, list) else [doc])
    ]


def _blocks(output: str, opener: str) -> Iterator[Any]:
    """The top-level JSON values printed (``indent=2``: ``opener``, a line break, then two
    spaces). The two sessions print from two threads, so a header line may be separated
    from its JSON, or a value may start on the line where the other thread's ended: go by
    the JSON, wherever its opener is on the line."""
    return (doc for _, doc in printed(output, rf"(?=\{opener}\n  \S)", strict=False))


def received(output: str) -> list[dict[str, Any]]:
    """Every message of every received frame (the frames are arrays)."""
    return [m for frame in _blocks(output, "[") for m in frame if isinstance(m, dict)]


def sent(output: str) -> list[dict[str, Any]]:
    """Every message the program sent (printed as objects; the token replies have no ID)."""
    return [m for m in _blocks(output, "{") if "ID" in m or "Type" in m]


async def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait (in the event loop) until ``cond()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def own_names(group: str) -> str:
    """``record --cluster`` query options giving ``group`` a stream, subjects and buckets of its
    own on the suite's shared NATS server (two streams may not share subjects)."""
    name = group.replace("-", "")
    return f"group={group}&stream={name.upper()}&prefix={name}&latest={name}_latest"


@contextlib.asynccontextmanager
async def websocket_server(handler: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[str]:
    """An aiohttp app serving ``handler`` at ``/WebSocket`` on a free loopback port: its URL."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/WebSocket", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/WebSocket"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def counting_python_deliveries() -> Iterator[list[int]]:
    """How many times the Python ``Subscription.deliver_update`` runs meanwhile (the
    compiled core delivers an in-order Update itself)."""
    from types import FrameType

    from ertcloud.client.subscription import Subscription

    code = Subscription.deliver_update.__code__
    calls = [0]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            calls[0] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)
