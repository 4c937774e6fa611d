"""``discover --json`` prints the service's JSON and nothing else on stdout;
``discover --hot-standby`` lists the pair hot standby would use, not every endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import SimProcess, run_cli


def test_json_output_is_json_only_with_the_embedded_simulator() -> None:
    r = run_cli("discover", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["services"]
    assert "simulator" in r.stderr  # the note that the data is simulated went to stderr


@pytest.mark.parametrize("flag", ["--hotstandby", "--hot-standby"])
def test_hot_standby_lists_the_pair(flag: str) -> None:
    r = run_cli("discover", flag)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()[1:]
    assert len(rows) == 2, r.stdout
    assert all(len(row.split()[2].split(",")) == 1 for row in rows)  # single-zone ones


def test_json_from_a_service(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3")
    r = run_cli(
        "discover", "--json", "--discovery-url", sim.info["discovery_url"],
        "--auth-url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--client-id", "t",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert {s["transport"] for s in json.loads(r.stdout)["services"]} == {"websocket"}
