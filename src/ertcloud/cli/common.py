"""Connection options shared by the everyday commands (``subscribe``, ``post``, ``token``).

With no ``--hostname``/``--url``, the commands run against the embedded simulator, and say
so on stderr.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..auth.grants import PasswordCredentials
from ..config import resolve_credentials
from ..exceptions import ConfigError
from . import interrupt
from .market_price import default_position, first_token, ssl_context
from .proxy_option import add_proxy_option
from .shared_options import DEFAULT_AUTH_URL, add_shared, add_timeouts

if TYPE_CHECKING:
    from ..auth.manager import TokenManager
    from ..client.session import Session
    from ..client.standby import StandbyBase
    from ..protocol.login import LoginParams

    _Target = Session | StandbyBase

__all__ = [
    "add_connection_options",
    "add_transport_option",
    "open_session",
    "open_standby",
    "token_manager",
    "transport_option",
    "use_demo_login",
]


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """The connection options of ``subscribe``, ``post``, ``token`` and ``discover`` (the
    names ``market-price`` uses; the vendor spellings are hidden aliases)."""
    g = p.add_argument_group("connection (default: the embedded simulator)")
    add_shared(
        g, "url", "hostname", "port", "auth_url", "user", "password", "clientid", "scope",
        "app_id", "position", "ca_file", "insecure", "credentials",
    )  # fmt: skip
    add_timeouts(g)
    add_proxy_option(g)


def use_demo_login(a: argparse.Namespace) -> None:
    """The embedded simulator's login, for what the options leave out."""
    a.user = a.user or "demo"
    a.password = a.password if a.password is not None else "demo"
    a.clientid = a.clientid or "ertcloud-cli"


@asynccontextmanager
async def _started(target: _Target, a: argparse.Namespace, token_url: str) -> AsyncIterator[None]:
    """``target`` started, closed on the way out: the first token, then the connection(s)
    and Login(s), each bounded and interruptible."""
    try:
        if target.tokens is not None:
            await first_token(target.tokens, token_url, a)
        urls = " and ".join(target.urls[:2])
        with interrupt.waiting(f"the connection to {urls} and the Login"):
            await target.start()
        yield
    finally:
        await target.close()


def add_transport_option(p: argparse.ArgumentParser) -> None:
    """``--transport``: the WebSocket library of the streaming session."""
    p.add_argument(
        "--transport",
        choices=("auto", "picows", "aiohttp"),
        default="auto",
        help="WebSocket library (default auto: picows, the faster data path, where it is "
        "installed, else aiohttp)",
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
async def _service(
    a: argparse.Namespace, standby: type[StandbyBase] | None = None
) -> AsyncIterator[tuple[list[str], str, TokenManager, ssl.SSLContext | bool | None]]:
    """Where to connect: the WebSocket URL (two, ``--standby-url`` the second, for a
    ``standby``), the token URL, the token manager and the TLS context. With no ``--url``
    or ``--hostname``, those of a fresh embedded simulator (said on stderr), whose demo
    login fills in what the options leave out."""
    from ..sim.server import SimOptions, SimServer

    if a.url is None and a.hostname is None:
        opts, note = SimOptions(port=0), ""
        if standby is not None:
            if a.standby_url is not None:
                raise ConfigError("--standby-url needs --url or --hostname (the first endpoint)")
            opts = SimOptions(port=0, endpoints=2)
            opts.server.support_standby = True
            note = f"; {standby.kind} on two of its endpoints"
        async with SimServer(opts) as sim:
            where = f"the embedded simulator at {sim.base_url}"
            sys.stderr.write(f"ertcloud: using {where} (simulated data{note})\n")
            use_demo_login(a)
            urls = sim.websocket_urls[: opts.endpoints]
            yield urls, sim.token_url, token_manager(a, sim.token_url), None
        return
    if standby is not None and a.standby_url is None:
        flag = "--" + standby.kind.replace(" ", "")
        raise ConfigError(f"{flag} needs --standby-url, the second endpoint")
    url = a.url or f"wss://{a.hostname}:{a.port}/WebSocket"
    token_url = a.auth_url or DEFAULT_AUTH_URL
    tokens = token_manager(a, token_url)
    if standby is None:
        yield [url], token_url, tokens, ssl_context(a, url)
    else:
        yield [url, a.standby_url], token_url, tokens, ssl_context(a, url, a.standby_url)


def _login(a: argparse.Namespace) -> LoginParams:
    from ..protocol.login import LoginParams

    return LoginParams(application_id=a.app_id, position=a.position or default_position())


@asynccontextmanager
async def open_session(a: argparse.Namespace) -> AsyncIterator[Session]:
    """A started Session from the options, or one on a fresh embedded simulator."""
    from ..client.session import Session

    async with _service(a) as (urls, token_url, tokens, sslctx):
        session = Session(
            urls[0], tokens=tokens, login=_login(a), ssl_context=sslctx,
            connect_timeout=a.connect_timeout, transport=transport_option(a),
        )  # fmt: skip
        async with _started(session, a, token_url):
            yield session


def transport_option(a: argparse.Namespace) -> str:
    """``--transport``'s value ("auto" for a command that has no such option)."""
    return str(getattr(a, "transport", None) or "auto")


@asynccontextmanager
async def open_standby(
    a: argparse.Namespace, kind: type[StandbyBase] | None = None, **kw: Any
) -> AsyncIterator[StandbyBase]:
    """A started :class:`HotStandby` (or ``kind``, with ``kw``) on ``--url`` and
    ``--standby-url``, or on two endpoints of a fresh embedded simulator."""
    from ..client.standby import HotStandby

    kind = kind or HotStandby
    async with _service(a, kind) as (urls, token_url, tokens, sslctx):
        hs = kind(
            urls, tokens=tokens, login=_login(a), ssl_context=sslctx,
            connect_timeout=a.connect_timeout, transport=transport_option(a), **kw,
        )  # fmt: skip
        try:
            async with _started(hs, a, token_url):
                yield hs
        finally:
            await tokens.client.close()
