"""The cluster parts of the command line.

``ertcloud record --cluster nats://h1:4222,h2:4222?group=G RIC... --worker-name W`` runs
one worker of a group; ``ertcloud record --from nats://... --to SINK`` records the
cluster's stream into sinks; ``ertcloud subscribe --from nats://... RIC|'*'`` prints it;
``ertcloud cluster status nats://...`` shows the workers and their leases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from .common import transport_option
from .longrun import say, serve_metrics, stop_on_signals
from .market_price import option_value
from .options import description

if TYPE_CHECKING:
    from ..client.session import Session
    from ..client.standby import HotStandby
    from .service import Connection

__all__ = [
    "add_parser",
    "add_record_options",
    "run_record_cluster",
    "run_record_from",
    "run_subscribe_from",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "cluster",
        help="cluster operations (status of the workers of a group)",
        description=description(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    csub = p.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    s = csub.add_parser(
        "status",
        help="workers, leases, rates and lag of a group",
        description="The workers of a recording group on a NATS cluster: each one's items "
        "(leases), message rate and lag behind the stream.",
    )
    s.add_argument(
        "cluster_url", metavar="URL", help="nats://host:port[,host:port...][?group=NAME]"
    )
    s.add_argument("--group", default=None, help="group name (or ?group= in the URL)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=lambda a: asyncio.run(_status(a)))


async def _status(a: argparse.Namespace) -> int:
    from ..cluster.config import parse_cluster_url
    from ..cluster.status import cluster_status, format_status

    st = await cluster_status(parse_cluster_url(a.cluster_url, group=a.group))
    print(json.dumps(st, indent=2) if a.json else format_status(st))
    return 0


def add_record_options(p: argparse.ArgumentParser) -> None:
    """``record``'s cluster options."""
    g = p.add_argument_group("cluster options")
    g.add_argument(
        "--cluster", default=None, metavar="URL",
        help="run as one worker of a group sharing the items over NATS JetStream",
    )  # fmt: skip
    g.add_argument(
        "--from", dest="from_url", default=None, metavar="URL",
        help="record a cluster's stream (nats://...) into the --to sinks",
    )  # fmt: skip
    g.add_argument("--worker-name", default=None, help="this worker's name (host name)")
    g.add_argument("--group", default=None, help="cluster group (or ?group= in the URL)")
    g.add_argument("--lease-ttl", type=float, default=None, help="lease lifetime, s (5)")
    g.add_argument("--items-file", default=None, help="file of items, one per line")
    g.add_argument(
        "--chain", action="append", default=None, metavar="CHAIN",
        help="share a chain's constituents (0#.DJI), followed as it changes; repeatable",
    )  # fmt: skip


def _items(args: argparse.Namespace, rics: list[str]) -> list[str]:
    out = list(rics)
    if args.items_file:
        try:
            text = Path(args.items_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {args.items_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(
                f"{args.items_file} is not a text file of items (one per line)"
            ) from None
        listed: list[str] = []
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            listed.extend(x.strip() for x in line.split(",") if x.strip())
        if not listed:
            raise ConfigError(f"{args.items_file} lists no item (one per line, # comments)")
        out.extend(listed)
    return list(dict.fromkeys(out))


async def run_record_cluster(args: argparse.Namespace, rics: list[str]) -> int:
    """One worker of a cluster group, until Ctrl+C, SIGTERM or ``--duration``."""
    from ..client.standby import HotStandby
    from ..cluster.config import parse_cluster_url
    from ..cluster.metrics import WorkerMetricsServer
    from ..cluster.worker import Worker
    from .market_price import service_name
    from .service import open_connection

    items = _items(args, rics)
    chains = list(dict.fromkeys(getattr(args, "chain", None) or []))
    if not items and not chains:
        raise ConfigError("no item to share: give RICs, --items-file or --chain")
    name = args.worker_name or re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())
    if not _NAME.match(name):
        raise ConfigError(f"worker name {name!r}: use letters, digits, _ and -")
    cfg = parse_cluster_url(args.cluster, group=args.group, ttl=args.lease_ttl)
    async with AsyncExitStack() as stack:
        # the same rules as record: credentials from options, config or environment;
        # the simulator only when nothing names a service (cli/service.py)
        conn = await open_connection(args, stack)
        session: Session | HotStandby
        if option_value(args, "hotstandby"):
            session = _hot_standby(args, conn)
        else:
            session = conn.session(args, conn.urls[:1], transport=transport_option(args))
        worker = Worker(
            cfg, name, items, session, domain=args.domain, service=service_name(args.service)
        )
        await worker.open()
        stack.push_async_callback(worker.close)
        if args.metrics_port is not None:
            metrics = WorkerMetricsServer(worker, args.metrics_host, args.metrics_port)
            await serve_metrics(metrics, args, stack)
        await session.start()
        stack.push_async_callback(session.close)
        if chains:
            from ..cluster.universe import ChainUniverse

            # with --hotstandby the chains are followed on the session that started first
            follow = session
            if isinstance(follow, HotStandby):
                follow = next(s for s in follow.sessions if s is not None)
            universe = ChainUniverse(
                worker, follow, chains, items, service=service_name(args.service)
            )
            await universe.start()  # a chain that does not exist: ChainError, one line
            stack.push_async_callback(universe.close)
            items = worker.rics
        stop = stop_on_signals(stack)
        if args.duration is not None:
            asyncio.get_running_loop().call_later(args.duration, stop.set)
        say(
            f"worker {name} of group {cfg.group} at {cfg.display}: sharing {len(items)} "
            f"item(s), lease TTL {cfg.ttl:g} s"
            + (" (hot standby: two sessions)" if isinstance(session, HotStandby) else "")
        )
        progress = None
        if args.progress_interval > 0:
            progress = asyncio.ensure_future(_progress(worker, args.progress_interval))
        try:
            await worker.run(stop)
        finally:
            if progress is not None:
                progress.cancel()
        await worker.close()
        say(f"worker {name} stopped: {worker.stats.messages} messages")
    return 0


def _hot_standby(args: argparse.Namespace, conn: Connection) -> HotStandby:
    """Two sessions on the service's first two endpoints, one de-duplicated flow."""
    from ..client.standby import HotStandby
    from ..protocol.login import LoginParams
    from .market_price import default_position

    if len(conn.urls) < 2:
        raise ConfigError(
            "--hotstandby needs two endpoints: --standby-hostname with --hostname, or a "
            "pair from service discovery"
        )
    return HotStandby(
        conn.urls[:2],
        tokens=conn.tokens,
        login=LoginParams(application_id=args.app_id, position=args.position or default_position()),
        ssl_context=conn.ssl,
        connect_timeout=args.connect_timeout,
        transport=transport_option(args),
    )


async def _progress(worker: Any, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        i = worker.info()
        say(
            f"worker {worker.name}: {i['items']} items, {len(worker.members)} workers, "
            f"{i['rate']:.1f} msg/s, {i['published']} published, {i['queued']} queued"
        )


def _start(spec: str | None) -> str | int:
    if spec is None or spec in ("now", "all"):
        return spec or "now"
    try:
        return int(spec)
    except ValueError:
        raise ConfigError(f"start must be now, all or a sequence number, not {spec!r}") from None


async def run_record_from(args: argparse.Namespace, sink_specs: list[str]) -> int:
    """Record a cluster's stream into sinks, resuming after the last stored message."""
    from ..cluster.config import parse_cluster_url
    from ..cluster.consume import consume, last_stored
    from ..sinks.runner import SinkRunner
    from ..sinks.spec import make_sink
    from .market_price import install_signals

    cfg = parse_cluster_url(args.from_url, group=args.group)
    await last_stored(cfg)  # NATS reachable, the stream there: else one line, no sink opened
    runner = SinkRunner(
        [make_sink(s) for s in sink_specs],
        batch_size=args.batch_size,
        flush_interval=args.flush_interval,
    )
    try:
        last = await runner.open()
    except Exception as exc:
        await runner.close()
        raise ConfigError(f"cannot open sink: {type(exc).__name__}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = install_signals(loop, stop.set)
    n = skipped = 0

    async def pump() -> None:
        nonlocal n, skipped
        async for m in consume(cfg, start=last + 1 if last else "all"):
            try:
                row = m.row()
            except (KeyError, TypeError, ValueError):
                skipped += 1  # not an item message of a worker (another publisher's)
                continue
            runner.submit(row)
            n += 1

    task = asyncio.ensure_future(pump())
    stopper = asyncio.ensure_future(stop.wait())
    say(f"recording the stream {cfg.stream} at {cfg.display} from seq {last + 1}")
    try:
        done, _ = await asyncio.wait(
            [task, stopper], timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()
    finally:
        task.cancel()
        stopper.cancel()
        for s in installed:
            loop.remove_signal_handler(s)
        await runner.close()
    say(
        f"stopped: {n} messages recorded" + (f", {skipped} foreign ones skipped" if skipped else "")
    )
    return 0


async def run_subscribe_from(args: argparse.Namespace, rics: list[str]) -> int:
    """Print a cluster's messages as JSON lines (all items with ``*``)."""
    from ..cluster.config import parse_cluster_url
    from ..cluster.consume import consume

    cfg = parse_cluster_url(args.from_url)
    wanted = [] if "*" in rics else rics
    start = _start(getattr(args, "start", None))
    deadline = None if args.duration is None else time.monotonic() + args.duration
    count = 0

    async def pump() -> None:
        nonlocal count
        async for m in consume(cfg, rics=wanted, domain=args.domain, start=start):
            line = {"seq": m.seq, "kind": m.kind, "ric": m.ric, "sn": m.sn, "epoch": m.epoch,
                    "worker": m.worker, "ts": m.ts, "fields": m.fields}  # fmt: skip
            raw = m.body.get("raw")
            if isinstance(raw, str) and '"SimTs"' in raw:  # the simulator's send stamp
                line["sim_ts"] = json.loads(raw).get("SimTs")
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
            count += 1
            if args.count is not None and count >= args.count:
                return

    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        await asyncio.wait_for(pump(), timeout)
    except asyncio.TimeoutError:
        pass
    return 0
