"""Exceptions raised by ertcloud: one tree, every class raised somewhere.

::

    ErtcloudError
    ├── ConfigError (ValueError)      bad options or configuration
    │   └── RecordingError            a recording that cannot be read (missing, damaged)
    ├── AuthenticationError           the gateway refused to issue a token
    │   ├── InvalidCredentials        wrong user/password/client id/secret (do not retry)
    │   ├── TransientAuthError        worth retrying later (5xx, 429, network)
    │   └── RefreshRejected           the refresh token was refused
    ├── DiscoveryError                service discovery failed or found no endpoint
    │   └── BearerRefused             discovery refused the access token (HTTP 401)
    ├── TransportError                the WebSocket to the streaming server
    │   ├── ConnectFailed             ... could not be opened (refused, TLS, handshake)
    │   └── ConnectionLost            ... was lost (a post in flight, reconnects given up)
    ├── LoginRejected                 the streaming server refused the Login
    ├── ProtocolError                 the peer sent something that breaks the protocol
    │   ├── DecodeError (ValueError)  ... a frame that is not JSON at all
    │   └── LimitExceeded             ... or more than a configured limit allows
    ├── ChainError                    a chain that does not exist, is not one, or loops
    ├── PostRejected                  a contribution was refused (Nack)
    ├── SessionClosed                 the session is closed and cannot be used
    ├── SinkNotOpen (RuntimeError)    a sink written before open() or after close()
    └── TimedOut (TimeoutError)       no answer in time (e.g. the Ack of a post)

``ConnectError`` is the former name of :class:`TransportError` (kept as an alias).
"""

from __future__ import annotations

import re

__all__ = [
    "AuthenticationError",
    "BearerRefused",
    "ChainError",
    "ConfigError",
    "ConnectError",
    "ConnectFailed",
    "ConnectionLost",
    "DecodeError",
    "DiscoveryError",
    "ErtcloudError",
    "InvalidCredentials",
    "LimitExceeded",
    "LoginRejected",
    "PostRejected",
    "ProtocolError",
    "RecordingError",
    "RefreshRejected",
    "SessionClosed",
    "SinkNotOpen",
    "TimedOut",
    "TransientAuthError",
    "TransportError",
    "one_line",
]


class ErtcloudError(Exception):
    """Base of every ertcloud error."""


class ConfigError(ErtcloudError, ValueError):
    """Bad options or configuration (also a :class:`ValueError`)."""


class RecordingError(ConfigError):
    """A recording that cannot be read: missing, of another kind, or damaged."""


class ChainError(ErtcloudError):
    """A chain that does not exist, is not a chain, or loops."""


class AuthenticationError(ErtcloudError):
    """The token endpoint did not issue a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidCredentials(AuthenticationError):
    """The gateway rejected the credentials themselves; retrying will not help."""


class TransientAuthError(AuthenticationError):
    """Worth retrying later (gateway 5xx, 429, network error)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class RefreshRejected(AuthenticationError):
    """The refresh token was refused (expired, revoked): fall back to the password grant."""


class DiscoveryError(ErtcloudError):
    """Service discovery failed or found no endpoint."""


class BearerRefused(DiscoveryError):
    """Discovery refused the access token (HTTP 401): expired or revoked."""


class TransportError(ErtcloudError):
    """The WebSocket to the streaming server could not be opened or was lost."""


#: Former name of :class:`TransportError`.
ConnectError = TransportError


class ConnectFailed(TransportError):
    """No WebSocket could be opened (refused, TLS, handshake, no Login response)."""


class ConnectionLost(TransportError):
    """An open connection was lost (and, for a session, not recovered in time)."""


class LoginRejected(ErtcloudError):
    """The Login stream was closed by the server (bad or expired token, not entitled...)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ProtocolError(ErtcloudError):
    """The peer sent something that breaks the protocol."""


class DecodeError(ProtocolError, ValueError):
    """The frame is not JSON at all (or not a JSON object/array)."""


class LimitExceeded(ProtocolError):
    """Something passed a configured limit (message size, fields per image, streams per
    session); ``limit`` is that limit."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class SessionClosed(ErtcloudError):
    """The session is closed and cannot be used."""


class SinkNotOpen(ErtcloudError, RuntimeError):
    """A sink was written before :meth:`open` or after :meth:`close` (also a
    :class:`RuntimeError`)."""


class PostRejected(ErtcloudError):
    """The server refused a Post (an Ack carrying a ``NakCode``)."""

    def __init__(self, message: str, *, nak_code: str | None = None) -> None:
        super().__init__(message)
        self.nak_code = nak_code


class TimedOut(ErtcloudError, TimeoutError):
    """No answer in time (also a :class:`TimeoutError`)."""


_SSL_REPR = re.compile(r" ssl:(?:<[^>]*>|default|True|False|None)")


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text (its class name if it has none), for the
    one-line errors the command line prints."""
    text = str(exc) or type(exc).__name__
    # aiohttp names the TLS setting by its repr ("ssl:<ssl.SSLContext object at 0x...>"),
    # which tells a user nothing; the URL in our own message already says wss or ws.
    return _SSL_REPR.sub("", text.splitlines()[0])
