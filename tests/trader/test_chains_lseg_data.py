"""The vendor's library (lseg-data) walks the simulator's chains unchanged: the short
template over three records (0#.DJI) and the long one over two (0#.FTSE)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support import SimProcess, cli_env

PROGRAM = r"""
import json, sys
import lseg.data as ld

ld.get_config()["sessions.platform.default.base-url"] = sys.argv[1]
session = ld.session.platform.Definition(
    app_key="my-app-key",
    grant=ld.session.platform.GrantPassword(username="demo", password="demo"),
    signon_control=True,
).get_session()
session.open()
out = {}
for name in sys.argv[2:]:
    chain = ld.content.pricing.chain.Definition(name=name).get_stream(session=session)
    chain.open(with_updates=False)
    out[name] = {"is_chain": chain.is_chain, "constituents": list(chain.constituents)}
    chain.close()
session.close()
print(json.dumps(out))
"""


def test_lseg_data_reads_the_simulators_chains(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    base = sim.info["token_url"].split("/auth/", 1)[0]
    r = subprocess.run(
        [sys.executable, "-c", PROGRAM, base, "0#.DJI", "0#.FTSE"],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    ours = subprocess.run(
        [sys.executable, "-m", "ertcloud", "chain", "0#.FTSE", "--url", sim.info["websocket_url"],
         "--auth_url", sim.info["token_url"], "--user", "demo", "--password", "demo",
         "--clientid", "app"],
        capture_output=True, text=True, timeout=60, env=cli_env(),
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr
    assert out["0#.DJI"]["is_chain"] and out["0#.FTSE"]["is_chain"]
    dji = out["0#.DJI"]["constituents"]
    assert len(dji) == len(set(dji)) > 28 and dji[:2] == ["TRI.N", "IBM.N"]
    assert out["0#.FTSE"]["constituents"] == ours.stdout.split()
    assert len(out["0#.FTSE"]["constituents"]) > 14
