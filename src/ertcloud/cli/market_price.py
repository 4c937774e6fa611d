"""``ertcloud market-price``: the vendor quick start's market_price program, done properly.

Same options, defaults and output as the examples (``SENT:``/``RECEIVED:`` blocks of
pretty-printed JSON, the authentication lines, "WebSocket successfully connected!"), with
deliberate differences: secrets are redacted unless ``--show-secrets``; TLS certificates
are verified (``--ca-file``, ``--insecure``); several RICs open several streams; the token
is renewed and the Login re-sent with ``Refresh: false`` before it expires; a lost
connection is recovered; Ctrl+C closes the streams and the login and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import ssl
from collections.abc import Callable
from typing import Any

from ..auth.client import TokenClient
from ..auth.grants import DEFAULT_SCOPE, PasswordCredentials
from ..auth.manager import TokenManager
from ..client.session import Session
from ..exceptions import ConfigError
from ..protocol.events import ConnectionDead, Event
from ..protocol.login import LoginParams
from .output import Printer

__all__ = ["add_parser", "default_position", "run"]

BRAND = "LSEG Delivery Platform"
DEFAULT_AUTH_URL = "https://api.refinitiv.com:443/auth/oauth2/v1/token"


def default_position() -> str:
    """``<ip>/<hostname>`` of this host, as the cloud examples send (fallback 127.0.0.1/net)."""
    try:
        host = socket.gethostname()
        return f"{socket.gethostbyname(host)}/{host}"
    except OSError:
        return "127.0.0.1/net"


def add_options(p: argparse.ArgumentParser) -> None:
    """The vendor examples' options (same names and defaults), plus ours."""
    g = p.add_argument_group("vendor example options")
    g.add_argument("--hostname", help="streaming host (WebSocket server)")
    g.add_argument("--port", default="443", help="streaming port (default 443)")
    g.add_argument("--user", default="", help="machine id / user name")
    g.add_argument("--password", default="", help="password (prefer ERTCLOUD_PASSWORD)")
    g.add_argument(
        "--newPassword", dest="new_password", default=None, help="change the password first"
    )
    g.add_argument("--clientid", default="", help="client id (app key)")
    g.add_argument("--app_id", default="256", help="Login ApplicationId (default 256)")
    g.add_argument("--position", default=None, help="Login Position (default <ip>/<hostname>)")
    g.add_argument("--auth_hostname", default=None, help="token host (builds --auth_url)")
    g.add_argument("--auth_port", default="443", help="token port (with --auth_hostname)")
    g.add_argument(
        "--auth_path",
        default="auth/oauth2/v1/token",
        help="token path with --auth_hostname (2018: auth/oauth2/beta1/token)",
    )
    g.add_argument("--auth_url", default=None, help=f"token URL (default {DEFAULT_AUTH_URL})")
    g.add_argument("--scope", default=DEFAULT_SCOPE, help="OAuth scope (default trapi)")
    g.add_argument(
        "--ric",
        action="append",
        default=None,
        help="item to request; repeat or comma-separate (default TRI.N)",
    )
    g.add_argument(
        "--service", default="ELEKTRON_DD", help="service name or id (default ELEKTRON_DD)"
    )
    g.add_argument("--view", default=None, help="comma-separated fields to request (a view)")
    g.add_argument(
        "--no_streaming",
        "--snapshot",
        dest="snapshot",
        action="store_true",
        help="request snapshots (Streaming: false)",
    )
    o = p.add_argument_group("ertcloud options")
    o.add_argument(
        "--show-secrets", action="store_true", help="print tokens and passwords unredacted"
    )
    o.add_argument("--ca-file", default=None, help="trust this CA bundle (PEM) for HTTPS/WSS")
    o.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    o.add_argument(
        "--tls",
        choices=("auto", "on", "off"),
        default="auto",
        help="wss:// or ws:// for the streaming host (auto: wss unless port is not 443 "
        "and the token URL is http)",
    )
    o.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    o.add_argument("--no-reconnect", action="store_true", help="exit instead of reconnecting")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "market-price",
        help="the vendor quick start's market_price flow (authenticate, connect, stream)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p)
    p.set_defaults(func=lambda a: asyncio.run(run(a)))


def ssl_context(args: argparse.Namespace) -> ssl.SSLContext | bool:
    if args.insecure:
        return False
    ctx = (
        ssl.create_default_context(cafile=args.ca_file)
        if args.ca_file
        else ssl.create_default_context()
    )
    return ctx


def _rics(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for r in args.ric or ["TRI.N"]:
        out.extend(x.strip() for x in r.split(",") if x.strip())
    return out


def _auth_url(args: argparse.Namespace) -> str:
    if args.auth_url:
        return str(args.auth_url)
    if args.auth_hostname:
        return f"https://{args.auth_hostname}:{args.auth_port}/{args.auth_path.lstrip('/')}"
    return DEFAULT_AUTH_URL


def _ws_url(args: argparse.Namespace, auth_url: str) -> str:
    tls = args.tls == "on" or (args.tls == "auto" and not auth_url.startswith("http://"))
    return f"{'wss' if tls else 'ws'}://{args.hostname}:{args.port}/WebSocket"


async def run(
    args: argparse.Namespace, *, printer: Printer | None = None, banner: str | None = None
) -> int:
    """Run the flow; returns the exit code."""
    if not (args.user and args.clientid and args.password and args.hostname):
        raise ConfigError("user, clientid, password, and hostname are required options")
    pr = printer or Printer(show_secrets=args.show_secrets)
    if banner:
        pr.line(banner)
    auth_url = _auth_url(args)
    sslctx = ssl_context(args)

    def auth_trace(event: str, detail: Any) -> None:
        if event == "request":
            grant, url = detail
            how = "refresh token" if grant == "refresh_token" else "password"
            pr.line(f"Sending authentication request with {how} to {url} ...")
        elif event == "success":
            pr.block(f"{BRAND} Authentication succeeded. RECEIVED:", detail)
        elif event == "error":
            status, text = detail
            pr.line(f"{BRAND} authentication HTTP code: {status} {text}")
        elif event == "redirect":
            pr.line(f"Perform URL redirect to  {detail}")

    client = TokenClient(auth_url, ssl_context=sslctx, trace=auth_trace)
    creds = PasswordCredentials(
        username=args.user,
        password=args.password,
        client_id=args.clientid,
        scope=args.scope,
        new_password=args.new_password,
    )
    tokens = TokenManager(client, creds)
    rics = _rics(args)
    position = args.position or default_position()
    ws_url = _ws_url(args, auth_url)

    def trace(kind: str, detail: Any) -> None:
        if kind == "connecting":
            pr.line(f"Connecting to WebSocket {detail} ...")
        elif kind == "connected":
            pr.line("WebSocket successfully connected!")
        elif kind == "sent":
            pr.sent(detail)
        elif kind == "received":
            pr.received(detail)
        elif kind == "closed":
            pr.line("WebSocket Closed")
        elif kind == "reconnecting":
            pr.line(f"Reconnecting in {detail:.1f} seconds ...")

    def on_event(ev: Event) -> None:
        if isinstance(ev, ConnectionDead):
            pr.line("No ping from server, timing out")

    session = Session(
        ws_url,
        tokens=tokens,
        login=LoginParams(application_id=args.app_id, position=position),
        ssl_context=sslctx,
        reconnect=not args.no_reconnect,
        trace=trace,
        on_event=on_event,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = _install_signals(loop, stop.set)
    try:
        await session.start()
        fields = [f.strip() for f in args.view.split(",")] if args.view else None
        session.subscribe(
            rics,
            fields=fields,
            service=_service(args.service),
            snapshot=args.snapshot,
            batch=False,
            queue=False,
            on_refresh=_noop,
        )
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(session.wait_closed())]
        done, pending = await asyncio.wait(
            waiters, timeout=args.duration, return_when=asyncio.FIRST_COMPLETED
        )
        for w in pending:
            w.cancel()
        for w in done:
            if w.exception() is not None:
                raise w.exception()  # type: ignore[misc]
        for s in session.streams:
            session._close_streams([s])
        await session.close()
        return 0
    finally:
        await session.close()
        await client.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


def _noop(_: object) -> None:
    return None


def _service(s: str) -> str | int:
    return int(s) if s.isdigit() else s


def _install_signals(loop: asyncio.AbstractEventLoop, cb: Callable[[], None]) -> list[int]:
    done: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, cb)
            done.append(sig)
        except (NotImplementedError, RuntimeError):
            pass
    return done
