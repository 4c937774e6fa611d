"""The vendor's official library (lseg-data) loads the field dictionary and the enum tables
from ``ertcloud sim`` with its own loader, unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from support import SimProcess, cli_env

from ertcloud.protocol.dictionary import builtin

PROGRAM = r"""
import json, sys
import lseg.data as ld
from lseg.data.delivery._dictionary import Dictionary

base = sys.argv[1]
ld.get_config()["sessions.platform.default.base-url"] = base
session = ld.session.platform.Definition(
    app_key="my-app-key",
    grant=ld.session.platform.GrantPassword(username="demo", password="demo"),
    signon_control=True,
).get_session()
session.open()
d = Dictionary(session=session)
d.load()
bid = d.get_field("BID")
fid6 = d.get_field(6)
out = {
    "versions": {k: list(v) for k, v in d.versions.items()},
    "bid": [bid.fid, bid.type.name, bid.rwf_type.name, bid.ripple_to] if bid else None,
    "fid6": fid6.name if fid6 else None,
    "count": len(d._fid_to_field_desc),
    "usd": d.get_enum_display("CURRENCY", 840),
    "usd_value": d.get_enum_value(15, "USD"),
    "bid_ripples": d.is_ripple_to_field(22),
}
session.close()
print(json.dumps(out))
"""


def test_lseg_data_loads_our_dictionary(sim_process: Any, startup_env: dict[str, str]) -> None:
    sim: SimProcess = sim_process()
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
    d = builtin()
    assert out["versions"]["RWFFld"] == [int(p) for p in d.version.split(".")]
    assert out["versions"]["RWFEnum"] == [int(p) for p in d.enum_version.split(".")]
    assert out["bid"] == [22, "PRICE", "RWF_REAL64", 23]
    assert out["fid6"] == "TRDPRC_1"
    assert out["count"] == len(d)
    assert (out["usd"], out["usd_value"], out["bid_ripples"]) == ("USD", 840, True)
