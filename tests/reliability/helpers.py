"""Helpers shared by the reliability tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.sim.server import SimServer


def session_for(sim: SimServer, **kw: Any) -> Session:
    """A Session logged in to ``sim`` as the demo user."""
    tokens = TokenManager(TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app"))
    return Session(sim.websocket_url, tokens=tokens, **kw)


async def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Wait until ``check()`` is true (generous timeouts: the machine may be loaded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)
