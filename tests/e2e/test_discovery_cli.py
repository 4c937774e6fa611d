"""``ertcloud market-price`` with service discovery, hot standby, v2 client credentials and
JWT, and a password change, against a real ``ertcloud sim`` process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from support import SimProcess, run_cli

from ertcloud.auth.jwt import generate_jwk


def v1_args(sim: SimProcess, *extra: str) -> list[str]:
    return [
        "market-price",
        "--auth_url",
        sim.info["token_url"],
        "--discovery_url",
        sim.info["discovery_url"],
        "--user",
        "demo",
        "--password",
        "demo",
        "--clientid",
        "app",
        "--tls",
        "off",
        *extra,
    ]


def test_discovery_picks_the_two_zone_endpoint(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3")
    r = run_cli(*v1_args(sim, "--duration", "1"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert (
        f"Sending LSEG Delivery Platform service discovery request to {sim.info['discovery_url']}"
        in out
    )
    assert "LSEG Delivery Platform Service discovery succeeded. RECEIVED:" in out
    first = sim.info["websocket_urls"][0]
    assert f"Connecting to WebSocket {first} ..." in out
    assert "WebSocket successfully connected!" in out
    assert '"Type":"Refresh"' in out.replace(" ", "")


def test_discovery_with_an_unknown_region_exits_1(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3")
    r = run_cli(*v1_args(sim, "--region", "sa-east-1"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: The region: sa-east-1 is not present in list of endpoints"
    )


def test_hot_standby_two_sessions_labelled_like_the_vendor(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3")
    r = run_cli(*v1_args(sim, "--hotstandby", "--region", "eu-west-1", "--duration", "1"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    urls = sim.info["websocket_urls"]
    assert f"Connecting to WebSocket {urls[1]} for session1..." in out
    assert f"Connecting to WebSocket {urls[2]} for session2..." in out
    for name in ("session1", "session2"):
        assert f"WebSocket successfully connected for {name}!" in out
        assert f"SENT on {name}:" in out
        assert f"RECEIVED on {name}:" in out
    # Both sessions log in with the same (single) password grant.
    assert out.count("Sending authentication request with password") == 1


def test_hot_standby_needs_two_single_zone_endpoints(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3", "--fault", "discovery_subset:endpoints=0|1")
    r = run_cli(*v1_args(sim, "--hotstandby"))
    assert r.returncode == 1
    assert "Expected 2 hosts but received: 1 or the region: us-east-1" in r.stderr


def test_standby_hostname_without_discovery(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "2")
    p0, p1 = sim.info["ports"]
    args = [
        a
        for a in v1_args(sim, "--hotstandby", "--duration", "1")
        if a not in ("--discovery_url", sim.info["discovery_url"])
    ]
    args += ["--hostname", "127.0.0.1", "--port", str(p0)]
    args += ["--standbyhostname", "127.0.0.1", "--standbyport", str(p1)]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "Sending LSEG Delivery Platform service discovery" not in r.stdout
    assert f"ws://127.0.0.1:{p1}/WebSocket for session2" in r.stdout


def v2_args(sim: SimProcess, *extra: str) -> list[str]:
    return [
        "market-price",
        "--auth_url",
        sim.info["token_url_v2"],
        "--hostname",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--tls",
        "off",
        "--duration",
        "1",
        *extra,
    ]


def test_v2_client_secret(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--client", "svc-1:s3cret")
    r = run_cli(*v2_args(sim, "--clientid", "svc-1", "--clientsecret", "s3cret"))
    assert r.returncode == 0, r.stderr
    assert "Sending authentication request with client credentials to  " in r.stdout
    assert "s3cret" not in r.stdout
    bad = run_cli(*v2_args(sim, "--clientid", "svc-1", "--clientsecret", "nope"))
    assert bad.returncode == 1 and "Invalid client secret" in bad.stderr
    missing = run_cli(*v2_args(sim, "--clientsecret", "x"))
    assert missing.returncode == 2
    assert "clientid and clientsecret are required options" in missing.stderr


def test_v2_jwt_assertion(sim_process: Any, tmp_path: Path) -> None:
    key = tmp_path / "key.jwk"
    key.write_text(json.dumps(generate_jwk("k1")))
    sim: SimProcess = sim_process("--jwk", f"svc-jwt={key}")
    r = run_cli(*v2_args(sim, "--clientid", "svc-jwt", "--jwkFile", str(key)))
    assert r.returncode == 0, r.stderr
    assert "WebSocket successfully connected!" in r.stdout
    other = tmp_path / "other.jwk"
    other.write_text(json.dumps(generate_jwk("k1")))
    bad = run_cli(*v2_args(sim, "--clientid", "svc-jwt", "--jwkFile", str(other)))
    assert bad.returncode == 1 and "Invalid client assertion" in bad.stderr
    wrong_aud = run_cli(
        *v2_args(sim, "--clientid", "svc-jwt", "--jwkFile", str(key), "--aud", "https://x")
    )
    assert wrong_aud.returncode == 1 and "audience" in wrong_aud.stderr


def test_new_password_changes_the_password_end_to_end(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    new = "Abcdefghij0123456789klmnopqrst!"
    base = [
        "market-price",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--auth_url",
        sim.info["token_url"],
        "--user",
        "demo",
        "--clientid",
        "app",
        "--tls",
        "off",
        "--duration",
        "1",
    ]
    r = run_cli(*base, "--password", "demo", "--newPassword", new)
    assert r.returncode == 0, r.stderr
    assert new not in r.stdout
    old = run_cli(*base, "--password", "demo")
    assert old.returncode == 1 and "Invalid username or password" in old.stderr
    again = run_cli(*base, "--password", new)
    assert again.returncode == 0, again.stderr
    weak = run_cli(*base, "--password", new, "--newPassword", "short")
    assert weak.returncode != 0
    assert re.search(r"at least 30 characters", weak.stderr + weak.stdout)
