"""Exceptions raised by ertcloud.

::

    ErtcloudError
    ├── ConfigError                 bad options or configuration
    ├── AuthenticationError         the gateway refused to issue a token
    │   └── InvalidCredentials      wrong user/password/client id/secret (do not retry)
    ├── DiscoveryError              service discovery failed or found no endpoint
    ├── ConnectError                the streaming server could not be reached
    ├── LoginRejected               the streaming server refused the Login
    ├── ProtocolError               the peer sent something that breaks the protocol
    │   └── LimitExceeded           ... or more than a configured limit allows
    ├── PostRejected                a contribution was refused (Nack)
    └── SessionClosed               the session is closed and cannot be used
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConnectError",
    "DiscoveryError",
    "ErtcloudError",
    "InvalidCredentials",
    "LimitExceeded",
    "LoginRejected",
    "PostRejected",
    "ProtocolError",
    "SessionClosed",
    "one_line",
]


class ErtcloudError(Exception):
    """Base of every ertcloud error."""


class ConfigError(ErtcloudError):
    pass


class AuthenticationError(ErtcloudError):
    """The token endpoint did not issue a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidCredentials(AuthenticationError):
    """The gateway rejected the credentials themselves; retrying will not help."""


class DiscoveryError(ErtcloudError):
    pass


class ConnectError(ErtcloudError):
    pass


class LoginRejected(ErtcloudError):
    """The Login stream was closed by the server (bad or expired token, not entitled...)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ProtocolError(ErtcloudError):
    pass


class LimitExceeded(ProtocolError):
    """Something passed a configured limit (message size, fields per image, streams per
    session); ``limit`` is that limit."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class SessionClosed(ErtcloudError):
    pass


class PostRejected(ErtcloudError):
    """The server refused a Post (an Ack carrying a ``NakCode``)."""

    def __init__(self, message: str, *, nak_code: str | None = None) -> None:
        super().__init__(message)
        self.nak_code = nak_code


_SSL_REPR = re.compile(r" ssl:(?:<[^>]*>|default|True|False|None)")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text (its class name if it has none), for the
    one-line errors the command line prints."""
    text = str(exc) or type(exc).__name__
    # aiohttp names the TLS setting by its repr ("ssl:<ssl.SSLContext object at 0x...>"),
    # which tells a user nothing; the URL in our own message already says wss or ws.
    return _SSL_REPR.sub("", text.splitlines()[0])
