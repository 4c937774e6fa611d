"""A client that stops reading must not slow down the simulator's other clients, and must
not hold its connection forever (slow-consumer policy)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager

from .sim_hardening_support import (
    ALL_RICS,
    health,
    password_token,
    peer_closed,
    stall_client,
    start_sim,
    stop_sim,
    users_file,
    wait_until,
)

WATCHED = ["EUR=", "JPY=", "GBP=", "CHF=", "AUD="]
#: four times the items at a quarter of the rate: the watcher's flow is the same, the
#: simulator's work for the stalled client (every item it asked for, on six streams) a
#: quarter, so that the simulator keeps up on a loaded machine
WATCHED_20 = [r for r in ALL_RICS if r.endswith("=") or r.startswith(".")][:20]


async def _rate(counter: list[int], seconds: float) -> float:
    """Updates a second over the next ``seconds`` (the elapsed time measured, not assumed)."""
    start, t0 = counter[0], time.monotonic()
    await asyncio.sleep(seconds)
    return (counter[0] - start) / (time.monotonic() - t0)


async def _flowing(counter: list[int]) -> None:
    """Until updates flow (the images and the first burst are past)."""
    await wait_until(lambda: counter[0] >= 20, 20, "updates to flow")


async def test_a_client_that_stops_reading_does_not_slow_the_others(tmp_path: Path) -> None:
    sp = start_sim(
        "--users-file",
        users_file(tmp_path),
        "--rate",
        "5",
        "--send-queue",
        "16384",
        "--drain-timeout",
        "4",  # past the 3 s measured while the stalled client is conflated
        "--ping-timeout",
        "300",
    )
    stalled: socket.socket | None = None
    try:
        tokens = TokenManager(
            TokenClient(sp.info["token_url"]), PasswordCredentials("demo", "demo", "app")
        )
        counter = [0]

        def on_update(_: Any) -> None:
            counter[0] += 1

        async with Session(sp.info["websocket_url"], tokens=tokens) as session:
            sub = session.subscribe(WATCHED_20, queue=False, on_update=on_update)
            await sub.wait_complete(timeout=20)
            await _flowing(counter)
            normal = await _rate(counter, 3.0)
            assert normal > 50, f"too few updates to measure: {normal}/s"

            token = await asyncio.to_thread(password_token, sp, "raw", "raw")
            stalled = await asyncio.to_thread(stall_client, sp.port, token)
            # the stalled client's queue is over its bound: its updates are being merged
            await wait_until(
                lambda: health(sp)["slow_consumers"]["conflated_updates"] > 0,
                20,
                "the stalled connection to be conflated",
            )
            stalled_at = time.monotonic()
            during = await _rate(counter, 3.0)
            print(f"other client: {normal:.0f}/s normal, {during:.0f}/s while one is stalled")
            assert during >= 0.9 * normal, (normal, during)
            # the connection that never reads is dropped after --drain-timeout
            await wait_until(
                lambda: health(sp)["slow_consumers"]["disconnected"] >= 1,
                30,
                "the stalled connection to be dropped",
            )
            assert time.monotonic() - stalled_at < 30
            assert await asyncio.to_thread(peer_closed, stalled, 10)
            h = await asyncio.to_thread(health, sp)
            assert h["connections"] == 1
            # and the other one never noticed
            assert await _rate(counter, 2.0) >= 0.9 * normal * 0.8
    finally:
        if stalled is not None:
            stalled.close()
        stop_sim(sp)


async def test_an_ertcloud_client_that_blocks_does_not_slow_the_others(tmp_path: Path) -> None:
    """The probe's second case: a real client with ``overflow="block"`` whose consumer
    stalls stops reading its socket; another client must not notice."""
    sp = start_sim(
        "--users-file",
        users_file(tmp_path),
        "--rate",
        "50",
        "--send-queue",
        "16384",
        "--drain-timeout",
        "15",
        "--ping-timeout",
        "300",
    )
    try:
        counter = [0]

        def on_update(_: Any) -> None:
            counter[0] += 1

        def session(user: str) -> Session:
            creds = PasswordCredentials(user, user, "app")
            tokens = TokenManager(TokenClient(sp.info["token_url"]), creds)
            return Session(sp.info["websocket_url"], tokens=tokens)

        async with session("demo") as watcher, session("raw") as blocked:
            sub = watcher.subscribe(WATCHED, queue=False, on_update=on_update)
            await sub.wait_complete(timeout=20)
            await _flowing(counter)
            normal = await _rate(counter, 3.0)
            assert normal > 100, f"too few updates to measure: {normal}/s"
            stuck = blocked.subscribe(ALL_RICS, max_queue=20, overflow="block")
            # nobody consumes `stuck`: its session stops reading, the server's queue fills
            await wait_until(
                lambda: health(sp)["slow_consumers"]["conflated_updates"] > 0,
                60,
                "the blocked client to be conflated",
            )
            during = await _rate(counter, 3.0)
            print(f"other client: {normal:.0f}/s normal, {during:.0f}/s while one blocks")
            assert during >= 0.9 * normal, (normal, during)
            assert stuck.pending >= 20
    finally:
        stop_sim(sp)
