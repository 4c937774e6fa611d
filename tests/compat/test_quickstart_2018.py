"""A program written against the vendor's 2018 quick start runs unchanged against the
simulator over HTTPS/WSS, receives the TRI.N Refresh and Updates and renews its token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support import Program, SimProcess, messages

PROGRAM = "quickstart_2018.py"


def test_vendor_2018_quick_start_runs_unchanged(
    sim_process: Any, private_ca: dict[str, str], run_program: Callable[..., Program]
) -> None:
    # expires_in 33 s: the 2018 program renews at expires_in - 30 = 3 s.
    sim: SimProcess = sim_process(
        "--tls-cert",
        private_ca["cert"],
        "--tls-key",
        private_ca["key"],
        "--token-ttl",
        "33",
        "--user",
        "GE-A-01103867-3-1234",
        "--password",
        "Secret123",
    )
    prog = run_program(
        PROGRAM,
        "--hostname",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--auth_hostname",
        "127.0.0.1",
        "--auth_port",
        str(sim.port),
        "--user",
        "GE-A-01103867-3-1234",
        "--password",
        "Secret123",
        REQUESTS_CA_BUNDLE=private_ca["ca"],
        WEBSOCKET_CLIENT_CA_BUNDLE=private_ca["ca"],
    )
    try:
        # the login reissued with the renewed token is answered, and updates flow on after it
        prog.wait_for(r'"Refresh":false', timeout=30)
        prog.wait_for(r'"Type":"Update"', count=prog.out.count('"Type":"Update"') + 1)
    finally:
        out = prog.stop()
    assert "EDP-GW Authentication succeeded. RECEIVED:" in out, out
    assert "WebSocket successfully connected!" in out
    assert "Sending authentication request with refresh token to" in out
    msgs = messages(out, "RECEIVED: ")
    assert msgs[0]["Domain"] == "Login" and msgs[0]["State"]["Stream"] == "Open"
    refresh = next(m for m in msgs if m["Type"] == "Refresh" and m.get("ID") == 2)
    assert refresh["Key"]["Name"] == "TRI.N" and "BID" in refresh["Fields"]
    assert any(m["Type"] == "Update" and m["ID"] == 2 for m in msgs)
    # the reissued token was accepted: no Login Status, still one connection, still ticking
    assert not any(m.get("Domain") == "Login" and m["Type"] == "Status" for m in msgs)
    assert out.count("WebSocket successfully connected!") == 1
    reissue = out.rfind('"Refresh":false')
    assert reissue > 0 and '"Type":"Update"' in out[reissue:]
