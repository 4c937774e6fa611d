"""``ertcloud record``: record items to one or more sinks, as a long-running service.

    ertcloud record TRI.N EUR= --to duckdb:ticks.db --to jsonl:ticks.jsonl

Every Refresh, Update and Status goes to every ``--to`` sink (default ``ertcloud.duckdb``;
specs: ``jsonl:PATH``, ``csv:PATH``, ``parquet:DIR``, ``duckdb:PATH`` or ``PATH.db``,
``postgres://...``, ``nats://HOST:PORT``). Re-running appends: sequence numbers continue.
A progress line goes to stderr every ``--progress-interval`` seconds; Ctrl+C or SIGTERM
flushes every sink and exits 0. ``--metrics-port`` serves ``/health`` and ``/metrics``.
Without ``--hostname`` and credentials it records the embedded simulator (and says so).
``--config FILE`` reads the same options from a TOML file (command-line options win).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..auth.client import TokenClient
from ..auth.grants import PasswordCredentials
from ..auth.manager import TokenManager
from ..client.session import Session
from ..config import resolve_credentials
from ..exceptions import ConfigError
from ..protocol.login import LoginParams
from ..sinks.metrics import MetricsServer
from ..sinks.recorder import Recorder
from ..sinks.spec import make_sink
from . import cluster
from .market_price import (
    _auth_url,
    _install_signals,
    _service,
    _ws_url,
    add_options,
    default_position,
    ssl_context,
)

__all__ = ["Target", "add_parser", "apply_config", "connection_target", "fill_credentials", "run"]

DEFAULT_SINK = "ertcloud.duckdb"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="record items to DuckDB, Parquet, CSV, JSON lines, PostgreSQL or NATS",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rics", nargs="*", metavar="RIC", help="items to record (or --ric)")
    r = p.add_argument_group("recording options")
    r.add_argument(
        "--to",
        action="append",
        default=None,
        metavar="SINK",
        help=f"where to write; repeat for several (default {DEFAULT_SINK})",
    )
    r.add_argument("--config", default=None, metavar="FILE", help="read options from a TOML file")
    r.add_argument("--domain", default="MarketPrice", help="domain of the items (MarketPrice)")
    r.add_argument(
        "--metrics-port", type=int, default=None, help="serve /health and /metrics on this port"
    )
    r.add_argument(
        "--metrics-host", default="127.0.0.1", help="address of --metrics-port (127.0.0.1)"
    )
    r.add_argument("--batch-size", type=int, default=2000, help="rows per write (2000)")
    r.add_argument(
        "--flush-interval", type=float, default=1.0, help="flush the sinks every N s (1)"
    )
    r.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        help="progress line on stderr every N s (5; 0: none)",
    )
    add_options(p)
    cluster.add_record_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a, p)))


def _load_toml(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str) -> None:
    """Fill options not given on the command line from a TOML file.

    Keys are the long option names (``hostname``, ``auth_url``, ``metrics-port``, ...);
    ``rics`` and ``to`` are lists. Tables (``[connection]``, ``[recording]``, ...) may group
    keys: their names do not matter."""
    data = _load_toml(path)
    flat: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    known = {a.dest for a in parser._actions}
    for key, value in flat.items():
        dest = key.replace("-", "_")
        if dest == "ric":
            dest = "rics"
        if dest not in known or dest in ("config", "help", "func"):
            raise ConfigError(f"{path}: unknown option {key!r}")
        current = getattr(args, dest, None)
        if current not in (parser.get_default(dest), [], None):
            continue  # given on the command line
        if dest in ("rics", "to"):
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ConfigError(f"{path}: {key} must be a list of strings")
        elif isinstance(value, (list, dict)):
            raise ConfigError(f"{path}: {key} must be a single value")
        default = parser.get_default(dest)
        if isinstance(default, str) and not isinstance(value, str):
            value = str(value)
        setattr(args, dest, value)


@dataclass
class Target:
    """Where and as whom to connect."""

    auth_url: str
    ws_url: str
    ssl: ssl.SSLContext | bool | None
    user: str
    password: str
    clientid: str
    simulated: bool


async def connection_target(
    args: argparse.Namespace, stack: AsyncExitStack, embedded: bool, doing: str
) -> Target:
    """The service the market-price options name or, when ``embedded``, a simulator
    started in this process (kept running until ``stack`` closes; said on stderr)."""
    if embedded:
        from ..sim.server import SimOptions, SimServer

        sim = await stack.enter_async_context(SimServer(SimOptions(host="127.0.0.1", port=0)))
        _say(
            f"no --hostname or credentials given: {doing} SIMULATED data from the "
            f"embedded simulator at {sim.base_url} (not real prices)",
            getattr(args, "command", None) or "record",
        )
        return Target(
            sim.token_url, sim.websocket_url, None, "demo", "demo", "ertcloud-app",
            True,
        )  # fmt: skip
    auth_url = _auth_url(args)
    return Target(
        auth_url,
        _ws_url(args, auth_url),
        ssl_context(args),
        args.user,
        args.password,
        args.clientid,
        False,
    )


def fill_credentials(args: argparse.Namespace) -> None:
    """Credentials not on the command line from the environment (``ERTCLOUD_USER``,
    ``ERTCLOUD_PASSWORD``, ``ERTCLOUD_CLIENT_ID``) or the credentials file."""
    creds = resolve_credentials(
        user=args.user or None,
        password=args.password or None,
        client_id=args.clientid or None,
        file=getattr(args, "credentials", None),
    )
    args.user = creds.user or ""
    args.password = creds.password or ""
    args.clientid = creds.client_id or ""


def _rics(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for r in [*(args.rics or []), *(args.ric or [])]:
        out.extend(x.strip() for x in r.split(",") if x.strip())
    return list(dict.fromkeys(out))


def _say(text: str, command: str = "record") -> None:
    sys.stderr.write(f"ertcloud {command}: {text}\n")
    sys.stderr.flush()


async def _progress(rec: Recorder, interval: float) -> None:
    last_t, last_n = time.monotonic(), 0
    while True:
        await asyncio.sleep(interval)
        now, n = time.monotonic(), rec.stats.updates
        rate = (n - last_n) / max(now - last_t, 1e-9)
        last_t, last_n = now, n
        _say(progress_line(rec, rate))


def progress_line(rec: Recorder, rate: float) -> str:
    with_data, subscribed = rec.items
    st = rec.stats
    text = (
        f"items {with_data}/{subscribed}, {rate:.1f} updates/s, "
        f"{rec.runner.rows_written} rows written, {rec.runner.queued} queued"
        f"{'' if st.connected else ', disconnected'}"
    )
    if rec.runner.dropped:
        text += f", {rec.runner.dropped} dropped"
    errors = sum(s.errors for s in rec.runner.stats)
    if errors:
        text += f", {errors} sink errors"
    return text


async def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Record until Ctrl+C, SIGTERM, ``--duration`` or a fatal error; returns the exit code."""
    if args.config:
        if parser is None:
            raise ConfigError("--config needs the argument parser")
        apply_config(args, parser, args.config)
    rics = _rics(args)
    if getattr(args, "from_url", None):
        return await cluster.run_record_from(args, args.to or [DEFAULT_SINK])
    if getattr(args, "cluster", None):
        return await cluster.run_record_cluster(args, rics)
    if not rics:
        raise ConfigError("no item to record: give RICs (or rics = [...] in --config)")
    if args.batch_size <= 0 or args.flush_interval <= 0:
        raise ConfigError("--batch-size and --flush-interval must be positive")
    sinks = [make_sink(s) for s in (args.to or [DEFAULT_SINK])]
    embedded = not (args.hostname or args.user or args.password or args.clientid)
    if not embedded:
        fill_credentials(args)
    if not embedded and not (args.user and args.clientid and args.password and args.hostname):
        raise ConfigError("user, clientid, password, and hostname are required options")

    async with AsyncExitStack() as stack:
        t = await connection_target(args, stack, embedded, "recording")
        auth_url, ws_url, sslctx = t.auth_url, t.ws_url, t.ssl
        user, password, clientid = t.user, t.password, t.clientid
        client = TokenClient(auth_url, ssl_context=sslctx)
        stack.push_async_callback(client.close)
        tokens = TokenManager(
            client,
            PasswordCredentials(
                username=user,
                password=password,
                client_id=clientid,
                scope=args.scope,
                new_password=None if t.simulated else args.new_password,
            ),
        )
        rec: Recorder | None = None

        def trace(kind: str, detail: Any) -> None:
            if rec is not None:
                rec.on_trace(kind, detail)

        session = Session(
            ws_url,
            tokens=tokens,
            login=LoginParams(
                application_id=args.app_id, position=args.position or default_position()
            ),
            ssl_context=sslctx,
            reconnect=not args.no_reconnect,
            trace=trace,
        )
        rec = Recorder(
            session, sinks, batch_size=args.batch_size, flush_interval=args.flush_interval
        )
        try:
            await rec.open()
        except Exception as exc:
            await rec.runner.close()
            raise ConfigError(f"cannot open sink: {type(exc).__name__}: {exc}") from None
        stack.push_async_callback(rec.runner.close)
        metrics: MetricsServer | None = None
        if args.metrics_port is not None:
            metrics = MetricsServer(rec, args.metrics_host, args.metrics_port)
            try:
                await metrics.start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
                    f"{exc.strerror or exc}"
                ) from None
            stack.push_async_callback(metrics.stop)
            _say(f"metrics at http://{args.metrics_host}:{metrics.port}/metrics")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = _install_signals(loop, stop.set)
        stack.callback(lambda: [loop.remove_signal_handler(s) for s in installed])
        await session.start()
        stack.push_async_callback(session.close)
        fields = [f.strip() for f in args.view.split(",")] if args.view else None
        rec.subscribe(rics, fields=fields, domain=args.domain, service=_service(args.service))
        _say(
            f"recording {len(rics)} item(s) to {', '.join(s.name for s in sinks)} "
            f"from seq {rec.next_seq}"
        )
        progress = None
        if args.progress_interval > 0:
            progress = asyncio.create_task(_progress(rec, args.progress_interval))
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(session.wait_closed())]
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in waiters:
                w.cancel()
            if progress is not None:
                progress.cancel()
        for w in done:
            if not w.cancelled() and w.exception() is not None:
                raise w.exception()  # type: ignore[misc]
        await rec.close()
        await session.close()
        _say(f"stopped: {progress_line(rec, 0.0).split(', ', 2)[2]}; last seq {rec.next_seq - 1}")
    return 0
