"""What the long-running commands (``record``, a ``record --cluster`` worker) share: their
progress lines, their metrics endpoint and their stop on Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from typing import Protocol

from ..exceptions import ConfigError

__all__ = ["MetricsEndpoint", "say", "serve_metrics", "stop_on_signals"]


class MetricsEndpoint(Protocol):
    """A metrics HTTP server (the recorder's or a worker's)."""

    port: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def say(text: str, command: str = "record") -> None:
    """One progress line on stderr: ``ertcloud COMMAND: TEXT``."""
    sys.stderr.write(f"ertcloud {command}: {text}\n")
    sys.stderr.flush()


async def serve_metrics(
    server: MetricsEndpoint, args: argparse.Namespace, stack: AsyncExitStack
) -> None:
    """Start ``server`` on ``--metrics-host``/``--metrics-port`` (stopped with ``stack``);
    a port that cannot be had is a configuration error."""
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
            f"{exc.strerror or exc}"
        ) from None
    stack.push_async_callback(server.stop)
    say(f"metrics at http://{args.metrics_host}:{server.port}/metrics")


def stop_on_signals(stack: AsyncExitStack) -> asyncio.Event:
    """An event set by Ctrl+C or SIGTERM (the handlers are removed with ``stack``)."""
    from .market_price import install_signals

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = install_signals(loop, stop.set)
    stack.callback(lambda: [loop.remove_signal_handler(s) for s in installed])
    return stop
