"""``ertcloud market-price`` as a subprocess against ``ertcloud sim`` over real sockets."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import SimProcess, ertcloud_cmd, messages, run_cli, start_cli, wait_for_output

#: the line before the token endpoint's reply
TOKEN_REPLY = r"LSEG Delivery Platform Authentication succeeded\. RECEIVED:"


def test_happy_path_prints_like_the_vendor_examples(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--rate", "10")  # updates within a second
    r = run_cli("market-price", *sim.client_args("--tls", "off", "--duration", "1.5"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"Sending authentication request with password to {sim.info['token_url']} ..." in out
    assert "LSEG Delivery Platform Authentication succeeded. RECEIVED:" in out
    assert f"Connecting to WebSocket ws://127.0.0.1:{sim.port}/WebSocket ..." in out
    assert "WebSocket successfully connected!" in out
    sent = messages(out, "SENT:")
    received = messages(out, "RECEIVED: ")
    login = sent[0]
    assert login["Domain"] == "Login" and login["Key"]["NameType"] == "AuthnToken"
    assert login["Key"]["Elements"]["ApplicationId"] == "256"
    assert login["Key"]["Elements"]["AuthenticationToken"] == "<redacted>"
    assert "/" in login["Key"]["Elements"]["Position"]
    item = sent[1]
    assert item["Key"] == {"Name": "TRI.N", "Service": "ELEKTRON_DD"}
    login_refresh = received[0]
    assert login_refresh["Domain"] == "Login" and login_refresh["State"]["Stream"] == "Open"
    assert login_refresh["Elements"]["PingTimeout"] == 30
    refreshes = [m for m in received if m["Type"] == "Refresh" and m.get("Domain") != "Login"]
    assert refreshes and refreshes[0]["Key"] == {"Name": "TRI.N", "Service": "ELEKTRON_DD"}
    assert refreshes[0]["State"] == {"Stream": "Open", "Data": "Ok", "Text": "All is well"}
    fields = refreshes[0]["Fields"]
    assert isinstance(fields["BID"], float) and isinstance(fields["ASK"], float)
    assert fields["BID"] < fields["ASK"]
    updates = [m for m in received if m["Type"] == "Update"]
    assert len(updates) >= 2
    assert all(u["ID"] == item["ID"] for u in updates)
    # the exact pretty-print format: sorted keys, 2-space indent, no space after ':'
    assert '\n  "Domain":"Login",\n' in out or '"Domain":"Login"' in out
    assert re.search(r'^    "ID":\d+,$', out, re.M)
    # secrets never printed by default; the Ctrl+C-equivalent close sends Close messages
    token_doc = messages(out, TOKEN_REPLY)[0]
    assert token_doc["access_token"] == "<redacted>"
    assert token_doc["refresh_token"] == "<redacted>"
    assert token_doc["expires_in"] == "300"
    closes = [m for m in sent if m.get("Type") == "Close"]
    assert {"ID": 1, "Domain": "Login", "Type": "Close"} in closes


def test_show_secrets_prints_the_real_token(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli(
        "market-price", *sim.client_args("--tls", "off", "--duration", "1", "--show-secrets")
    )
    assert r.returncode == 0, r.stderr
    token = messages(r.stdout, TOKEN_REPLY)[0]
    assert len(token["access_token"]) > 20
    login = messages(r.stdout, "SENT:")[0]
    assert login["Key"]["Elements"]["AuthenticationToken"] == token["access_token"]


def test_several_rics_open_several_streams(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli(
        "market-price",
        *sim.client_args(
            "--tls", "off", "--duration", "1", "--ric", "TRI.N,IBM.N", "--ric", "EUR="
        ),
    )
    assert r.returncode == 0, r.stderr
    sent = messages(r.stdout, "SENT:")
    names = [
        m["Key"]["Name"] for m in sent if m.get("Type") == "Request" and m.get("Domain") != "Login"
    ]
    assert names == ["TRI.N", "IBM.N", "EUR="]
    ids = {m["ID"] for m in sent if m.get("Type") == "Request" and m.get("Domain") != "Login"}
    assert len(ids) == 3
    refreshed = {
        m["Key"]["Name"]
        for m in messages(r.stdout, "RECEIVED: ")
        if m["Type"] == "Refresh" and m.get("Domain") != "Login"
    }
    assert refreshed == {"TRI.N", "IBM.N", "EUR="}


def test_token_renewal_reissues_login_on_the_wire(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--token-ttl", "3")
    r = run_cli("market-price", *sim.client_args("--tls", "off", "--duration", "7.5"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("Sending authentication request with refresh token to") >= 2
    sent = messages(out, "SENT:")
    reissues = [m for m in sent if m.get("Domain") == "Login" and m.get("Refresh") is False]
    assert len(reissues) >= 2
    assert all(m["ID"] == 1 and m["Key"]["NameType"] == "AuthnToken" for m in reissues)
    # the stream kept flowing and the login was never closed by the server
    received = messages(out, "RECEIVED: ")
    assert not [m for m in received if m.get("Domain") == "Login" and m["Type"] == "Status"]
    assert (
        "WebSocket Closed" not in out.split("SENT:")[-1]
        or out.count("Connecting to WebSocket") == 1
    )
    assert out.count("Connecting to WebSocket") == 1
    last_update = max(i for i, m in enumerate(received) if m["Type"] == "Update")
    assert last_update > len(received) // 2


def test_ping_is_answered_with_pong(sim_process: Any) -> None:
    # the duration outlasts a Ping (after 2/3 s of silence) and the drop it would bring
    # 2 s later if unanswered
    sim: SimProcess = sim_process("--ping-timeout", "2", "--rate", "0")
    r = run_cli("market-price", *sim.client_args("--tls", "off", "--duration", "3.5"))
    assert r.returncode == 0, r.stderr
    received = messages(r.stdout, "RECEIVED: ")
    sent = messages(r.stdout, "SENT:")
    assert {"Type": "Ping"} in received or {"Type": "Pong"} in received
    # with a silent market the client keeps the connection alive: it never gets dropped
    assert r.stdout.count("Connecting to WebSocket") == 1
    assert {"Type": "Pong"} in sent or {"Type": "Ping"} in sent


def test_wrong_password_is_a_one_line_error(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    args = sim.client_args("--tls", "off", "--duration", "3")
    args[args.index("--password") + 1] = "wrong"
    r = run_cli("market-price", *args)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ertcloud: error:")
    assert "400" in err[0] and "Invalid username or password" in err[0]
    assert "wrong" not in r.stdout + r.stderr


def test_missing_required_options_exit_2() -> None:
    r = run_cli("market-price", "--user", "x")
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "ertcloud: error: user, clientid, password, and hostname are required options"
    )


def test_unknown_ric_gets_closed_status(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli(
        "market-price", *sim.client_args("--tls", "off", "--duration", "1", "--ric", "BAD.RIC")
    )
    assert r.returncode == 0, r.stderr
    status = [m for m in messages(r.stdout, "RECEIVED: ") if m["Type"] == "Status"]
    assert status and status[0]["State"] == {
        "Stream": "Closed",
        "Data": "Suspect",
        "Code": "NotFound",
        "Text": "**The record could not be found",
    }
    assert status[0]["Key"]["Name"] == "BAD.RIC"


@pytest.mark.parametrize(("tls", "scheme"), [("off", "ws"), ("on", "wss")])
def test_unreachable_host_is_a_one_line_error(sim_process: Any, tls: str, scheme: str) -> None:
    sim: SimProcess = sim_process()
    args = sim.client_args("--tls", tls, "--no-reconnect")
    args[args.index("--port") + 1] = "1"  # nothing listens there
    r = run_cli("market-price", *args, timeout=30)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and f"cannot connect to {scheme}://127.0.0.1:1/WebSocket" in err[0]
    assert "ssl:" not in err[0] and "object at 0x" not in err[0]  # no reprs for users


def test_rejected_login_is_a_one_line_error(sim_process: Any) -> None:
    token_sim: SimProcess = sim_process()
    stream_sim: SimProcess = sim_process()  # does not know token_sim's tokens
    args = token_sim.client_args("--tls", "off")
    args[args.index("--port") + 1] = str(stream_sim.port)
    r = run_cli("market-price", *args, timeout=30)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "login rejected by the server: Login rejected: invalid token" in err[0]
    status = [m for m in messages(r.stdout, "RECEIVED: ") if m["Type"] == "Status"]
    assert status[0]["Domain"] == "Login" and status[0]["State"]["Stream"] == "Closed"


def test_ctrl_c_sends_close_and_exits_0(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--rate", "10")
    proc = start_cli("market-price", *sim.client_args("--tls", "off"))
    try:
        head = wait_for_output(proc, '"Type":"Update"')
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        out = head + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert err.strip() == ""
    tail = out.split("SENT:")
    closes = [json.loads(t.split("\n}\n")[0] + "\n}") for t in tail[1:] if '"Type":"Close"' in t]
    assert {"Domain": "Login", "ID": 1, "Type": "Close"} in closes


def test_tls_with_a_private_ca(sim_process: Any, private_ca: dict[str, str]) -> None:
    tls = ("--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"])
    sim: SimProcess = sim_process(*tls, "--rate", "10")
    assert sim.info["websocket_url"].startswith("wss://")
    r = run_cli("market-price", *sim.client_args("--ca-file", private_ca["ca"], "--duration", "1"))
    assert r.returncode == 0, r.stderr
    assert f"Connecting to WebSocket wss://127.0.0.1:{sim.port}/WebSocket ..." in r.stdout
    assert any(m["Type"] == "Update" for m in messages(r.stdout, "RECEIVED: "))


def test_tls_untrusted_certificate_is_refused(sim_process: Any, private_ca: dict[str, str]) -> None:
    sim: SimProcess = sim_process("--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"])
    r = run_cli("market-price", *sim.client_args("--duration", "2"), timeout=30)
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "certificate" in err[0].lower()


def test_tls_insecure_opt_out(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--tls-self-signed")
    r = run_cli("market-price", *sim.client_args("--insecure", "--duration", "1"))
    assert r.returncode == 0, r.stderr
    assert "WebSocket successfully connected!" in r.stdout


def test_sim_bad_options_exit_2(tmp_path: Path) -> None:
    r = run_cli("sim", "--tls-cert", str(tmp_path / "nope.pem"))
    assert r.returncode == 2
    assert r.stderr.strip() == "ertcloud: error: --tls-cert and --tls-key go together"


def test_demo_runs_against_the_embedded_simulator() -> None:
    r = run_cli("demo", "--duration", "2.5", "--format", "vendor")
    assert r.returncode == 0, r.stderr
    assert "SIMULATED" in r.stdout.splitlines()[0]
    assert "WebSocket successfully connected!" in r.stdout
    assert any(m["Type"] == "Update" for m in messages(r.stdout, "RECEIVED: "))


def test_python_dash_m_entry_point() -> None:
    r = subprocess.run(ertcloud_cmd("--version"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("ertcloud ")


def test_missing_ca_file_is_a_config_error(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    r = run_cli("market-price", *sim.client_args("--ca-file", "/nonexistent/ca.pem"))
    assert r.returncode == 2
    assert r.stderr.strip().startswith("ertcloud: error: cannot load CA file /nonexistent/ca.pem")


def test_no_reconnect_exits_1_when_the_server_goes(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    proc = start_cli("market-price", *sim.client_args("--tls", "off", "--no-reconnect"))
    try:
        wait_for_output(proc, '"Type":"Update"')
        sim.stop()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == (
        "ertcloud: error: the connection was lost (--no-reconnect)"
    )
