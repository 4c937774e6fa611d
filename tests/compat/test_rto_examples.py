"""Programs written like the vendor's current RTO examples (password grant with renewal,
service discovery with hot standby, v2 client credentials, v2 JWT client assertions) run
unchanged against the simulator over HTTPS/WSS: they log in, get ``/TRI.N`` from
``ELEKTRON_DD``, reissue the token on the live stream, follow discovery by region and
reconnect after a drop."""

from __future__ import annotations

import json
import re
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import Program, SimProcess, received, sent

USER, PASSWORD, CLIENT = "GE-A-01103867-3-1234", "Secret123", "a1b2c3d4e5f6"


@pytest.fixture
def program(
    run_program: Callable[..., Program], private_ca: dict[str, str]
) -> Callable[..., Program]:
    """Starts an example program that trusts the simulator's private CA."""
    ca = private_ca["ca"]

    def run(name: str, *args: str) -> Program:
        return run_program(name, *args, REQUESTS_CA_BUNDLE=ca, WEBSOCKET_CLIENT_CA_BUNDLE=ca)

    return run


def health(sim: SimProcess) -> dict[str, Any]:
    url = sim.info["token_url"].split("/auth/", 1)[0] + "/health"
    with urllib.request.urlopen(url, timeout=5, context=_ssl(sim)) as r:
        result: dict[str, Any] = json.load(r)
    return result


def post_fault(sim: SimProcess, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        sim.info["faults_url"],
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5, context=_ssl(sim)) as r:
        assert r.status == 200


def _ssl(sim: SimProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sim.info["_ca"])


def tls_sim(sim_process: Any, private_ca: dict[str, str], *args: str) -> SimProcess:
    sim: SimProcess = sim_process(
        "--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"],
        "--user", USER, "--password", PASSWORD, *args,
    )  # fmt: skip
    sim.info["_ca"] = private_ca["ca"]
    return sim


def item_refreshes(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["Type"] == "Refresh" and m.get("Domain") is None]


def test_password_grant_example_renews_on_the_live_stream(
    sim_process: Any, private_ca: dict[str, str], program: Any
) -> None:
    # expires_in 3 s: the program reissues at 90 %, int(2.7) = 2 s (the same 1 s to spare
    # as int(4.5) = 4 s of a 5 s token)
    sim = tls_sim(sim_process, private_ca, "--token-ttl", "3", "--rate", "5")
    p = program(
        "market_price_rto_authentication.py",
        "--hostname", "127.0.0.1", "--port", str(sim.port),
        "--auth_url", sim.info["token_url"],
        "--user", USER, "--password", PASSWORD, "--clientid", CLIENT,
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Update"', 1)
    p.wait_for(r"Sending authentication request with refresh token", 2, timeout=15)
    p.wait_for(r'^\s*"Type":"Update"', len(re.findall(r'"Type":"Update"', p.out)) + 2)
    out = p.stop()
    assert "Authentication succeeded. RECEIVED:" in out
    assert out.count("WebSocket successfully connected!") == 1
    msgs = received(out)
    assert msgs[0]["Domain"] == "Login" and msgs[0]["State"]["Stream"] == "Open"
    (refresh,) = item_refreshes(msgs)
    assert refresh["Key"] == {"Name": "/TRI.N", "Service": "ELEKTRON_DD"}
    assert "BID" in refresh["Fields"] and refresh["State"]["Data"] == "Ok"
    logins = [m for m in sent(out) if m.get("Domain") == "Login"]
    assert len(logins) >= 3 and logins[0].get("Refresh") is None
    assert all(m["Refresh"] is False for m in logins[1:])
    tokens = [m["Key"]["Elements"]["AuthenticationToken"] for m in logins]
    assert len(set(tokens)) == len(tokens)  # a new token each time, and each accepted:
    assert not any(m.get("Domain") == "Login" and m["Type"] == "Status" for m in msgs)
    assert health(sim)["connections"] == 0  # Ctrl+C closed it


def test_discovery_example_runs_hot_standby_and_reconnects(
    sim_process: Any, private_ca: dict[str, str], program: Any
) -> None:
    # expires_in 5 s: each session reissues at int(4.5) = 4 s (with 3 s tokens, once in a
    # fresh-clone run, session1's new image was not in the output when the program stopped)
    sim = tls_sim(sim_process, private_ca, "--endpoints", "2", "--token-ttl", "5", "--rate", "5")
    p = program(
        "market_price_rto_service_discovery.py",
        "--auth_url", sim.info["token_url"], "--discovery_url", sim.info["discovery_url"],
        "--user", USER, "--password", PASSWORD, "--clientid", CLIENT, "--hotstandby",
    )  # fmt: skip
    p.wait_for(r"WebSocket successfully connected for session[12]!", 2)
    p.wait_for(r'^\s*"Name":"/?TRI.N"', 4)  # both requests and both refreshes
    assert health(sim)["endpoints"] == {"0": 1, "1": 1}  # us-east-1a and us-east-1b
    p.wait_for(r"Refreshing the access token for session1", 1, timeout=15)
    p.wait_for(r"Refreshing the access token for session2", 1)
    post_fault(sim, {"fault": "drop", "endpoint": 0})
    p.wait_for(r"WebSocket Closed for session1", 1)
    p.wait_for(r"WebSocket successfully connected for session1!", 2)
    # session1 asked again and got a new image (an Update's Key has a Name line too: wait
    # for the image itself)
    p.wait_until(lambda out: len(item_refreshes(received(out))) >= 3, "a third TRI.N image")
    assert health(sim)["endpoints"] == {"0": 1, "1": 1}
    out = p.stop()
    assert "WebSocket Closed for session2" not in out.split("Closing the WebSocket")[0]
    msgs = received(out)
    assert len(item_refreshes(msgs)) == 3
    assert not any(m.get("Domain") == "Login" and m["Type"] == "Status" for m in msgs)
    reissues = [m for m in sent(out) if m.get("Domain") == "Login" and "Refresh" in m]
    assert len(reissues) >= 2 and all(m["Refresh"] is False for m in reissues)


def _jwk_file(tmp_path: Path, name: str, kid: str) -> str:
    """A private RSA JWK as the vendor's portal hands it out (made with jwcrypto, the
    library of the vendor's JWT example)."""
    from jwcrypto import jwk

    key = jwk.JWK.generate(kty="RSA", size=2048, alg="RS256", use="sig", kid=kid)
    path = tmp_path / name
    path.write_text(key.export_private())
    return str(path)


def v2_program(
    auth: str, sim_process: Any, private_ca: dict[str, str], tmp_path: Path, *sim_args: str
) -> tuple[SimProcess, str, list[str]]:
    """A simulator knowing the v2 service account ``CLIENT``, and the example program and
    credentials options for ``auth``: a client secret or a JWT assertion from a JWK file."""
    if auth == "secret":
        secret = "s3cr3t-v2"
        sim = tls_sim(sim_process, private_ca, "--client", f"{CLIENT}:{secret}", *sim_args)
        return sim, "market_price_rto_client_cred_auth.py", ["--clientsecret", secret]
    key = _jwk_file(tmp_path, "svc.jwk", "svc-key-1")
    sim = tls_sim(sim_process, private_ca, "--jwk", f"{CLIENT}={key}", *sim_args)
    return sim, "market_price_rto_jwt_auth.py", ["--jwkFile", key]


@pytest.mark.parametrize("how", ["discovery", "hostnames"])
@pytest.mark.parametrize("auth", ["secret", "jwt"])
def test_v2_examples_connect_two_sessions(
    sim_process: Any,
    private_ca: dict[str, str],
    program: Any,
    tmp_path: Path,
    auth: str,
    how: str,
) -> None:
    sim, name, creds = v2_program(auth, sim_process, private_ca, tmp_path, "--endpoints", "2")
    where = (
        ["--discovery_url", sim.info["discovery_url"], "--region", "eu-west-1"]
        if how == "discovery"
        else ["--hostname", "127.0.0.1", "--port", str(sim.info["ports"][1]),
              "--standbyhostname", "127.0.0.1", "--standbyport", str(sim.info["ports"][0])]
    )  # fmt: skip
    p = program(
        name, "--auth_url", sim.info["token_url_v2"], "--clientid", CLIENT, *creds,
        "--hotstandby", *where,
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Update"', 2)
    p.wait_for(r'^\s*"Name":"/?TRI.N"', 4)
    assert health(sim)["endpoints"] == {"0": 1, "1": 1}
    out = p.stop()
    assert "Sending authentication request with client credentials" in out
    assert "Authentication succeeded. RECEIVED:" in out
    msgs = received(out)
    refreshes = item_refreshes(msgs)
    assert len(refreshes) == 2
    assert all((r["State"]["Stream"], r["State"]["Data"]) == ("Open", "Ok") for r in refreshes)
    logins = [m for m in sent(out) if m.get("Domain") == "Login"]
    assert len(logins) == 2 and all("Refresh" not in m for m in logins)
    assert health(sim)["connections"] == 0  # Ctrl+C closed both


@pytest.mark.parametrize("problem", ["wrong secret", "other key", "wrong audience"])
def test_v2_examples_with_refused_credentials_exit_1(
    sim_process: Any, private_ca: dict[str, str], program: Any, tmp_path: Path, problem: str
) -> None:
    auth = "secret" if problem == "wrong secret" else "jwt"
    sim, name, creds = v2_program(auth, sim_process, private_ca, tmp_path)
    if problem == "wrong secret":
        creds = ["--clientsecret", "wrong"]
    elif problem == "other key":  # the same kid, another private key: the signature fails
        creds = ["--jwkFile", _jwk_file(tmp_path, "stolen.jwk", "svc-key-1")]
    else:
        creds += ["--aud", "https://elsewhere.example/token"]
    p = program(
        name, "--auth_url", sim.info["token_url_v2"], "--clientid", CLIENT, *creds,
        "--hostname", "127.0.0.1", "--port", str(sim.port),
    )  # fmt: skip
    p.proc.wait(timeout=15)
    out = p.stop()
    assert p.proc.returncode == 1
    assert re.search(r"authentication HTTP code: 401", out), out
    assert "Failed initial authentication" in out
    assert health(sim)["connections"] == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("market_price_rto_client_cred_auth.py", "clientid and clientsecret are required options"),
        ("market_price_rto_jwt_auth.py", "clientid and client JWK are required options"),
    ],
)
def test_v2_examples_without_credentials_exit_2(program: Any, name: str, message: str) -> None:
    p = program(name, "--clientid", CLIENT)
    p.proc.wait(timeout=15)
    assert p.proc.returncode == 2
    assert message in p.stop()
