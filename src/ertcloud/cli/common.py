"""Connection options shared by the everyday commands (``subscribe``, ``post``, ``token``).

With no ``--hostname``/``--url``, the commands run against the embedded simulator, and say
so on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..auth.client import TokenClient
from ..auth.grants import DEFAULT_SCOPE, PasswordCredentials
from ..auth.manager import TokenManager
from ..client.api import default_position
from ..client.session import Session
from ..client.standby import HotStandby
from ..config import CommandLineSecret, resolve_credentials
from ..exceptions import ConfigError
from ..protocol.login import LoginParams
from ..sim.server import SimOptions, SimServer
from .market_price import DEFAULT_AUTH_URL, ssl_context

__all__ = [
    "add_connection_options",
    "add_transport_option",
    "open_session",
    "open_standby",
    "token_manager",
]


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (default: the embedded simulator)")
    g.add_argument(
        "--url",
        default=None,
        help="WebSocket URL, e.g. wss://host:443/WebSocket (or ERTCLOUD_URL)",
    )
    g.add_argument(
        "--hostname", default=None, help="streaming host (builds wss://HOST:PORT/WebSocket)"
    )
    g.add_argument("--port", default="443", help="port of --hostname (default 443)")
    g.add_argument(
        "--auth_url",
        default=None,
        help=f"token URL (or ERTCLOUD_TOKEN_URL; default {DEFAULT_AUTH_URL})",
    )
    g.add_argument("--user", default=None, help="machine id / user name (or ERTCLOUD_USER)")
    g.add_argument(
        "--password",
        default=None,
        action=CommandLineSecret,
        help="password (prefer ERTCLOUD_PASSWORD or --credentials)",
    )
    g.add_argument("--clientid", default=None, help="client id (or ERTCLOUD_CLIENT_ID)")
    g.add_argument("--scope", default=DEFAULT_SCOPE, help="OAuth scope (default trapi)")
    g.add_argument("--app_id", default="256", help="Login ApplicationId (default 256)")
    g.add_argument("--position", default=None, help="Login Position (default <ip>/<hostname>)")
    g.add_argument("--ca-file", default=None, help="trust this CA bundle (PEM)")
    g.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    g.add_argument(
        "--credentials",
        default=None,
        metavar="FILE",
        help="TOML credentials file, mode 0600 (default ~/.config/ertcloud/credentials.toml "
        "if it exists)",
    )


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
    creds = PasswordCredentials(user, password, client_id, scope=a.scope)
    return TokenManager(TokenClient(token_url, ssl_context=ssl_context(a)), creds)


@asynccontextmanager
async def open_session(a: argparse.Namespace) -> AsyncIterator[Session]:
    """A started Session from the options, or one on a fresh embedded simulator."""
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
                sim.websocket_url, tokens=tokens, login=login, transport=_transport(a)
            )
            async with session:
                yield session
        return
    url = a.url or f"wss://{a.hostname}:{a.port}/WebSocket"
    tokens = token_manager(a, a.auth_url or DEFAULT_AUTH_URL)
    async with Session(
        url, tokens=tokens, login=login, ssl_context=ssl_context(a), transport=_transport(a)
    ) as session:
        yield session


def _transport(a: argparse.Namespace) -> str:
    return str(getattr(a, "transport", None) or "aiohttp")


@asynccontextmanager
async def open_standby(a: argparse.Namespace) -> AsyncIterator[HotStandby]:
    """A started :class:`HotStandby` on ``--url`` and ``--standby-url``, or on two endpoints
    of a fresh embedded simulator."""
    login = LoginParams(application_id=a.app_id, position=a.position or default_position())
    if a.url is None and a.hostname is None:
        if a.standby_url is not None:
            raise ConfigError("--standby-url needs --url or --hostname (the first endpoint)")
        async with SimServer(SimOptions(port=0, endpoints=2)) as sim:
            sys.stderr.write(
                f"ertcloud: using the embedded simulator at {sim.base_url} (simulated data; "
                "hot standby on two of its endpoints)\n"
            )
            a.user = a.user or "demo"
            a.password = a.password if a.password is not None else "demo"
            a.clientid = a.clientid or "ertcloud-cli"
            tokens = token_manager(a, sim.token_url)
            try:
                async with HotStandby(sim.websocket_urls[:2], tokens=tokens, login=login) as hs:
                    yield hs
            finally:
                await tokens.client.close()
        return
    if a.standby_url is None:
        raise ConfigError("--hotstandby needs --standby-url, the second endpoint")
    url = a.url or f"wss://{a.hostname}:{a.port}/WebSocket"
    tokens = token_manager(a, a.auth_url or DEFAULT_AUTH_URL)
    try:
        async with HotStandby(
            [url, a.standby_url], tokens=tokens, login=login, ssl_context=ssl_context(a)
        ) as hs:
            yield hs
    finally:
        await tokens.client.close()
