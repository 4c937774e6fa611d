"""``subscribe CHAIN --expand`` follows the chain: with the simulator's ``--chain-churn``
high, constituents come and go during the run, each change a ``chain`` event, new ones
opened, removed ones closed. And the trader knobs of ``ertcloud sim``."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from support import SimProcess, run_cli

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.cli.sim import add_options, options_from_args
from ertcloud.protocol.events import ItemUpdated
from ertcloud.sim.server import SimOptions, SimServer


def test_expand_follows_added_and_removed_constituents(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--rate", "8", "--chain-churn", "240")
    r = run_cli(
        "subscribe", "0#.DJI", "--expand", "--format", "jsonl", "--duration", "3",
        "--url", sim.info["websocket_url"], "--auth-url", sim.info["token_url"],
        "--user", "demo", "--password", "demo", "--client-id", "test-app",
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    changes = [(i, rec) for i, rec in enumerate(recs) if rec["event"] == "chain"]
    first = changes[0][1]
    assert first["ric"] == "0#.DJI" and len(first["added"]) == 29 and first["removed"] == []
    later = changes[1:]
    assert later, "no constituent change in 3 s at 4 changes a second per record"
    members = set(first["added"])
    opened_late = []
    for i, ch in later:
        members -= set(ch["removed"])
        members |= set(ch["added"])
        opened_late += [(i, ric) for ric in ch["added"] if ric not in first["added"]]
    assert opened_late, "no constituent from outside the first list was added"
    i, ric = opened_late[0]
    assert any(rec["ric"] == ric and rec["event"] == "refresh" for rec in recs[i:])
    # a removed constituent gets nothing once its Close has had time to work (1 s)
    members, removed_at = set(), {}
    for rec in recs:
        if rec["event"] == "chain":
            members -= set(rec["removed"])
            members |= set(rec["added"])
            removed_at.update((r, rec["ts"]) for r in rec["removed"])
        elif rec["event"] == "update" and rec["ric"] not in members:
            assert rec["ts"] - removed_at[rec["ric"]] < 1.0, f"{rec['ric']} streamed on"


def test_trader_knobs_have_help_and_reject_bad_values() -> None:
    r = run_cli("sim", "--help")
    assert r.returncode == 0
    for flag in ("--chain-churn PER_MIN", "--news-rate PER_MIN", "--support-standby"):
        assert flag in r.stdout
    r = run_cli("sim", "--port", "0", "--rate", "2", "--chain-churn", "500")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: --chain-churn 500 is more than one per tick: at most 120 per "
        "minute at --rate 2 (raise --rate)"
    )
    r = run_cli("sim", "--port", "0", "--news-rate", "-1")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: --news-rate must be a number >= 0, got -1"
    )


def _sim_options(*argv: str) -> SimOptions:
    p = argparse.ArgumentParser()
    add_options(p)
    return options_from_args(p.parse_args(["--port", "0", *argv]))


def test_the_knobs_reach_the_server_config() -> None:
    cfg = _sim_options("--rate", "4", "--chain-churn", "120", "--news-rate", "24").server
    assert cfg.chain_churn == 0.5 and cfg.news_chance == 0.1 and not cfg.support_standby
    cfg = _sim_options("--support-standby").server
    assert cfg.support_standby and cfg.chain_churn == 0.05 and cfg.news_chance == 0.5


async def test_news_rate_zero_publishes_nothing_and_a_high_one_a_stream() -> None:
    async def fragments(*argv: str) -> int:
        async with SimServer(_sim_options("--rate", "20", *argv)) as sim:
            tokens = TokenManager(
                TokenClient(sim.token_url), PasswordCredentials("demo", "demo", "app")
            )
            async with Session(sim.websocket_url, tokens=tokens) as s:
                got: list[Any] = []
                sub = s.subscribe(
                    "MRN_STORY", domain="NewsTextAnalytics", on_update=got.append, queue=False
                )
                await sub.wait_complete(5)
                await asyncio.sleep(1.0)  # 20 ticks of the item
                return sum(isinstance(e, ItemUpdated) for e in got)

    assert await fragments("--news-rate", "0") == 0
    assert await fragments("--news-rate", "1200") >= 10  # a story on every tick
