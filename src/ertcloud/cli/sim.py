"""``ertcloud sim``: run the simulator of the gateway, discovery and streaming server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from ..exceptions import ConfigError
from ..sim.ads import ServerConfig
from ..sim.server import SimOptions, SimServer, startup_line

__all__ = ["add_parser", "options_from_args", "read_users_file"]


def read_users_file(path: str) -> dict[str, str]:
    """Users as a JSON object ``{"user": "password"}`` or lines ``user:password``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read users file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    users: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, pw = line.partition(":")
        if not sep or not user:
            raise ConfigError(f"{path}:{n}: expected user:password")
        users[user] = pw
    return users


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port (0 = any free port; default 8443)")
    p.add_argument("--user", default=None, help="accepted user name (default: demo)")
    p.add_argument("--password", default=None, help="password of --user (default: demo)")
    p.add_argument(
        "--users-file", default=None, help="JSON {user: password} or user:password lines"
    )
    p.add_argument(
        "--token-ttl", type=int, default=300, help="access token lifetime, s (default 300)"
    )
    p.add_argument("--refresh-ttl", type=int, default=900, help="refresh token lifetime, s")
    p.add_argument(
        "--ping-timeout", type=int, default=30, help="PingTimeout advertised and enforced, s"
    )
    p.add_argument(
        "--max-msg-size", type=int, default=61430, help="MaxMsgSize advertised and enforced"
    )
    p.add_argument("--rate", type=float, default=2.0, help="updates per second per subscribed item")
    p.add_argument("--seed", type=int, default=42, help="seed of the market process")
    p.add_argument("--service", default="ELEKTRON_DD", help="service name (id 257)")
    p.add_argument("--rics", default="", help="extra instruments to serve, comma-separated")
    p.add_argument("--tls-cert", default=None, help="serve HTTPS/WSS with this certificate (PEM)")
    p.add_argument("--tls-key", default=None, help="private key of --tls-cert (PEM)")
    p.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve HTTPS/WSS with a fresh self-signed cert",
    )
    p.add_argument(
        "--allow-user-login",
        action="store_true",
        help="also accept deployed-ADS style logins by user name (no token)",
    )
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")


def options_from_args(a: argparse.Namespace) -> SimOptions:
    if (a.tls_cert is None) != (a.tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if a.tls_cert and a.tls_self_signed:
        raise ConfigError("--tls-self-signed cannot be combined with --tls-cert")
    for path in (a.tls_cert, a.tls_key):
        if path and not Path(path).is_file():
            raise ConfigError(f"no such file: {path}")
    users = read_users_file(a.users_file) if a.users_file else {}
    if a.user or a.password or not users:
        users[a.user or "demo"] = a.password if a.password is not None else "demo"
    if a.token_ttl <= 0 or a.ping_timeout <= 0:
        raise ConfigError("--token-ttl and --ping-timeout must be positive")
    cfg = ServerConfig(
        ping_timeout=a.ping_timeout,
        max_msg_size=a.max_msg_size,
        rate=a.rate,
        services={a.service: 257},
        default_service=a.service,
        allow_user_login=a.allow_user_login,
    )
    return SimOptions(
        host=a.host,
        port=a.port,
        users=users,
        token_ttl=a.token_ttl,
        refresh_ttl=a.refresh_ttl,
        seed=a.seed,
        extra_rics=tuple(r.strip() for r in a.rics.split(",") if r.strip()),
        tls_cert=a.tls_cert,
        tls_key=a.tls_key,
        tls_self_signed=a.tls_self_signed,
        server=cfg,
    )


async def serve(opts: SimOptions) -> int:
    sim = SimServer(opts)
    try:
        await sim.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}"
        ) from None
    sys.stdout.write(startup_line(sim) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sim", help="run the simulator (gateway, discovery, streaming server)", description=__doc__
    )
    add_options(p)

    def _run(a: argparse.Namespace) -> int:
        logging.basicConfig(
            level=a.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        return asyncio.run(serve(options_from_args(a)))

    p.set_defaults(func=_run)
