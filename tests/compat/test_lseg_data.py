"""The vendor's official library (lseg-data) runs unchanged against the simulator: its
platform session authenticates at the simulated gateway, discovers the streaming endpoint
and streams TRI.N (Refresh, then Updates) over the simulator's WebSocket."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support import SimProcess, cli_env

PROGRAM = r"""
import json, sys, threading, time
import lseg.data as ld

base = sys.argv[1]
ld.get_config()["sessions.platform.default.base-url"] = base
session = ld.session.platform.Definition(
    app_key="my-app-key",
    grant=ld.session.platform.GrantPassword(username="demo", password="demo"),
    signon_control=True,
).get_session()
session.open()
events = []
got = threading.Event()

def on_refresh(fields, name, stream):
    events.append(["refresh", name, dict(fields)])

def on_update(fields, name, stream):
    events.append(["update", name, dict(fields)])
    if sum(e[0] == "update" for e in events) >= 3:
        got.set()

stream = ld.content.pricing.Definition(
    universe=["TRI.N", "EUR="], fields=["BID", "ASK", "TRDPRC_1"]
).get_stream(session=session)
stream.on_refresh(on_refresh)
stream.on_update(on_update)
stream.open(with_updates=True)
ok = got.wait(30)
snap = stream.get_snapshot()
stream.close()
session.close()
print(json.dumps({"ok": ok, "events": events, "columns": list(map(str, snap.columns))}))
"""


def test_lseg_data_streams_from_the_simulator(
    sim_process: Any, startup_env: dict[str, str]
) -> None:
    sim: SimProcess = sim_process("--rate", "5")
    base = sim.info["token_url"].split("/auth/", 1)[0]
    r = subprocess.run(
        [sys.executable, "-c", PROGRAM, base],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(**startup_env),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ok"], out
    refreshed = {name: fields for kind, name, fields in out["events"] if kind == "refresh"}
    assert set(refreshed) == {"TRI.N", "EUR="}
    assert {"BID", "ASK"} <= set(refreshed["TRI.N"])
    assert refreshed["TRI.N"]["BID"] < refreshed["TRI.N"]["ASK"]
    updates = [e for e in out["events"] if e[0] == "update"]
    assert len(updates) >= 3 and all(set(u[2]) <= {"BID", "ASK", "TRDPRC_1"} for u in updates)
    assert "BID" in out["columns"]
