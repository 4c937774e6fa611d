"""The options that several commands take, each declared once.

:data:`OPTIONS` gives an option's names (the first one documented; the others, like the
vendor examples' ``--auth_url``, hidden aliases) and its keywords. A command takes it with
:func:`add_shared`, giving only what is its own there: a default, a help text.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..auth.grants import DEFAULT_SCOPE
from ..config import DEFAULT_DISCOVERY_URL, CommandLineSecret
from .interrupt import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOKEN_TIMEOUT
from .options import add_option

__all__ = ["DEFAULT_AUTH_URL", "OPTIONS", "add_shared", "add_timeouts"]

DEFAULT_AUTH_URL = "https://api.refinitiv.com:443/auth/oauth2/v1/token"

_Spec = tuple[tuple[str, ...], dict[str, Any]]


def _spec(*names: str, **kw: Any) -> _Spec:
    return names, kw


#: every shared option by dest: its names and keywords (help may be left to each command)
OPTIONS: dict[str, _Spec] = {
    "url": _spec(
        "--url", default=None, help="WebSocket URL, e.g. wss://host:443/WebSocket (or ERTCLOUD_URL)"
    ),
    "hostname": _spec(
        "--hostname",
        default=None,
        metavar="HOST",
        help="streaming host (builds wss://HOST:PORT/WebSocket)",
    ),
    "port": _spec("--port", default="443", metavar="PORT", help="port of --hostname (default 443)"),
    "auth_url": _spec(
        "--auth-url",
        "--auth_url",
        default=None,
        help=f"token URL (or ERTCLOUD_TOKEN_URL; default {DEFAULT_AUTH_URL})",
    ),
    "user": _spec("--user", default=None, help="machine id / user name (or ERTCLOUD_USER)"),
    "password": _spec(
        "--password",
        default=None,
        action=CommandLineSecret,
        help="password (prefer ERTCLOUD_PASSWORD or --credentials)",
    ),
    "clientid": _spec(
        "--client-id",
        "--clientid",
        "--client_id",
        default=None,
        help="client id (app key; or ERTCLOUD_CLIENT_ID)",
    ),
    "scope": _spec("--scope", default=DEFAULT_SCOPE, help="OAuth scope (default trapi)"),
    "app_id": _spec(
        "--app-id", "--app_id", default="256", help="Login ApplicationId (default 256)"
    ),
    "position": _spec(
        "--position", default=None, metavar="POS", help="Login Position (default <ip>/<hostname>)"
    ),
    "ca_file": _spec("--ca-file", default=None, metavar="FILE", help="trust this CA bundle (PEM)"),
    "insecure": _spec("--insecure", action="store_true", help="do not verify TLS certificates"),
    "credentials": _spec(
        "--credentials",
        default=None,
        metavar="FILE",
        help="TOML credentials file, mode 0600 (default ~/.config/ertcloud/credentials.toml "
        "if it exists)",
    ),
    "discovery_url": _spec(
        "--discovery-url",
        "--discovery_url",
        default=None,
        help=f"service discovery URL (default {DEFAULT_DISCOVERY_URL})",
    ),
    "region": _spec(
        "--region",
        default="us-east-1",
        help="endpoint region: an AWS region prefix (default us-east-1) or amer/emea/apac",
    ),
    "hotstandby": _spec("--hot-standby", "--hotstandby", action="store_true"),
    "ric": _spec("--ric", action="append", default=None),
    "service": _spec("--service", default=None, help="service name or id"),
    "fields": _spec("--fields", "--view", default=None),
    "duration": _spec(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds",
    ),
    "token_timeout": _spec(
        "--token-timeout",
        type=float,
        default=DEFAULT_TOKEN_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on the token endpoint after this long (default {DEFAULT_TOKEN_TIMEOUT:g})",
    ),
    "connect_timeout": _spec(
        "--connect-timeout",
        type=float,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="SECONDS",
        help="give up on service discovery, the WebSocket connection or the Login after this "
        f"long (default {DEFAULT_CONNECT_TIMEOUT:g})",
    ),
    "show_secrets": _spec(
        "--show-secrets", action="store_true", help="print tokens and passwords unredacted"
    ),
}


def add_shared(group: argparse._ActionsContainer, *dests: str, **own: dict[str, Any]) -> None:
    """The options ``dests`` of :data:`OPTIONS` on ``group``, in that order; ``own`` maps a
    dest to the keywords that differ on this command (a default, a help text)."""
    for dest in dests:
        names, kw = OPTIONS[dest]
        add_option(group, *names, **{"dest": dest, **kw, **own.get(dest, {})})
    stray = set(own) - set(dests)
    if stray:
        raise TypeError(f"add_shared: keywords for options not added: {sorted(stray)}")


def add_timeouts(g: argparse._ActionsContainer) -> None:
    """``--token-timeout`` and ``--connect-timeout``."""
    add_shared(g, "token_timeout", "connect_timeout")
