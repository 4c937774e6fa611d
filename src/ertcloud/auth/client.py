"""HTTP side of authentication: POST a grant to the token endpoint with aiohttp.

Redirects are followed by hand (the same POST is repeated at ``Location``), as the vendor
examples do; 400/401 mean the credentials or the refresh token were refused; 403, 404, 410
and 451 are final; anything else (429, 5xx, a network error) is transient.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable

import aiohttp

from ..exceptions import (
    AuthenticationError,
    InvalidCredentials,
    RefreshRejected,
    TransientAuthError,
)
from ..http_client import HttpClient
from ..proxy import ProxySetting, resolve_proxy, via
from ..tracing import Trace
from .grants import Token, TokenRequest, parse_token, redact

__all__ = ["RefreshRejected", "TokenClient", "TransientAuthError"]

FINAL_STATUSES = frozenset({403, 404, 410, 451})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TokenClient(HttpClient):
    """Posts grants to one token URL."""

    def __init__(
        self,
        url: str,
        *,
        http: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | bool | None = None,
        timeout: float = 15.0,
        trace: Trace | None = None,
        clock: Callable[[], float] = time.monotonic,
        proxy: ProxySetting = None,
    ) -> None:
        super().__init__(url, http, ssl_context, timeout, trace, proxy)
        self._clock = clock

    async def fetch(self, req: TokenRequest) -> Token:
        """POST the grant; returns the token or raises an :class:`AuthenticationError`."""
        url = self.url
        http = await self._session()
        for _ in range(6):
            if self.trace:
                self.trace("request", (req.grant, url))
            proxy = resolve_proxy(url, self.proxy)
            try:
                async with http.post(
                    url,
                    data=req.form,
                    headers=req.headers,
                    proxy=proxy,
                    allow_redirects=False,
                    ssl=self._ssl if self._ssl is not None else True,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as resp:
                    status = resp.status
                    text = await resp.text()
                    location = resp.headers.get("Location")
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
                raise AuthenticationError(
                    f"TLS failure with token endpoint {url}: {via(exc, proxy)}"
                ) from None
            except aiohttp.ClientHttpProxyError as exc:
                raise AuthenticationError(
                    f"cannot reach token endpoint {url}: {via(exc, proxy)}", status=exc.status
                ) from None
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise TransientAuthError(
                    f"cannot reach token endpoint {url}: {via(exc, proxy)}"
                ) from None
            if status in REDIRECTS and location:
                url = self._redirected(
                    url,
                    location,
                    lambda u, t: AuthenticationError(
                        f"token endpoint {u} redirects to insecure {t}: refused"
                    ),
                )
                continue
            if status == 200:
                try:
                    body = json.loads(text)
                    token = parse_token(body, self._clock())
                except ValueError as exc:
                    raise AuthenticationError(
                        f"bad token response from {url}: {exc}", status=status
                    ) from None
                if self.trace:
                    self.trace("success", body)
                return token
            detail = _error_text(text)
            if self.trace:
                self.trace("error", (status, detail))
            msg = f"token endpoint {url} answered HTTP {status}: {detail}"
            if status in (400, 401):
                if req.grant == "refresh_token":
                    raise RefreshRejected(msg, status=status)
                raise InvalidCredentials(msg, status=status)
            if status in FINAL_STATUSES:
                raise AuthenticationError(msg, status=status)
            raise TransientAuthError(msg, status=status, retry_after=_seconds(retry_after))
        raise AuthenticationError(f"too many redirects from {self.url}")


def _seconds(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip().splitlines()[0][:200] if text.strip() else "(empty body)"
    if isinstance(body, dict):
        if "error_description" in body or "error" in body:
            err = body.get("error")
            if isinstance(err, dict):
                return str(err.get("message") or err)
            desc = body.get("error_description")
            return f"{err}: {desc}" if desc else str(err)
    return json.dumps(redact(body))[:200]
