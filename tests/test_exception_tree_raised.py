"""Errors a user can meet come from the tree in ``ertcloud.exceptions`` (configuration
errors are also ValueError, timeouts also TimeoutError, a sink used unopened also
RuntimeError), not bare built-in exceptions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ertcloud import (
    BarBuilder,
    ConfigError,
    PasswordCredentials,
    RecordingError,
    Session,
    SinkNotOpen,
    TimedOut,
    TokenClient,
    TokenManager,
)
from ertcloud.bars import parse_interval
from ertcloud.client.deadline import within
from ertcloud.cluster.consume import _deliver
from ertcloud.sim.ads import ServerConfig
from ertcloud.sim.server import SimOptions, SimServer
from ertcloud.sinks.csv_file import CsvSink
from ertcloud.sinks.jsonl import JsonlSink
from ertcloud.sinks.runner import SinkRunner


def test_bad_intervals_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="invalid interval"):
        parse_interval("5 fortnights")
    with pytest.raises(ConfigError, match="positive"):
        BarBuilder(0.0)
    assert issubclass(ConfigError, ValueError)


def test_bad_consumer_start_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="start must be"):
        _deliver("yesterday")


def test_bad_simulator_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="ping_mode"):
        ServerConfig(ping_mode="sometimes")
    with pytest.raises(ConfigError, match="send_queue_bytes"):
        ServerConfig(send_queue_bytes=10)


async def test_simulator_needs_one_endpoint() -> None:
    with pytest.raises(ConfigError, match="endpoints"):
        await SimServer(SimOptions(port=0, endpoints=0)).start()


def test_a_sink_written_unopened_is_sink_not_open(tmp_path: Path) -> None:
    for sink in (JsonlSink(tmp_path / "a.jsonl"), CsvSink(tmp_path / "a.csv")):
        with pytest.raises(SinkNotOpen, match="not open"):
            sink.write_batch([])
    assert issubclass(SinkNotOpen, RuntimeError)


def test_a_runner_without_sinks_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="no sink"):
        SinkRunner([])


def test_a_csv_file_of_another_kind_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(RecordingError, match="not an ertcloud CSV"):
        CsvSink(path).open()


async def test_within_raises_timed_out_saying_what() -> None:
    with pytest.raises(TimedOut, match=r"the thing: never within 0.05 s"):
        await within(asyncio.Event().wait(), 0.05, "the thing: never")
    assert await within(asyncio.sleep(0, "ok"), 1.0, "x") == "ok"


async def test_wait_complete_on_a_silent_server_is_timed_out() -> None:
    async with SimServer(SimOptions(port=0)) as sim:
        tokens = TokenManager(
            TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app")
        )
        async with Session(sim.websocket_url, tokens=tokens, dictionary="builtin") as s:
            sim.stall_connections()  # what the client sends is read, nothing comes back
            sub = s.subscribe("TRI.N")
            with pytest.raises(TimedOut, match="not every image came"):
                await sub.wait_complete(timeout=0.3)
            [report] = await s.verify(sub.streams[0], timeout=0.3)  # a snapshot to compare
            assert not report.ok and "no image within 0.3 s" in report.error
