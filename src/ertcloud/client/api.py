"""``ertcloud.connect()``: a Session from plain arguments or the environment."""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from typing import Any

from ..auth.client import TokenClient
from ..auth.grants import DEFAULT_SCOPE, ClientCredentials, PasswordCredentials
from ..auth.manager import TokenManager
from ..exceptions import ConfigError
from ..protocol.login import LoginParams
from .session import Session

__all__ = ["connect", "default_position"]


def default_position() -> str:
    """``<ip>/<hostname>`` of this host, as the cloud examples send (fallback 127.0.0.1/net)."""
    import socket

    try:
        host = socket.gethostname()
        return f"{socket.gethostbyname(host)}/{host}"
    except OSError:
        return "127.0.0.1/net"


def _env(name: str, given: str | None) -> str | None:
    return given if given is not None else os.environ.get(f"ERTCLOUD_{name}") or None


def connect(
    url: str | Sequence[str] | None = None,
    *,
    token_url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    scope: str | None = None,
    app_id: str = "256",
    position: str | None = None,
    ca_file: str | None = None,
    verify: bool = True,
    reconnect: bool = True,
    **session_options: Any,
) -> Session:
    """A :class:`Session` to the streaming service; use it as ``async with connect(...)``.

    Missing arguments come from the environment: ``ERTCLOUD_URL`` (WebSocket URL),
    ``ERTCLOUD_TOKEN_URL``, ``ERTCLOUD_USER``, ``ERTCLOUD_PASSWORD``, ``ERTCLOUD_CLIENT_ID``,
    ``ERTCLOUD_CLIENT_SECRET``. With a user and password the v1 password grant is used
    (tokens renewed and reissued on the login stream); with only a client id and secret,
    the v2 client-credentials grant. With no token URL, the Login is by ``user`` name with no
    token, as to a deployed ADS."""
    url = url or _env("URL", None)
    if not url:
        raise ConfigError("no WebSocket URL: pass url= or set ERTCLOUD_URL")
    token_url = _env("TOKEN_URL", token_url)
    user = _env("USER", user)
    password = _env("PASSWORD", password)
    client_id = _env("CLIENT_ID", client_id)
    client_secret = _env("CLIENT_SECRET", client_secret)
    sslctx: ssl.SSLContext | bool = (
        False if not verify else ssl.create_default_context(cafile=ca_file)
    )
    tokens: TokenManager | None = None
    if token_url:
        creds: PasswordCredentials | ClientCredentials
        if user and password is not None:
            creds = PasswordCredentials(
                user, password, client_id or "", client_secret or "", scope or DEFAULT_SCOPE
            )
        elif client_id and client_secret:
            creds = ClientCredentials(
                client_id, client_secret, scope or "trapi.streaming.pricing.read"
            )
        else:
            raise ConfigError("a token URL needs user and password, or client id and secret")
        tokens = TokenManager(TokenClient(token_url, ssl_context=sslctx), creds)
    login = LoginParams(
        application_id=app_id,
        position=position or default_position(),
        user=None if tokens is not None else user,
    )
    return Session(
        url, tokens=tokens, login=login, ssl_context=sslctx, reconnect=reconnect, **session_options
    )
