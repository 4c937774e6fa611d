"""Connection options shared by the everyday commands (``subscribe``, ``post``, ``token``).

With no ``--hostname``/``--url``, the commands run against the embedded simulator, and say
so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..auth.grants import DEFAULT_SCOPE, PasswordCredentials
from ..config import CommandLineSecret, resolve_credentials
from ..exceptions import ConfigError
from . import interrupt
from .market_price import (
    DEFAULT_AUTH_URL,
    add_timeouts,
    default_position,
    first_token,
    ssl_context,
)
from .options import add_option
from .proxy_option import add_proxy_option

if TYPE_CHECKING:
    from ..auth.manager import TokenManager
    from ..client.session import Session
    from ..client.standby import StandbyBase

__all__ = [
    "add_connection_options",
    "add_transport_option",
    "open_session",
    "open_standby",
    "token_manager",
]


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """The connection options of ``subscribe``, ``post``, ``token`` and ``discover`` (the
    names ``market-price`` uses; the vendor spellings are hidden aliases)."""
    g = p.add_argument_group("connection (default: the embedded simulator)")
    g.add_argument(
        "--url",
        default=None,
        help="WebSocket URL, e.g. wss://host:443/WebSocket (or ERTCLOUD_URL)",
    )
    g.add_argument(
        "--hostname",
        default=None,
        metavar="HOST",
        help="streaming host (builds wss://HOST:PORT/WebSocket)",
    )
    g.add_argument("--port", default="443", metavar="PORT", help="port of --hostname (default 443)")
    add_option(
        g, "--auth-url", "--auth_url", dest="auth_url", default=None,
        help=f"token URL (or ERTCLOUD_TOKEN_URL; default {DEFAULT_AUTH_URL})",
    )  # fmt: skip
    g.add_argument("--user", default=None, help="machine id / user name (or ERTCLOUD_USER)")
    g.add_argument(
        "--password",
        default=None,
        action=CommandLineSecret,
        help="password (prefer ERTCLOUD_PASSWORD or --credentials)",
    )
    add_option(
        g, "--client-id", "--clientid", "--client_id", dest="clientid", default=None,
        help="client id (app key; or ERTCLOUD_CLIENT_ID)",
    )  # fmt: skip
    g.add_argument("--scope", default=DEFAULT_SCOPE, help="OAuth scope (default trapi)")
    add_option(
        g, "--app-id", "--app_id", dest="app_id", default="256",
        help="Login ApplicationId (default 256)",
    )  # fmt: skip
    g.add_argument(
        "--position", default=None, metavar="POS", help="Login Position (default <ip>/<hostname>)"
    )
    g.add_argument("--ca-file", default=None, metavar="FILE", help="trust this CA bundle (PEM)")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument(
        "--credentials",
        default=None,
        metavar="FILE",
        help="TOML credentials file, mode 0600 (default ~/.config/ertcloud/credentials.toml "
        "if it exists)",
    )
    add_timeouts(g)
    add_proxy_option(g)


async def _start(target: Session | StandbyBase, a: argparse.Namespace, token_url: str) -> None:
    """The first token, then the connection(s) and Login(s): each bounded and
    interruptible."""
    if target.tokens is not None:
        await first_token(target.tokens, token_url, a)
    urls = " and ".join(target.urls[:2])
    with interrupt.waiting(f"the connection to {urls} and the Login"):
        await target.start()


def add_transport_option(p: argparse.ArgumentParser) -> None:
    """``--transport``: the WebSocket library of the streaming session."""
    p.add_argument(
        "--transport",
        choices=("aiohttp", "picows", "auto"),
        default="aiohttp",
        help="WebSocket library (picows: the faster optional extra; default aiohttp)",
    )


def token_manager(a: argparse.Namespace, token_url: str) -> TokenManager:
    found = resolve_credentials(
        user=a.user,
        password=a.password,
        client_id=a.clientid,
        file=getattr(a, "credentials", None),
    )
    user, client_id = found.user, found.client_id or ""
    password = a.password if a.password is not None else found.password
    if not user or password is None:
        raise ConfigError(
            "--user and --password (or ERTCLOUD_USER / ERTCLOUD_PASSWORD) are required"
        )
    from ..auth.client import TokenClient
    from ..auth.manager import TokenManager

    creds = PasswordCredentials(user, password, client_id, scope=a.scope)
    return TokenManager(TokenClient(token_url, ssl_context=ssl_context(a, token_url)), creds)


@asynccontextmanager
async def open_session(a: argparse.Namespace) -> AsyncIterator[Session]:
    """A started Session from the options, or one on a fresh embedded simulator."""
    from ..client.session import Session
    from ..protocol.login import LoginParams
    from ..sim.server import SimOptions, SimServer

    login = LoginParams(application_id=a.app_id, position=a.position or default_position())
    if a.url is None and a.hostname is None:
        async with SimServer(SimOptions(port=0)) as sim:
            sys.stderr.write(
                f"ertcloud: using the embedded simulator at {sim.base_url} (simulated data)\n"
            )
            a.user = a.user or "demo"
            a.password = a.password if a.password is not None else "demo"
            a.clientid = a.clientid or "ertcloud-cli"
            tokens = token_manager(a, sim.token_url)
            session = Session(
                sim.websocket_url, tokens=tokens, login=login, connect_timeout=a.connect_timeout,
                transport=_transport(a),
            )  # fmt: skip
            try:
                await _start(session, a, sim.token_url)
                yield session
            finally:
                await session.close()
        return
    url = a.url or f"wss://{a.hostname}:{a.port}/WebSocket"
    token_url = a.auth_url or DEFAULT_AUTH_URL
    tokens = token_manager(a, token_url)
    session = Session(
        url, tokens=tokens, login=login, ssl_context=ssl_context(a, url),
        connect_timeout=a.connect_timeout, transport=_transport(a),
    )  # fmt: skip
    try:
        await _start(session, a, token_url)
        yield session
    finally:
        await session.close()


def _transport(a: argparse.Namespace) -> str:
    return str(getattr(a, "transport", None) or "aiohttp")


@asynccontextmanager
async def open_standby(
    a: argparse.Namespace, kind: type[StandbyBase] | None = None, **kw: Any
) -> AsyncIterator[StandbyBase]:
    """A started :class:`HotStandby` (or ``kind``, with ``kw``) on ``--url`` and
    ``--standby-url``, or on two endpoints of a fresh embedded simulator."""
    from ..client.standby import HotStandby
    from ..protocol.login import LoginParams
    from ..sim.server import SimOptions, SimServer

    kind = kind or HotStandby
    login = LoginParams(application_id=a.app_id, position=a.position or default_position())
    if a.url is None and a.hostname is None:
        if a.standby_url is not None:
            raise ConfigError("--standby-url needs --url or --hostname (the first endpoint)")
        opts = SimOptions(port=0, endpoints=2)
        opts.server.support_standby = True
        async with SimServer(opts) as sim:
            sys.stderr.write(
                f"ertcloud: using the embedded simulator at {sim.base_url} (simulated data; "
                f"{kind.kind} on two of its endpoints)\n"
            )
            a.user = a.user or "demo"
            a.password = a.password if a.password is not None else "demo"
            a.clientid = a.clientid or "ertcloud-cli"
            tokens = token_manager(a, sim.token_url)
            hs = kind(
                sim.websocket_urls[:2], tokens=tokens, login=login,
                connect_timeout=a.connect_timeout, transport=_transport(a), **kw,
            )  # fmt: skip
            try:
                await _start(hs, a, sim.token_url)
                yield hs
            finally:
                await hs.close()
                await tokens.client.close()
        return
    if a.standby_url is None:
        flag = "--" + kind.kind.replace(" ", "")
        raise ConfigError(f"{flag} needs --standby-url, the second endpoint")
    url = a.url or f"wss://{a.hostname}:{a.port}/WebSocket"
    token_url = a.auth_url or DEFAULT_AUTH_URL
    tokens = token_manager(a, token_url)
    hs = kind(
        [url, a.standby_url], tokens=tokens, login=login, ssl_context=ssl_context(a),
        connect_timeout=a.connect_timeout, transport=_transport(a), **kw,
    )  # fmt: skip
    try:
        await _start(hs, a, token_url)
        yield hs
    finally:
        await hs.close()
        await tokens.client.close()
