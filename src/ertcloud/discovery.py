"""Service discovery: which streaming endpoints to use, as the vendor examples pick them.

``GET <discovery_url>?transport=websocket`` with the Bearer token returns ``services``: each
an endpoint host, port and the availability zones (``location``) it spans. An endpoint with
two zones is a load-balanced address and is preferred for a single connection; hot standby
needs two single-zone endpoints. ``--region`` is an AWS region prefix (``us-east-1``,
``eu-west-1``...) or one of the 2020 names ``amer``/``emea``/``apac``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from .auth.manager import TokenManager
from .config import DEFAULT_DISCOVERY_URL
from .exceptions import BearerRefused, DiscoveryError
from .http_client import HttpClient
from .protocol.backoff import backoff
from .proxy import ProxySetting, resolve_proxy, via
from .tracing import Trace

__all__ = [
    "DEFAULT_DISCOVERY_URL",
    "REGION_PREFIXES",
    "DiscoveryClient",
    "Endpoint",
    "parse_services",
    "select_endpoints",
]

#: The 2019-2020 examples' region names and the zone prefixes they stand for.
REGION_PREFIXES = {"amer": "us-", "emea": "eu-", "apac": "ap-"}
FINAL_STATUSES = frozenset({403, 404, 410, 451})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Endpoint:
    """One streaming endpoint of the discovery document."""

    host: str
    port: int
    locations: tuple[str, ...]
    provider: str = ""
    transport: str = "websocket"
    data_format: tuple[str, ...] = ("tr_json2",)

    def url(self, tls: bool = True) -> str:
        """The WebSocket URL of this endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if tls else 'ws'}://{host}:{self.port}/WebSocket"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_services(body: Any) -> list[Endpoint]:
    """The endpoints of a discovery response (entries without a host or port are skipped)."""
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        raise DiscoveryError("service discovery response has no 'services' list")
    out: list[Endpoint] = []
    for s in body["services"]:
        if not isinstance(s, dict):
            continue
        host, port = s.get("endpoint"), s.get("port")
        if not isinstance(host, str) or not host:
            continue
        try:
            port_n = int(port)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        loc = s.get("location")
        locations = tuple(str(x) for x in loc) if isinstance(loc, list) else ()
        fmt = s.get("dataFormat")
        out.append(
            Endpoint(
                host=host,
                port=port_n,
                locations=locations,
                provider=str(s.get("provider") or ""),
                transport=str(s.get("transport") or "websocket"),
                data_format=tuple(str(x) for x in fmt) if isinstance(fmt, list) else (),
            )
        )
    return out


def region_prefix(region: str) -> str:
    """The zone prefix of ``region`` (``amer`` -> ``us-``; AWS regions stand for themselves)."""
    return REGION_PREFIXES.get(region.lower(), region)


def select_endpoints(
    endpoints: Sequence[Endpoint], region: str = "us-east-1", *, hotstandby: bool = False
) -> list[Endpoint]:
    """The endpoints to use, best first.

    Single connection: the multi-zone endpoints of the region, then its single-zone ones
    as fall-backs. Hot standby: the single-zone endpoints (at least two). Raises
    :class:`DiscoveryError` with the vendor examples' messages when nothing fits."""
    prefix = region_prefix(region)
    mine = [
        e
        for e in endpoints
        if e.transport == "websocket" and e.locations and e.locations[0].startswith(prefix)
    ]
    singles = [e for e in mine if len(e.locations) == 1]
    if hotstandby:
        if len(singles) < 2:
            raise DiscoveryError(
                f"Expected 2 hosts but received: {len(singles)} or the region: {region} "
                "is not present in list of endpoints"
            )
        return singles
    multi = [e for e in mine if len(e.locations) >= 2]
    if not multi and not singles:
        raise DiscoveryError(f"The region: {region} is not present in list of endpoints")
    return multi + singles


class DiscoveryClient(HttpClient):
    """Queries one discovery URL (redirects followed by hand; transient errors retried)."""

    def __init__(
        self,
        url: str = DEFAULT_DISCOVERY_URL,
        *,
        http: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | bool | None = None,
        timeout: float = 15.0,
        attempts: int = 4,
        trace: Trace | None = None,
        proxy: ProxySetting = None,
    ) -> None:
        super().__init__(url, http, ssl_context, timeout, trace, proxy)
        self.attempts = attempts
        self.last_body: Any = None

    async def fetch(self, access_token: str, transport: str = "websocket") -> list[Endpoint]:
        """Every endpoint the service lists for ``transport``."""
        delays = backoff(initial=1.0, maximum=10.0)
        for attempt in range(1, self.attempts + 1):
            try:
                body = await self._get(access_token, transport)
            except _Transient as exc:
                if attempt == self.attempts:
                    raise DiscoveryError(str(exc)) from None
                await asyncio.sleep(next(delays))
                continue
            self.last_body = body
            return parse_services(body)
        raise DiscoveryError("unreachable")  # pragma: no cover

    async def discover(self, tokens: TokenManager, transport: str = "websocket") -> list[Endpoint]:
        """:meth:`fetch` with the manager's token; if the service refuses it (401), renew
        the token once and ask again."""
        try:
            return await self.fetch((await tokens.get()).access_token, transport)
        except BearerRefused:
            return await self.fetch((await tokens.renew()).access_token, transport)

    async def _get(self, access_token: str, transport: str) -> Any:
        http = await self._session()
        url = self.url
        for _ in range(6):
            if self.trace:
                self.trace("request", url)
            proxy = resolve_proxy(url, self.proxy)
            try:
                async with http.get(
                    url,
                    params={"transport": transport},
                    proxy=proxy,
                    headers={
                        "Authorization": f"Bearer {access_token}",
                        "Accept": "application/json",
                    },
                    allow_redirects=False,
                    ssl=self._ssl if self._ssl is not None else True,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as resp:
                    status, text = resp.status, await resp.text()
                    location = resp.headers.get("Location")
            except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
                raise DiscoveryError(f"TLS failure with {url}: {via(exc, proxy)}") from None
            except aiohttp.ClientHttpProxyError as exc:
                raise DiscoveryError(
                    f"cannot reach service discovery {url}: {via(exc, proxy)}"
                ) from None
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                text = via(exc, proxy)
                raise _Transient(f"cannot reach service discovery {url}: {text}") from None
            if status in REDIRECTS and location:
                url = self._redirected(
                    url,
                    location,
                    lambda u, t: DiscoveryError(f"service discovery {u} redirects to insecure {t}"),
                )
                continue
            if status == 200:
                try:
                    body = json.loads(text)
                except ValueError:
                    raise DiscoveryError(f"service discovery {url} sent invalid JSON") from None
                if self.trace:
                    self.trace("success", body)
                return body
            if self.trace:
                self.trace("error", (status, text.strip()[:200]))
            msg = f"service discovery {url} answered HTTP {status}"
            if status == 401:
                raise BearerRefused(msg)
            if status in FINAL_STATUSES or status == 400:
                raise DiscoveryError(msg)
            raise _Transient(msg)
        raise DiscoveryError(f"too many redirects from {self.url}")


class _Transient(Exception):
    pass
