"""``--proxy``: the HTTP proxy of every networked command (token, discovery, WebSocket)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..proxy import redact, use_proxy

__all__ = ["add_proxy_option"]


class _UseProxy(argparse.Action):
    """Makes the URL the process default of :mod:`ertcloud.proxy` (checked when used, so
    a bad one is a one-line error with its password hidden); ``none`` turns proxies off."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        value = str(values)
        use_proxy(False if value.lower() == "none" else value)
        # what the namespace keeps (and may show) has no password
        setattr(namespace, self.dest, redact(value))
        if redact(value) != value and sys.stderr.isatty():
            sys.stderr.write(
                f"ertcloud: warning: a password in {option_string} can be seen by other users "
                "(process list); prefer HTTPS_PROXY in the environment\n"
            )


def add_proxy_option(g: argparse._ActionsContainer) -> None:
    g.add_argument(
        "--proxy",
        action=_UseProxy,
        default=None,
        metavar="URL",
        help="HTTP proxy for the token endpoint, discovery and the WebSocket: "
        "http://[user:password@]host:port, or none (default: HTTPS_PROXY / HTTP_PROXY / "
        "ALL_PROXY, except the hosts in NO_PROXY)",
    )
