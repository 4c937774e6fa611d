"""``ertcloud sim``: run the simulator of the gateway, discovery and streaming server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..auth.jwt import load_jwk
from ..exceptions import ConfigError
from ..sim.policies import PING_MODES, SLOW_CONSUMER_POLICIES
from .options import add_option, description, log_level
from .sim_trader import add_trader_options, trader_config

if TYPE_CHECKING:
    from ..sim.server import SimOptions

__all__ = ["add_parser", "options_from_args", "parse_denials", "read_users_file"]


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


def parse_denials(specs: list[str]) -> dict[str, frozenset[str]]:
    """``["USER:RIC,RIC", ...]`` as user -> denied RICs."""
    out: dict[str, set[str]] = {}
    for spec in specs:
        user, sep, rics = spec.partition(":")
        names = {r.strip() for r in rics.split(",") if r.strip()}
        if not sep or not user or not names:
            raise ConfigError(f"--deny {spec!r}: expected USER:RIC[,RIC...]")
        out.setdefault(user, set()).update(names)
    return {u: frozenset(r) for u, r in out.items()}


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
        "--refreshed-token-ttl",
        type=int,
        default=None,
        help="expires_in of the tokens refresh grants issue, s (default: --token-ttl); "
        "shorter makes expires_in shrink on refresh",
    )
    p.add_argument(
        "--ping-timeout", type=int, default=30, help="PingTimeout advertised and enforced, s"
    )
    p.add_argument(
        "--ping-mode",
        choices=PING_MODES,
        default="spec",
        help="spec: Ping after client silence; rssl: Ping after server silence, drop after "
        "PingTimeout of client silence; off: neither (default spec)",
    )
    p.add_argument(
        "--max-msg-size", type=int, default=61430, help="MaxMsgSize advertised and enforced"
    )
    p.add_argument("--rate", type=float, default=2.0, help="updates per second per subscribed item")
    p.add_argument("--seed", type=int, default=42, help="seed of the market process")
    p.add_argument("--service", default="ELEKTRON_DD", help="service name (id 257)")
    add_option(
        p, "--ric", "--rics", dest="rics", default="",
        help="extra instruments to serve, comma-separated (with --replay: only these items "
        "of the recording)",
    )  # fmt: skip
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
    p.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="USER:RIC,RIC",
        help="items USER is not entitled to (NotEntitled); repeatable",
    )
    p.add_argument(
        "--pause-resume",
        action="store_true",
        help="advertise SupportPauseResume 1 and honour Pause (default: ignored, like RTO)",
    )
    p.add_argument(
        "--post-creates-records",
        action="store_true",
        help="an off-stream posted Refresh of an unknown name creates the record",
    )
    p.add_argument(
        "--dictionary",
        default=None,
        metavar="FILE",
        help="serve this field dictionary (written by 'ertcloud dictionary --export json') "
        "and follow it for Views and posts (default: the builtin table)",
    )
    p.add_argument(
        "--no-post",
        action="store_true",
        help="advertise SupportOMMPost 0 and refuse every post (Nack DeniedBySrc)",
    )
    p.add_argument(
        "--login-limit",
        type=int,
        default=0,
        help="logins per user per minute before 'Already pending login' (0: no limit)",
    )
    p.add_argument(
        "--interleave-refresh",
        action="store_true",
        help="send a MarketByOrder Update between the parts of a multi-part refresh",
    )
    p.add_argument(
        "--strict-generic",
        action="store_true",
        help="answer Generic messages on market-data domains with an Error",
    )
    p.add_argument(
        "--catch-unknown-keys",
        action="store_true",
        help="answer unknown JSON keys with an Error (the ADS's catchUnknownJsonKeys)",
    )
    p.add_argument(
        "--strict-login",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="refuse item requests sent before the Login Refresh (NotOpen); "
        "--no-strict-login holds them back until the login succeeds",
    )
    p.add_argument(
        "--already-open",
        action="store_true",
        help="refuse a second request for an item open on another id (AlreadyOpen) "
        "instead of serving both",
    )
    p.add_argument(
        "--depth-levels", type=int, default=20, help="price levels per side of order books"
    )
    add_trader_options(p)
    h = p.add_argument_group("hardening")
    h.add_argument(
        "--slow-consumer",
        choices=SLOW_CONSUMER_POLICIES,
        default="conflate",
        help="a connection whose send queue is full: merge its updates per item (conflate), "
        "discard them (drop) or disconnect it (default conflate)",
    )
    h.add_argument(
        "--send-queue", type=int, default=1 << 20, help="send queue bound per connection, bytes"
    )
    h.add_argument(
        "--stamp-updates", action="store_true",
        help="stamp each Update with SimTs, its send time in ns since the epoch (latency "
        "measurements)",
    )  # fmt: skip
    h.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="disconnect a client that takes longer than this to accept one frame, s (default 30)",
    )
    h.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help="most open connections (default 1000, lowered to fit the descriptor limit)",
    )
    h.add_argument(
        "--header-timeout",
        type=float,
        default=20.0,
        help="close connections that take longer to send a request head or body, or stay "
        "idle that long between requests, s (default 20)",
    )
    h.add_argument(
        "--key-file",
        default=None,
        metavar="PATH",
        help="keep the token signing key in PATH (created 0600 if missing): tokens stay "
        "valid across restarts",
    )
    h.add_argument(
        "--key-from-seed",
        action="store_true",
        help="derive the token signing key from --seed (tests and demos: tokens stay valid "
        "across restarts, and anyone knowing the seed can sign them)",
    )
    f = p.add_argument_group("endpoints and faults")
    f.add_argument(
        "--endpoints",
        type=int,
        default=1,
        help="streaming endpoints (ports) to serve; discovery lists one two-zone endpoint and "
        "single-zone ones per region (default 1)",
    )
    f.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="switch a fault on at start (repeatable); see --list-faults",
    )
    f.add_argument("--scenario", default=None, help="TOML file of time-scripted faults")
    f.add_argument("--list-faults", action="store_true", help="print the known faults and exit")
    f.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="v2 service account with a client secret (repeatable; default demo-client)",
    )
    f.add_argument(
        "--jwk",
        action="append",
        default=[],
        metavar="ID=FILE",
        help="v2 service account authenticating with JWT assertions signed by the key in "
        "FILE (a JWK; only its public part is used; repeatable)",
    )
    add_replay_options(p)


def _names(text: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in text.split(",") if r.strip())


def parse_speed(text: str | float) -> float:
    """``--speed``: a positive factor, or ``max`` (no waiting between messages)."""
    text = str(text)
    if text.strip().lower() in ("max", "inf"):
        return math.inf
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"--speed {text!r}: not a number or max") from None
    if not v > 0 or math.isinf(v):
        raise ConfigError("--speed must be positive (or max)")
    return v


def parse_time(text: str) -> float:
    """A point in time as epoch seconds: ISO 8601 (``2026-12-07T09:30:00``, UTC unless it
    says otherwise) or a number of seconds since the epoch."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-07T09:30:00Z) or epoch seconds"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def add_replay_options(p: argparse.ArgumentParser) -> None:
    r = p.add_argument_group("replaying a recording")
    r.add_argument(
        "--replay",
        default=None,
        metavar="PATH",
        help="serve the items of a recording made by ertcloud record instead of the market: "
        "a JSON-lines or CSV file, a DuckDB file or a Parquet folder (told by its content)",
    )
    r.add_argument(
        "--speed",
        default="1",
        help="replay speed: 1 as recorded (default), 10 ten times faster, max no waiting",
    )
    r.add_argument(
        "--from",
        dest="replay_from",
        default=None,
        metavar="TIME",
        help="replay from this time (ISO 8601, UTC unless given; or epoch seconds): each "
        "item starts with its image at that time",
    )
    r.add_argument(
        "--to",
        dest="replay_to",
        default=None,
        metavar="TIME",
        help="replay up to this time",
    )


def replay_window(a: argparse.Namespace) -> tuple[float | None, float | None]:
    start = None if a.replay_from is None else parse_time(a.replay_from)
    end = None if a.replay_to is None else parse_time(a.replay_to)
    if (start is not None or end is not None) and not a.replay:
        raise ConfigError("--from and --to go with --replay")
    if start is not None and end is not None and end < start:
        raise ConfigError("--to is before --from")
    return start, end


def options_from_args(a: argparse.Namespace) -> SimOptions:
    from ..sim.ads import ServerConfig
    from ..sim.server import SimOptions

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
    if a.refreshed_token_ttl is not None and a.refreshed_token_ttl <= 0:
        raise ConfigError("--refreshed-token-ttl must be positive")
    if a.depth_levels < 1:
        raise ConfigError("--depth-levels must be at least 1")
    if a.send_queue < 1024 or a.drain_timeout <= 0:
        raise ConfigError("--send-queue must be at least 1024 and --drain-timeout positive")
    if a.max_connections < 1 or a.header_timeout <= 0:
        raise ConfigError("--max-connections must be at least 1 and --header-timeout positive")
    if a.key_file and a.key_from_seed:
        raise ConfigError("--key-file and --key-from-seed exclude each other")
    replay_from, replay_to = replay_window(a)
    dictionary = None
    if a.dictionary:
        from ..protocol.dictionary import Dictionary

        try:
            dictionary = Dictionary.from_path(a.dictionary)
        except ValueError as exc:
            raise ConfigError(f"--dictionary: {exc}") from None
    cfg = ServerConfig(
        dictionary=dictionary,
        ping_timeout=a.ping_timeout,
        ping_mode=a.ping_mode,
        max_msg_size=a.max_msg_size,
        rate=a.rate,
        services={a.service: 257},
        default_service=a.service,
        allow_user_login=a.allow_user_login,
        entitlements=parse_denials(a.deny),
        pause_resume=a.pause_resume,
        post_creates=a.post_creates_records,
        support_post=not a.no_post,
        strict_generic=a.strict_generic,
        interleave_refresh=a.interleave_refresh,
        login_limit=a.login_limit,
        depth_levels=a.depth_levels,
        catch_unknown_keys=a.catch_unknown_keys,
        strict_login=a.strict_login,
        already_open=a.already_open,
        slow_consumer=a.slow_consumer,
        send_queue_bytes=a.send_queue,
        drain_timeout=a.drain_timeout,
        **trader_config(a),
        stamp_updates=a.stamp_updates,
    )
    from ..sim.faults import parse_fault
    from ..sim.scenario import load_scenario

    if a.endpoints < 1:
        raise ConfigError("--endpoints must be at least 1")
    faults = [parse_fault(spec) for spec in a.fault]
    steps, loop = load_scenario(a.scenario) if a.scenario else ([], None)
    clients = {"demo-client": "demo-secret"}
    for spec in a.client:
        cid, sep, secret = spec.partition(":")
        if not sep or not cid:
            raise ConfigError(f"--client {spec!r}: expected ID:SECRET")
        clients[cid] = secret
    jwks: dict[str, list[dict[str, Any]]] = {}
    for spec in a.jwk:
        cid, sep, path = spec.partition("=")
        if not sep or not cid:
            raise ConfigError(f"--jwk {spec!r}: expected ID=FILE")
        jwks.setdefault(cid, []).append(load_jwk(path, private=False))
    return SimOptions(
        host=a.host,
        port=a.port,
        users=users,
        token_ttl=a.token_ttl,
        refresh_ttl=a.refresh_ttl,
        refreshed_ttl=a.refreshed_token_ttl,
        seed=a.seed,
        extra_rics=() if a.replay else _names(a.rics),
        tls_cert=a.tls_cert,
        tls_key=a.tls_key,
        tls_self_signed=a.tls_self_signed,
        server=cfg,
        replay=a.replay,
        replay_speed=parse_speed(a.speed),
        replay_from=replay_from,
        replay_to=replay_to,
        replay_rics=_names(a.rics) if a.replay else (),
        endpoints=a.endpoints,
        clients=clients,
        jwks=jwks,
        faults=faults,
        scenario=steps,
        scenario_loop=loop,
        key_file=a.key_file,
        key_from_seed=a.key_from_seed,
        max_connections=a.max_connections,
        header_timeout=a.header_timeout,
    )


def list_faults() -> str:
    """The faults ``--fault`` and scenario files know, one per line."""
    from ..sim.faults import FAULTS

    return "\n".join(f"{name:<18} {desc}" for name, (_, desc) in FAULTS.items())


async def serve(opts: SimOptions) -> int:
    from ..sim.server import SimServer, startup_line

    sim = SimServer(opts)
    try:
        await sim.start()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}"
        ) from None
    sys.stdout.write(startup_line(sim) + "\n")
    sys.stdout.flush()
    recording = getattr(sim.streaming, "recording", None)
    if recording is not None:
        n, seconds = recording.span
        sys.stderr.write(
            f"ertcloud sim: replaying {n} messages of {len(recording.items)} items "
            f"({seconds:.1f} s as recorded) from {opts.replay}\n"
        )
        sys.stderr.flush()
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
        "sim",
        help="run the simulator (gateway, discovery, streaming server)",
        description=description(__doc__),
    )
    add_options(p)

    def _run(a: argparse.Namespace) -> int:
        logging.basicConfig(
            level=log_level(a), format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        if a.list_faults:
            sys.stdout.write(list_faults() + "\n")
            return 0
        return asyncio.run(serve(options_from_args(a)))

    p.set_defaults(func=_run)
