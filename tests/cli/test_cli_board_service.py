"""``board`` connects as ``record`` does (``cli/service.open_connection``): credentials and
endpoint from the environment alone reach the service they name, never the embedded
simulator."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from support import SimProcess

from ertcloud.cli import build_parser
from ertcloud.cli.board import open_board
from ertcloud.cli.checks import apply_environment

pytestmark = pytest.mark.timeout(120)


async def test_board_with_environment_credentials_shows_the_service_they_name(
    sim_process: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim: SimProcess = sim_process()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no credentials file
    for name, value in {
        "ERTCLOUD_USER": "demo",
        "ERTCLOUD_PASSWORD": "demo",
        "ERTCLOUD_CLIENT_ID": "board-app",
        "ERTCLOUD_TOKEN_URL": sim.info["token_url"],
        "ERTCLOUD_URL": sim.info["websocket_url"],
    }.items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["board", "TRI.N"])
    apply_environment(args)
    async with AsyncExitStack() as stack:
        make_session, simulated = await open_board(args, stack)
        assert simulated is False
        session = make_session(lambda kind, detail: None)
        stack.push_async_callback(session.close)
        await asyncio.wait_for(session.start(), 30)
        assert session.urls == [sim.info["websocket_url"]]
        sub = session.subscribe(["TRI.N"])
        await sub.wait_complete(30)
        (stream,) = sub.streams
        assert stream.refreshes == 1 and stream.fields.get("BID") is not None
    assert "SIMULATED" not in capsys.readouterr().err


async def test_board_with_nothing_named_shows_the_embedded_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("USER", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL", "URL"):
        monkeypatch.delenv(f"ERTCLOUD_{name}", raising=False)
    args = build_parser().parse_args(["board"])
    apply_environment(args)
    async with AsyncExitStack() as stack:
        _, simulated = await open_board(args, stack)
        assert simulated is True
    assert "showing SIMULATED data" in capsys.readouterr().err
