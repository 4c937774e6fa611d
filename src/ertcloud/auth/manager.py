"""Keeps a valid access token: first grant, renewal before expiry, fallbacks and retries.

v1 follows the vendor's renewal algorithm, made robust: renew after 90 % of the lifetime
with the refresh token; if the refresh token is refused, or the lifetime it returns differs
from the original one (the refresh chain is ending), do a password grant; transient
failures are retried with jittered back-off (``Retry-After`` honoured). v2 fetches a new
client-credentials token when the current one is near expiry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ..exceptions import AuthenticationError, InvalidCredentials
from ..protocol.backoff import backoff
from .client import RefreshRejected, TokenClient, TransientAuthError
from .grants import ClientCredentials, PasswordCredentials, Token, TokenRequest

__all__ = ["MIN_RENEW_INTERVAL", "TokenManager"]

#: Never renew more often than this (seconds), whatever lifetime the gateway claims.
MIN_RENEW_INTERVAL = 1.0

log = logging.getLogger("ertcloud.auth")

#: Called with each renewed token (the session re-sends its Login with Refresh: false).
OnToken = Callable[[Token], Awaitable[None]]


class TokenManager:
    """Owns the token of one set of credentials; single-flight fetches."""

    def __init__(
        self,
        client: TokenClient,
        credentials: PasswordCredentials | ClientCredentials,
        *,
        renew_fraction: float = 0.9,
        max_attempts: int = 4,
        min_renew_interval: float = MIN_RENEW_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.renew_fraction = renew_fraction
        self.max_attempts = max_attempts
        #: the shortest time from a token's issue to its renewal (for very short lifetimes)
        self.min_renew_interval = min_renew_interval
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.token: Token | None = None
        self.original_expires_in: float | None = None
        self.renewals = 0

    @property
    def uses_refresh_tokens(self) -> bool:
        return isinstance(self.credentials, PasswordCredentials)

    def _margin(self, t: Token) -> float:
        # The v2 examples' margin: 5 % of the lifetime under 10 minutes, else 300 s.
        return t.expires_in * 0.05 if t.expires_in < 600 else 300.0

    async def get(self) -> Token:
        """A token valid now (fetching one if there is none or it is about to expire)."""
        async with self._lock:
            t = self.token
            if t is not None and not t.expired(self._clock(), self._margin(t)):
                return t
            if t is not None and t.refresh_token and self.uses_refresh_tokens:
                return await self._retrying(self._renew_once)
            return await self._retrying(self._first)

    async def renew(self) -> Token:
        """Renew now (refresh grant for v1 with password fallback; new grant for v2)."""
        async with self._lock:
            return await self._retrying(self._renew_once)

    async def _first(self) -> Token:
        c = self.credentials
        if isinstance(c, PasswordCredentials):
            t = await self.client.fetch(TokenRequest.password(c))
            if c.new_password:
                # Later grants use the new password.
                self.credentials = PasswordCredentials(
                    c.username,
                    c.new_password,
                    c.client_id,
                    c.client_secret,
                    c.scope,
                    c.take_exclusive_sign_on,
                )
            self.original_expires_in = t.expires_in
        else:
            t = await self.client.fetch(TokenRequest.client_credentials(c))
        self.token = t
        return t

    async def _renew_once(self) -> Token:
        c = self.credentials
        t = self.token
        if not isinstance(c, PasswordCredentials) or t is None or not t.refresh_token:
            return await self._first()
        try:
            new = await self.client.fetch(TokenRequest.refresh(c, t.refresh_token))
        except RefreshRejected as exc:
            log.info("refresh token refused (%s); retrying with username and password", exc)
            return await self._first()
        if self.original_expires_in is not None and new.expires_in != self.original_expires_in:
            log.info(
                "expire time changed from %d sec to %d sec; retry with password",
                self.original_expires_in,
                new.expires_in,
            )
            return await self._first()
        self.token = new
        self.renewals += 1
        return new

    async def _retrying(self, op: Callable[[], Awaitable[Token]]) -> Token:
        delays = backoff(initial=1.0, maximum=30.0)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await op()
            except TransientAuthError as exc:
                if attempt == self.max_attempts:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else next(delays)
                log.info("authentication failed (%s); retrying in %.1f s", exc, delay)
                await self._sleep(delay)
        raise AuthenticationError("unreachable")  # pragma: no cover

    async def run(self, on_token: OnToken) -> None:
        """Renew the token before it expires, forever, handing each new one to
        ``on_token``. Only v1 tokens are reissued on the wire; v2 renews on demand."""
        if not self.uses_refresh_tokens:
            return
        retries = backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                t = self.token or await self.get()
                # Not before the renewal point, nor within min_renew_interval of the
                # token's issue (a lifetime of 0.01 s must not mean a grant per loop).
                due = max(t.renew_at(self.renew_fraction), t.obtained_at + self.min_renew_interval)
                delay = max(0.0, due - self._clock())
                await self._sleep(delay)
                t = await self.renew()
            except InvalidCredentials:
                raise  # the password itself is refused: retrying cannot help
            except AuthenticationError as exc:
                # A gateway error (5xx, 403, a timeout): keep trying, or the session loses
                # its login at the next expiry for one bad answer.
                wait = 1.0 if isinstance(exc, TransientAuthError) else next(retries)
                log.warning("token renewal failed: %s; retrying in %.0f s", exc, wait)
                await self._sleep(wait)
                continue
            retries = backoff(initial=1.0, maximum=30.0)
            await on_token(t)
