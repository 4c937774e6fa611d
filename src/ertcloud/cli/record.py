"""``ertcloud record``: record items to one or more sinks, as a long-running service.

    ertcloud record TRI.N EUR= --to duckdb:ticks.db --to jsonl:ticks.jsonl

Every Refresh, Update and Status goes to every ``--to`` sink (default ``ertcloud.duckdb``;
specs: ``jsonl:PATH``, ``csv:PATH``, ``parquet:DIR``, ``duckdb:PATH`` or ``PATH.db``,
``postgres://...``, ``nats://HOST:PORT``). Re-running appends: sequence numbers continue.
A progress line goes to stderr every ``--progress-interval`` seconds; Ctrl+C or SIGTERM
flushes every sink and exits 0 (1 with one line when a sink lost rows: a failing sink is
retried, its rows kept in memory and then a ``--spill-dir`` file of ``--spill-max-mb``).
``--metrics-port`` serves ``/health`` and ``/metrics``.
Credentials come from the options, ``--config``, the environment (``ERTCLOUD_USER``...) or
the credentials file; the endpoint from ``--hostname``/``--url`` or else service discovery
(``--region``; ``--hot-standby`` adds a second endpoint to fail over to). Only when none of
these is given at all does it record the embedded simulator (and says so).
``--config FILE`` reads the same options from a TOML file (command-line options win).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import stat
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bars import parse_interval
from ..config import MAX_SILENCE
from ..exceptions import ConfigError, ErtcloudError
from . import cluster, interrupt
from .common import add_transport_option
from .longrun import say, serve_metrics, stop_on_signals
from .market_price import (
    add_options,
    service_name,
    ssl_context,
    token_url_of,
    websocket_url_of,
)
from .options import description
from .service import open_connection

if TYPE_CHECKING:
    from ..sinks.recorder import Recorder

__all__ = ["Target", "add_parser", "apply_config", "connection_target", "run"]

DEFAULT_SINK = "ertcloud.duckdb"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="record items to DuckDB, Parquet, CSV, JSON lines, PostgreSQL or NATS",
        description=description(__doc__),
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
        "--bars", default=None, metavar="INTERVAL", help="also write OHLC bars (1m, 5s ...)"
    )
    r.add_argument(
        "--metrics-port", type=int, default=None, help="serve /health and /metrics on this port"
    )
    r.add_argument(
        "--metrics-host", default="127.0.0.1", help="address of --metrics-port (127.0.0.1)"
    )
    r.add_argument("--batch-size", type=int, default=2000, help="rows per write (2000)")
    r.add_argument(
        "--flush-interval",
        type=float,
        default=0.5,
        help="fsync/flush the sinks every N s (0.5)",
    )
    _add_sink_options(r)
    r.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        help="progress line on stderr every N s (5; 0: none)",
    )
    add_options(p, command="record")
    add_transport_option(p)
    cluster.add_record_options(p)
    p.set_defaults(func=lambda a: interrupt.run(run(a, p)))


def _add_sink_options(r: Any) -> None:
    r.add_argument(
        "--max-silence",
        type=float,
        default=MAX_SILENCE,
        metavar="S",
        help=f"/health is unhealthy after S s without a message ({MAX_SILENCE:g}; 0: never)",
    )
    r.add_argument(
        "--spill-dir",
        default=None,
        metavar="DIR",
        help="where a failing sink's backlog spills (default: the temporary folder)",
    )
    r.add_argument(
        "--spill-max-mb",
        type=float,
        default=1024,
        metavar="MB",
        help="most a failing sink may spill to disk before rows are dropped (1024)",
    )
    r.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="on exit, wait up to S s for a failing sink to take its backlog (30)",
    )


def _check_spill_dir(path: str | None) -> None:
    if path is not None and not os.path.isdir(path):
        raise ConfigError(f"--spill-dir {path}: no such folder")


def _sink_failure(rec: Recorder) -> str | None:
    """One line saying what the sinks lost, or None when every row reached every sink."""
    runner = rec.runner
    if not runner.lost and not runner.down:
        return None
    parts = []
    if runner.dropped:
        parts.append(f"{runner.dropped} rows dropped (queue full)")
    for s in runner.stats:
        if s.lost or not s.up:
            parts.append(f"sink {s.name}: {s.lost} rows lost, last error {s.last_error}")
    return "; ".join(parts)


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
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None


#: options whose value is a secret: a config file holding one must be private (like ssh)
SECRET_DESTS = ("password", "clientsecret", "new_password")


def _option_dests(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every spelling of every option (``client-id``, ``clientid``...) -> its dest."""
    out: dict[str, str] = {}
    for action in parser._actions:
        out.setdefault(action.dest, action.dest)
        for s in action.option_strings:
            out[s.lstrip("-").replace("-", "_")] = action.dest
    return out


def _check_private(path: str, keys: list[str]) -> None:
    """Refuse a config file holding a secret that the group or others may read."""
    if os.name != "posix" or not keys:
        return
    mode = stat.S_IMODE(Path(path).stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"config file {path} holds a secret ({', '.join(keys)}) and is accessible by "
            f"group or others (mode {mode:04o}); run: chmod 600 {path}"
        )


def apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str) -> None:
    """Fill options not given on the command line from a TOML file.

    Keys are the long option names, in any spelling (``hostname``, ``auth-url``,
    ``clientid``, ``metrics-port``...); a file holding a secret (``password``...) must be
    private to its owner (mode 0600), as ssh requires of keys;
    ``rics`` and ``to`` are lists. Tables (``[connection]``, ``[recording]``, ...) may group
    keys: their names do not matter."""
    data = _load_toml(path)
    flat: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            flat.update(v)
        else:
            flat[k] = v
    dests = _option_dests(parser)
    _check_private(path, [k for k in flat if dests.get(k.replace("-", "_")) in SECRET_DESTS])
    for key, value in flat.items():
        dest = dests.get(key.replace("-", "_"), "")
        if dest == "ric":
            dest = "rics"
        if not dest or dest in ("config", "help", "func"):
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
        say(
            f"no --hostname or credentials given: {doing} SIMULATED data from the "
            f"embedded simulator at {sim.base_url} (not real prices)",
            getattr(args, "command", None) or "record",
        )
        return Target(
            sim.token_url, sim.websocket_url, None, "demo", "demo", "ertcloud-app",
            True,
        )  # fmt: skip
    auth_url = token_url_of(args)
    ws_url = websocket_url_of(args, auth_url)
    return Target(
        auth_url,
        ws_url,
        ssl_context(args, auth_url, ws_url),
        args.user,
        args.password,
        args.clientid,
        False,
    )


def rics_of(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for r in [*(args.rics or []), *(args.ric or [])]:
        out.extend(x.strip() for x in r.split(",") if x.strip())
    return list(dict.fromkeys(out))


async def _progress(rec: Recorder, interval: float) -> None:
    last_t, last_n = time.monotonic(), 0
    while True:
        await asyncio.sleep(interval)
        now, n = time.monotonic(), rec.stats.updates
        rate = (n - last_n) / max(now - last_t, 1e-9)
        last_t, last_n = now, n
        say(progress_line(rec, rate))


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
    for s in rec.runner.stats:
        if not s.up:
            text += f", sink {s.name} DOWN ({s.backlog} rows kept)"
        if s.lost:
            text += f", sink {s.name} LOST {s.lost} rows"
    if st.disconnects:
        text += f", {st.disconnects} disconnects"
    return text


async def run(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Record until Ctrl+C, SIGTERM, ``--duration`` or a fatal error; returns the exit code."""
    if args.config:
        if parser is None:
            raise ConfigError("--config needs the argument parser")
        apply_config(args, parser, args.config)
    rics = rics_of(args)
    if getattr(args, "from_url", None):
        return await cluster.run_record_from(args, args.to or [DEFAULT_SINK])
    if getattr(args, "cluster", None):
        return await cluster.run_record_cluster(args, rics)
    if getattr(args, "chain", None):
        raise ConfigError("--chain needs --cluster (a chain is the item universe of a group)")
    if not rics:
        raise ConfigError("no item to record: give RICs (or rics = [...] in --config)")
    if args.batch_size <= 0 or args.flush_interval <= 0:
        raise ConfigError("--batch-size and --flush-interval must be positive")
    if args.spill_max_mb < 0 or args.drain_timeout < 0 or args.max_silence < 0:
        raise ConfigError("--spill-max-mb, --drain-timeout and --max-silence must be >= 0")
    _check_spill_dir(args.spill_dir)
    bars = getattr(args, "bars", None)
    if bars is not None:
        try:
            parse_interval(bars)
        except ValueError as exc:
            raise ConfigError(f"--bars: {exc}") from None
    from ..sinks.metrics import MetricsServer
    from ..sinks.recorder import Recorder
    from ..sinks.spec import make_sink

    sinks = [make_sink(s) for s in (args.to or [DEFAULT_SINK])]

    await _open_sinks(sinks)  # a bad sink fails fast, before anything else starts
    async with AsyncExitStack() as stack:
        stack.push_async_callback(_close_sinks, sinks)  # if the recorder never took them
        # The simulator only when no credential of any kind is given (see cli/service.py).
        conn = await open_connection(args, stack)
        rec: Recorder | None = None

        def trace(kind: str, detail: Any) -> None:
            if rec is not None:
                rec.on_trace(kind, detail)

        session = conn.session(
            args, connect_timeout=args.connect_timeout, trace=trace, transport=args.transport
        )
        rec = Recorder(
            session,
            sinks,
            batch_size=args.batch_size,
            flush_interval=args.flush_interval,
            spill_dir=args.spill_dir,
            spill_bytes=int(args.spill_max_mb * (1 << 20)),
            close_timeout=args.drain_timeout,
            bars=bars,
        )
        try:
            await rec.open(already_open=True)
        except Exception as exc:
            await rec.runner.close()
            raise ConfigError(f"cannot open sink: {_one_line(exc)}") from None
        stack.push_async_callback(rec.runner.close)
        metrics: MetricsServer | None = None
        if args.metrics_port is not None:
            metrics = MetricsServer(
                rec,
                args.metrics_host,
                args.metrics_port,
                max_silence=args.max_silence or None,
            )
            await serve_metrics(metrics, args, stack)
        stop = stop_on_signals(stack)
        with interrupt.waiting(f"the connection to {conn.urls[0]} and the Login"):
            await session.start()
        stack.push_async_callback(session.close)
        fields = [f.strip() for f in args.view.split(",")] if args.view else None
        rec.subscribe(rics, fields=fields, domain=args.domain, service=service_name(args.service))
        say(
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
        say(f"stopped: {progress_line(rec, 0.0).split(', ', 2)[2]}; last seq {rec.next_seq - 1}")
        failure = _sink_failure(rec)
    if failure is not None:
        raise ErtcloudError(failure)
    return 0


async def _open_sinks(sinks: list[Any]) -> None:
    """Open every sink (in threads); on a failure close the others and raise one line."""
    done: list[Any] = []
    try:
        for s in sinks:
            await asyncio.to_thread(s.open)
            done.append(s)
    except Exception as exc:
        await _close_sinks(done)
        raise ConfigError(f"cannot open sink {s.name}: {_one_line(exc)}") from None


async def _close_sinks(sinks: list[Any]) -> None:
    """Close sinks (closing twice is harmless), ignoring errors: for the exit paths."""
    for s in sinks:
        try:
            await asyncio.to_thread(s.close)
        except Exception:
            pass


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
