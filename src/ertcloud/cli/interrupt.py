"""Signals and waits of the command line.

A command runs under :func:`run`. Ctrl+C (SIGINT) or SIGTERM while it waits for the
service (a token, discovery, the WebSocket connection, the Login) stops it at once, with
exit code 130 (SIGINT) or 143 (SIGTERM). Once it streams, a command takes the signal as
its normal end (:func:`on_stop`): it closes its streams and exits 0. A second signal
always ends the process at once.

:func:`wait_for` bounds each wait and, after :data:`NOTICE_AFTER` seconds (or
``ERTCLOUD_NOTICE_AFTER`` from the environment), says on stderr (when it is a terminal) what
the command is waiting for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..exceptions import ConfigError, ErtcloudError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TOKEN_TIMEOUT",
    "NOTICE_AFTER",
    "notice_after",
    "on_stop",
    "run",
    "wait_for",
    "waiting",
]

T = TypeVar("T")

#: seconds before a wait is announced on stderr (``ERTCLOUD_NOTICE_AFTER`` overrides it)
NOTICE_AFTER = 2.0
NOTICE_AFTER_ENV = "ERTCLOUD_NOTICE_AFTER"
DEFAULT_TOKEN_TIMEOUT = 15.0
DEFAULT_CONNECT_TIMEOUT = 10.0
#: seconds the clean-up after an interrupted wait may take before the process just ends
CLEANUP_GRACE = 1.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Runner:
    """The signal dispatch of one command run."""

    def __init__(self, task: asyncio.Future[int], notice_after: float) -> None:
        self.task = task
        self.notice_after = notice_after
        self.stops: list[Callable[[], None]] = []
        self.waits: list[str] = []
        self.signum: int | None = None  # the signal that cancelled the command
        self.stopping = False

    def on_signal(self, signum: int) -> None:
        if self.signum is not None or self.stopping:
            # A second signal: the first one's clean-up is taking too long.
            self.signum = self.signum or signum
            self.exit_now()
        if self.stops and not self.waits:
            self.stopping = True
            self.stops[-1]()
            return
        self.signum = signum
        what = f" while waiting for {self.waits[-1]}" if self.waits else ""
        sys.stderr.write(f"ertcloud: interrupted ({signal.Signals(signum).name}){what}\n")
        sys.stderr.flush()
        self.task.cancel()
        # Closing a half-open connection can take seconds (a silent peer never answers the
        # close): the clean-up gets CLEANUP_GRACE, then the process ends regardless.
        asyncio.get_running_loop().call_later(CLEANUP_GRACE, self.exit_now)

    def exit_now(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + (self.signum or signal.SIGINT))

    def notice(self, what: str) -> None:
        # For the person at the terminal: scripts reading stderr keep one-line errors.
        if not sys.stderr.isatty():
            return
        if self.waits and self.waits[-1] == what and self.signum is None:
            sys.stderr.write(f"ertcloud: waiting for {what} (Ctrl+C to stop)\n")
            sys.stderr.flush()


_current: _Runner | None = None


def run(main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; returns its exit code (128 + the signal if a signal
    ended it while it was waiting)."""
    try:
        after = notice_after()
    except ConfigError:
        main.close()
        raise
    return asyncio.run(_run(main, after))


def notice_after() -> float:
    """Seconds before a wait is announced: ``ERTCLOUD_NOTICE_AFTER`` or :data:`NOTICE_AFTER`."""
    value = os.environ.get(NOTICE_AFTER_ENV, "").strip()
    if not value:
        return NOTICE_AFTER
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise ConfigError(f"{NOTICE_AFTER_ENV} must be from 0 to 3600 seconds, got {value!r}")
    return seconds


async def _run(main: Coroutine[Any, Any, int], after: float) -> int:
    global _current
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    runner = _Runner(task, after)
    installed: list[int] = []
    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, runner.on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
    _current = runner
    try:
        code = await task
        # A signal during a wait means 128 + signal even if the command swallowed the
        # cancellation and returned.
        return code if runner.signum is None else 128 + runner.signum
    except asyncio.CancelledError:
        if runner.signum is None:
            raise
        return 128 + runner.signum
    finally:
        _current = None
        for signum in installed:
            loop.remove_signal_handler(signum)


def on_stop(callback: Callable[[], None]) -> bool:
    """From now on, a signal calls ``callback`` (a clean stop) unless a wait is under way.
    False when no :func:`run` is active (the caller then handles signals itself)."""
    if _current is None:
        return False
    _current.stops.append(callback)
    return True


@contextmanager
def waiting(what: str) -> Iterator[None]:
    """Mark a wait for ``what``: a signal during it ends the command at once, and a line
    on stderr names it after :func:`notice_after` seconds."""
    runner = _current
    if runner is None:
        yield
        return
    runner.waits.append(what)
    handle = asyncio.get_running_loop().call_later(runner.notice_after, runner.notice, what)
    try:
        yield
    finally:
        handle.cancel()
        runner.waits.pop()


async def wait_for(
    aw: Awaitable[T],
    what: str,
    timeout: float | None,
    *,
    option: str,
    error: type[ErtcloudError] = ErtcloudError,
) -> T:
    """Await ``aw`` as a :func:`waiting` for ``what``, at most ``timeout`` seconds (then
    ``error``, naming the ``option`` that sets the bound)."""
    with waiting(what):
        try:
            return await asyncio.wait_for(aw, timeout)
        except asyncio.TimeoutError:
            raise error(
                f"timed out after {timeout:g} s waiting for {what} (set {option})"
            ) from None
