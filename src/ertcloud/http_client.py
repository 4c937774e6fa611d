"""What the token and discovery clients share: their URL, one aiohttp session, the caller's
or made on first use (and then closed by :meth:`HttpClient.close`), with TLS, time limits,
a proxy setting and a trace."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import aiohttp
from yarl import URL

from .proxy import ProxySetting
from .tracing import Trace

__all__ = ["HttpClient"]


class HttpClient:
    """The URL, an aiohttp session borrowed (``http``) or owned, and the request options."""

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession | None,
        ssl_context: ssl.SSLContext | bool | None,
        timeout: float,
        trace: Trace | None,
        proxy: ProxySetting,
    ) -> None:
        self.url = url
        self._http = http
        self._own_http = http is None
        self._ssl = ssl_context
        self._timeout = timeout
        self.trace = trace
        #: the proxy setting (see :mod:`ertcloud.proxy`; None: process default/environment)
        self.proxy = proxy

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()  # proxies: resolve_proxy, per request
        return self._http

    def _redirected(
        self, url: str, location: str, insecure: Callable[[str, URL], Exception]
    ) -> str:
        """Where a redirect from ``url`` leads; an https URL that leads to plain http
        raises ``insecure(url, target)``."""
        target = URL(url).join(URL(location))
        if URL(url).scheme == "https" and target.scheme != "https":
            raise insecure(url, target)
        if self.trace:
            self.trace("redirect", str(target))
        return str(target)

    async def close(self) -> None:
        """Close the session if this client made it."""
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
