"""Which service a long-running command (``record``) connects to, and as whom.

The embedded simulator is used only when no credential or endpoint of any kind is given:
not on the command line, not in ``--config``, not in the environment (``ERTCLOUD_USER``,
``ERTCLOUD_PASSWORD``, ``ERTCLOUD_CLIENT_ID``, ``ERTCLOUD_CLIENT_SECRET``,
``ERTCLOUD_TOKEN_URL``, ``ERTCLOUD_URL``) and with no credentials file. Otherwise the
options mean what they mean for ``market-price``: ``--hostname``/``--url`` or else service
discovery (``--discovery-url``, ``--region``), v1 or v2 authentication, and with
``--hot-standby`` a second endpoint to fail over to.
"""

from __future__ import annotations

import argparse
import os
import ssl
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth.grants import PasswordCredentials
from ..config import ENV_VARS, default_credentials_file
from ..exceptions import DiscoveryError
from .market_price import (
    check_required,
    default_position,
    fill_credentials,
    first_token,
    first_urls,
    grant_credentials,
    option_value,
    ssl_context,
    token_url_for,
    websocket_endpoints,
)

if TYPE_CHECKING:
    from ..auth.manager import TokenManager
    from ..client.session import Session

__all__ = ["Connection", "any_credential", "open_connection"]

#: options that name a service or a credential
_SERVICE_OPTIONS = (
    "hostname",
    "url",
    "user",
    "password",
    "clientid",
    "clientsecret",
    "jwk_file",
    "auth_url",
    "auth_hostname",
    "discovery_url",
    "standbyhostname",
    "credentials",
)
_SERVICE_ENV = (*ENV_VARS.values(), "ERTCLOUD_TOKEN_URL", "ERTCLOUD_URL")


def any_credential(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> bool:
    """Whether anything names a real service or credentials (then never the simulator)."""
    env = os.environ if environ is None else environ
    if any(option_value(args, name) for name in _SERVICE_OPTIONS):
        return True
    if any(env.get(name) for name in _SERVICE_ENV):
        return True
    return default_credentials_file(env).exists()


@dataclass
class Connection:
    """Tokens and WebSocket URLs (best first) of the service to use."""

    tokens: TokenManager
    urls: list[str]
    ssl: ssl.SSLContext | bool | None
    simulated: bool

    def session(
        self, args: argparse.Namespace, urls: list[str] | None = None, **options: Any
    ) -> Session:
        """A Session on this service (``urls``: these of its URLs) with the command's login
        options (``--app-id``, ``--position``) and ``--no-reconnect``."""
        from ..client.session import Session  # not at import: the CLI starts faster
        from ..protocol.login import LoginParams

        return Session(
            urls or self.urls,
            tokens=self.tokens,
            login=LoginParams(
                application_id=args.app_id, position=args.position or default_position()
            ),
            ssl_context=self.ssl,
            reconnect=not args.no_reconnect,
            **options,
        )


async def open_connection(
    args: argparse.Namespace, stack: AsyncExitStack, doing: str = "recording"
) -> Connection:
    """The service the options name (token fetched, endpoints discovered if need be), or the
    embedded simulator when :func:`any_credential` finds nothing (said on stderr: "``doing``
    SIMULATED data"). Closes with ``stack``."""
    from ..auth.client import TokenClient
    from ..auth.manager import TokenManager

    if not any_credential(args):
        from .record import connection_target

        t = await connection_target(args, stack, True, doing)
        client = TokenClient(t.auth_url, ssl_context=t.ssl)
        stack.push_async_callback(client.close)
        creds = PasswordCredentials(t.user, t.password, t.clientid, scope=args.scope)
        tokens = TokenManager(client, creds)
        await first_token(tokens, t.auth_url, args)
        return Connection(tokens, [t.ws_url], t.ssl, True)
    fill_credentials(args)
    v2 = bool(option_value(args, "clientsecret") or option_value(args, "jwk_file"))
    check_required(args, v2)
    auth_url = token_url_for(args, v2)
    sslctx = ssl_context(args, *first_urls(args, auth_url))
    client = TokenClient(auth_url, ssl_context=sslctx)
    stack.push_async_callback(client.close)
    tokens = TokenManager(client, grant_credentials(args, v2))
    await first_token(tokens, auth_url, args)
    urls = await websocket_endpoints(args, tokens, None, sslctx, auth_url)
    if option_value(args, "hotstandby") and len(urls) < 2:
        raise DiscoveryError(
            f"Expected 2 hosts but received: {len(urls)} (--hot-standby needs "
            "--standby-hostname with --hostname)"
        )
    return Connection(tokens, urls, sslctx, False)
