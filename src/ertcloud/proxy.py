"""HTTP proxies for the token endpoint, service discovery and the WebSocket.

``proxy`` arguments (``Session``, ``TokenClient``, ``DiscoveryClient``, ``connect``) take:

* a URL, ``http://[user:password@]host:port`` (or ``https://``): every request and
  connection goes through that proxy (``NO_PROXY`` does not apply to it);
* ``False`` or ``""``: no proxy, whatever the environment says;
* ``None`` (the default): the process default set by :func:`use_proxy` (the CLI's
  ``--proxy``; ``--proxy none`` is no proxy), else the environment: ``HTTPS_PROXY``
  for ``https``/``wss`` URLs, ``HTTP_PROXY`` for ``http``/``ws``, ``ALL_PROXY`` for
  either, skipped for the hosts ``NO_PROXY`` names (lower-case names work too).

Transports: aiohttp tunnels ``https``/``wss`` with CONNECT and sends plain ``http``/``ws``
requests to the proxy in absolute form (the proxy must pass the WebSocket Upgrade on);
picows tunnels its WebSocket with CONNECT whatever the scheme.

A proxy's password is never shown: :func:`redact` replaces it in URLs and texts.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

from .exceptions import ConfigError, one_line

__all__ = [
    "ProxySetting",
    "check_proxy",
    "redact",
    "redact_text",
    "resolve_proxy",
    "use_proxy",
    "via",
]

ProxySetting = str | bool | None

_SCHEMES = ("http", "https")
_default: ProxySetting = None


def check_proxy(proxy: str) -> str:
    """``proxy`` if it is a usable proxy URL; else a :class:`ConfigError` (redacted)."""
    try:
        parts = urllib.parse.urlsplit(proxy)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"bad proxy URL {redact(proxy)}: expected http://host:port") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConfigError(
            f"bad proxy URL {redact(proxy)}: expected http://[user:password@]host:port "
            "(or https://)"
        )
    return proxy


def use_proxy(proxy: ProxySetting) -> None:
    """Set the process default proxy: a URL (checked when used), ``False`` for none, or
    ``None`` to go back to the environment."""
    global _default
    _default = proxy


def resolve_proxy(url: str, proxy: ProxySetting = None) -> str | None:
    """The proxy URL to reach ``url`` through, or None for a direct connection."""
    if proxy is None:
        proxy = _default
    if proxy is False or proxy == "":
        return None
    if isinstance(proxy, str):
        return check_proxy(proxy)
    parts = urllib.parse.urlsplit(url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    found = urllib.request.getproxies_environment()
    chosen = found.get(parts.scheme) or found.get(scheme) or found.get("all")  # WSS_PROXY too
    if not chosen:
        return None
    if _bypassed(parts.hostname or "", parts.port, found.get("no", "")):
        return None
    if "://" not in chosen:
        chosen = f"http://{chosen}"  # HTTPS_PROXY=host:port
    return check_proxy(chosen)


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """``NO_PROXY`` names ``host``: ``*``, the host itself, a domain it is in (``.corp`` or
    ``corp``), each optionally with ``:port``."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, want = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want and (not want.isdigit() or int(want) != port):
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    if "://" not in url:  # not a URL: whatever follows a colon may be a password
        name, sep, _ = url.partition(":")
        return f"{name}:***" if sep else url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    if parts.password is None:
        return url
    user, _, hostport = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{name}:***@{hostport}"))


def redact_text(text: str, proxy: str | None) -> str:
    """``text`` with the password of ``proxy`` (raw or %-encoded) replaced by ``***``."""
    if not proxy:
        return text
    try:
        password = urllib.parse.urlsplit(proxy).password
    except ValueError:
        return text
    if not password:
        return text
    for form in {password, urllib.parse.unquote(password), urllib.parse.quote(password)}:
        if form:
            text = text.replace(form, "***")
    return text


def via(exc: BaseException, proxy: str | None) -> str:
    """One line on ``exc``, naming the proxy (if any) it went through, password hidden."""
    text = redact_text(one_line(exc), proxy)
    return f"{text} (through proxy {redact(proxy)})" if proxy else text
