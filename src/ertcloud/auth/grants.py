"""OAuth2 grants of the Data Platform gateway, as pure values: what to send, what came back.

v1 (``auth/oauth2/v1/token``, in 2018 ``auth/oauth2/beta1/token``): password grant and
refresh_token grant. v2 (``auth/oauth2/v2/token``): client_credentials, with a client secret
or a signed JWT client assertion. No I/O here.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_SCOPE",
    "JWT_ASSERTION_TYPE",
    "MAX_TOKEN_LIFETIME",
    "ClientCredentials",
    "PasswordCredentials",
    "Token",
    "TokenRequest",
    "parse_token",
    "redact",
]

DEFAULT_SCOPE = "trapi"
#: A longer ``expires_in`` is taken as this many seconds (one day): the token is renewed
#: at least daily rather than never.
MAX_TOKEN_LIFETIME = 86_400.0
JWT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "newPassword",
        "client_secret",
        "client_assertion",
        "AuthenticationToken",
        "Authorization",
    }
)


def redact(obj: Any, show: bool = False) -> Any:
    """A copy of ``obj`` (JSON-like) with tokens, passwords and secrets replaced by
    ``"<redacted>"``; ``show=True`` returns ``obj`` unchanged."""
    if show:
        return obj
    if isinstance(obj, dict):
        return {
            k: ("<redacted>" if k in _SECRET_KEYS and v not in (None, "") else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


@dataclass(frozen=True)
class PasswordCredentials:
    """v1 machine-account credentials (password grant, then refresh_token grants)."""

    username: str
    password: str = field(repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scope: str = DEFAULT_SCOPE
    take_exclusive_sign_on: bool = True
    new_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ClientCredentials:
    """v2 service-account credentials: a client secret, or a JWT assertion factory."""

    client_id: str
    client_secret: str = field(default="", repr=False)
    scope: str = "trapi.streaming.pricing.read"
    #: If set, called to build a fresh signed JWT for each request (private-key auth).
    assertion: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenRequest:
    """A form POST to the token endpoint."""

    form: dict[str, str] = field(repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    grant: str = "password"

    @property
    def headers(self) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.basic_auth is not None:
            user, secret = self.basic_auth
            raw = f"{user}:{secret}".encode()
            h["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return h

    @staticmethod
    def password(c: PasswordCredentials) -> TokenRequest:
        form = {
            "username": c.username,
            "password": c.password,
            "client_id": c.client_id,
            "grant_type": "password",
            "takeExclusiveSignOnControl": "True" if c.take_exclusive_sign_on else "False",
            "scope": c.scope,
        }
        if c.new_password:
            form["newPassword"] = c.new_password
        if c.client_secret:
            form["client_secret"] = c.client_secret
        return TokenRequest(form, (c.client_id, c.client_secret), "password")

    @staticmethod
    def refresh(c: PasswordCredentials, refresh_token: str) -> TokenRequest:
        form = {
            "username": c.username,
            "client_id": c.client_id,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }
        if c.client_secret:
            form["client_secret"] = c.client_secret
        return TokenRequest(form, (c.client_id, c.client_secret), "refresh_token")

    @staticmethod
    def client_credentials(c: ClientCredentials) -> TokenRequest:
        form = {"grant_type": "client_credentials", "client_id": c.client_id, "scope": c.scope}
        if c.assertion is not None:
            form["client_assertion_type"] = JWT_ASSERTION_TYPE
            form["client_assertion"] = str(c.assertion())
        else:
            form["client_secret"] = c.client_secret
        return TokenRequest(form, None, "client_credentials")


@dataclass(frozen=True)
class Token:
    """An access token as issued, with when it was obtained (monotonic seconds)."""

    access_token: str = field(repr=False)
    expires_in: float
    obtained_at: float
    refresh_token: str | None = field(default=None, repr=False)
    scope: str = ""
    token_type: str = "Bearer"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def expires_at(self) -> float:
        return self.obtained_at + self.expires_in

    def renew_at(self, fraction: float = 0.9) -> float:
        """When to renew: after ``fraction`` of the lifetime (the vendor examples' 0.9)."""
        return self.obtained_at + self.expires_in * fraction

    def expired(self, now: float, margin: float = 0.0) -> bool:
        return now >= self.expires_at - margin


def parse_token(body: Any, now: float) -> Token:
    """Read a token response. ``expires_in`` comes as a string of seconds in v1, a number
    in v2; both are accepted. One that is not a positive finite number (``"0"``, ``"abc"``,
    ``-5``, NaN) is refused with a ValueError, since renewing "before expiry" would then
    mean at once, forever; one above :data:`MAX_TOKEN_LIFETIME` is clamped to it."""
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ValueError("token response has no access_token")
    raw_expiry = body.get("expires_in", 300)
    try:
        if isinstance(raw_expiry, bool):
            raise TypeError
        expires_in = float(raw_expiry)
    except (TypeError, ValueError):
        raise ValueError(f"bad expires_in: {raw_expiry!r}") from None
    if math.isnan(expires_in) or expires_in <= 0:
        raise ValueError(f"bad expires_in: {raw_expiry!r} (not a positive number of seconds)")
    expires_in = min(expires_in, MAX_TOKEN_LIFETIME)
    rt = body.get("refresh_token")
    return Token(
        access_token=body["access_token"],
        expires_in=expires_in,
        obtained_at=now,
        refresh_token=rt if isinstance(rt, str) else None,
        scope=str(body.get("scope") or ""),
        token_type=str(body.get("token_type") or "Bearer"),
        raw=body,
    )
