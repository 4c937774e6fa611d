"""Checks of the command line done before any network, and defaults from the environment.

Every problem found here is a :class:`~ertcloud.exceptions.ConfigError`: one line on stderr
and exit code 2. Secrets are never part of a message.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from ..exceptions import ConfigError
from ..protocol.enums import DOMAINS

__all__ = [
    "ENV_OPTIONS",
    "ITEM_DOMAINS",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_SPECIALS",
    "apply_environment",
    "check_args",
    "domain_name",
    "password_policy_problem",
]

#: The vendor examples' policy for ``--new-password`` (their code; their README says 15).
PASSWORD_MIN_LENGTH = 30
PASSWORD_SPECIALS = "~!@#$%^&*()-_=+[]{}|;:,.<>/?"

#: Domains an item request may name (every RDM domain but Login).
ITEM_DOMAINS = tuple(d for d in DOMAINS if d != "Login")

#: Environment variables that give an option its default (the option wins when given).
#: The credentials (``ERTCLOUD_USER``, ``ERTCLOUD_PASSWORD``, ``ERTCLOUD_CLIENT_ID``,
#: ``ERTCLOUD_CLIENT_SECRET``) are read by :func:`ertcloud.config.resolve_credentials`.
ENV_OPTIONS = {"url": "ERTCLOUD_URL", "auth_url": "ERTCLOUD_TOKEN_URL"}


def password_policy_problem(pw: str) -> str:
    """What is wrong with a new password under the gateway's policy ("" if nothing)."""
    if len(pw) < PASSWORD_MIN_LENGTH:
        return f"must be at least {PASSWORD_MIN_LENGTH} characters long"
    if any(not (c.isascii() and (c.isalnum() or c in PASSWORD_SPECIALS)) for c in pw):
        return f"may only contain letters, digits and {PASSWORD_SPECIALS}"
    kinds = {
        "upper case": any(c.isascii() and c.isupper() for c in pw),
        "lower case": any(c.isascii() and c.islower() for c in pw),
        "digits": any(c.isdigit() for c in pw),
        "symbols": any(c in PASSWORD_SPECIALS for c in pw),
    }
    if sum(kinds.values()) < 3:
        missing = ", ".join(k for k, v in kinds.items() if not v)
        return (
            f"must mix at least 3 of: upper case, lower case, digits, symbols (missing: {missing})"
        )
    return ""


def domain_name(value: str) -> str:
    """The canonical name of an item domain (``marketbyprice`` -> ``MarketByPrice``)."""
    for d in ITEM_DOMAINS:
        if d.lower() == value.strip().lower():
            return d
    what = "is the login stream, not an item domain" if value.strip().lower() == "login" else ""
    raise ConfigError(
        f"--domain {value!r} {what or 'is not a domain'}; valid: {', '.join(ITEM_DOMAINS)}"
    )


def apply_environment(a: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
    """Options not given on the command line from ``ERTCLOUD_URL`` / ``ERTCLOUD_TOKEN_URL``.

    An explicit option wins, including one that names the same thing differently:
    ``--hostname`` over ``ERTCLOUD_URL``, ``--auth-hostname`` over ``ERTCLOUD_TOKEN_URL``."""
    env = os.environ if environ is None else environ
    if hasattr(a, "url") and a.url is None and getattr(a, "hostname", None) is None:
        a.url = env.get(ENV_OPTIONS["url"]) or None
    if hasattr(a, "auth_url") and a.auth_url is None and not getattr(a, "auth_hostname", None):
        a.auth_url = env.get(ENV_OPTIONS["auth_url"]) or None


def _port(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{option} must be a port number from 1 to 65535, got {value!r}")
    return text


def _names(option: str, specs: list[str] | None) -> None:
    """Every value of an item option names at least one item (comma lists allowed)."""
    for spec in specs or []:
        if not any(x.strip() for x in spec.split(",")):
            raise ConfigError(f"{option} needs an item name, got {spec!r}")


def _list(option: str, spec: str | None) -> None:
    if spec is not None and not any(x.strip() for x in spec.split(",")):
        raise ConfigError(f"{option} needs at least one field name, got {spec!r}")


def _url(option: str, value: str | None, schemes: tuple[str, ...]) -> None:
    if value is not None and not value.lower().startswith(schemes):
        want = " or ".join(f"{s}//" for s in schemes)
        raise ConfigError(f"{option} must be a {want} URL, got {value!r}")


def check_args(a: argparse.Namespace) -> None:
    """Check the parsed options of any command; normalises ``--domain``."""
    for option, dest in (
        ("--port", "port"),
        ("--standby-port", "standbyport"),
        ("--auth-port", "auth_port"),
    ):
        if hasattr(a, dest):
            setattr(a, dest, _port(option, getattr(a, dest)))
    ric = getattr(a, "ric", None)
    if isinstance(ric, list):
        _names("--ric", ric)
    elif isinstance(ric, str) and (not ric.strip() or "," in ric):  # post: one item
        raise ConfigError(f"RIC must be one item name, got {ric!r}")
    rics = getattr(a, "rics", None)
    if isinstance(rics, list):
        _names("RIC", rics)
    _list("--fields", getattr(a, "view", None))
    _list("--fields", getattr(a, "fields", None))
    if isinstance(getattr(a, "domain", None), str):
        a.domain = domain_name(a.domain)
    for option, dest in (("--hostname", "hostname"), ("--standby-hostname", "standbyhostname")):
        value = getattr(a, dest, None)
        if value is not None and (not value.strip() or "/" in value or " " in value.strip()):
            raise ConfigError(f"{option} must be a host name, got {value!r}")
    _url(f"--url (or {ENV_OPTIONS['url']})", getattr(a, "url", None), ("ws:", "wss:"))
    _url("--standby-url", getattr(a, "standby_url", None), ("ws:", "wss:"))
    _url(
        f"--auth-url (or {ENV_OPTIONS['auth_url']})",
        getattr(a, "auth_url", None),
        ("http:", "https:"),
    )
    for option in ("token_timeout", "connect_timeout"):
        value = getattr(a, option, None)
        if isinstance(value, float) and not 0 < value <= 3600:
            name = "--" + option.replace("_", "-")
            raise ConfigError(f"{name} must be from 0 to 3600 seconds, got {value:g}")
    count = getattr(a, "count", None)
    if isinstance(count, int) and count < 1:
        raise ConfigError(f"--count must be at least 1, got {count}")
    duration = getattr(a, "duration", None)
    if isinstance(duration, float) and not duration > 0:
        raise ConfigError(f"--duration must be a positive number of seconds, got {duration:g}")
    new_password = getattr(a, "new_password", None)
    if new_password is not None:
        problem = password_policy_problem(new_password)
        if problem:
            raise ConfigError(f"--new-password {problem}")
