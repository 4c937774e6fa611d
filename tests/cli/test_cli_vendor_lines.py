"""The command lines the vendor's quick starts and examples' READMEs print work with
``ertcloud market-price`` as written: only the host names and ports are this machine's
(``ertcloud sim`` on port 0, serving HTTPS/WSS with a private CA that ``SSL_CERT_FILE``
trusts, so no option has to be added). Like the vendor programs, each runs until Ctrl+C,
which ends it with exit code 0. The deployed-ADS examples' command lines (no token; Login
by user name) are in ``test_cli_vendor_ads_lines.py``."""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SimProcess, cli_env, start_cli

from ertcloud.auth.grants import PasswordCredentials, TokenRequest
from ertcloud.auth.jwt import generate_jwk
from ertcloud.cli import build_parser
from ertcloud.cli.market_price import fill_credentials, grant_credentials

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tls_sim(sim_process: Any, private_ca: dict[str, str]) -> SimProcess:
    sim: SimProcess = sim_process(
        "--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"],
        "--endpoints", "2", "--client", "svc-1:s3cret",
    )  # fmt: skip
    return sim


def _until_item_refresh(proc: subprocess.Popen[str], request: str, timeout: float = 40) -> str:
    """stdout until a Refresh follows the item request (so the program is streaming)."""
    assert proc.stdout is not None
    fd, seen = proc.stdout.fileno(), ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at = seen.find(request)
        if at >= 0 and '"Type":"Refresh"' in seen[at:]:
            return seen
        if select.select([fd], [], [], 0.2)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk.decode()
        elif proc.poll() is not None:
            break
    raise AssertionError(f"no Refresh after {request!r}:\n{seen[-3000:]}")


@pytest.fixture
def vendor_run(private_ca: dict[str, str]) -> Iterator[Callable[..., str]]:
    """Run a vendor command line until the TRI.N Refresh, then Ctrl+C; returns stdout."""
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str, expect: str = '"Name":"TRI.N"') -> str:
        env = cli_env(SSL_CERT_FILE=private_ca["ca"])
        env.pop("SSL_CERT_DIR", None)
        proc = start_cli("market-price", *args, env=env)
        procs.append(proc)
        seen = _until_item_refresh(proc, expect)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        text = seen + out
        assert expect in text, text[-2000:]
        return text

    yield run
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_2018_quick_start_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """`--auth_hostname H --auth_port P --hostname H --port P --user U --password P`: no
    client id, as the 2018 program (which authenticates as the user)."""
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_hostname", "127.0.0.1", "--auth_port", p, "--hostname", "127.0.0.1",
        "--port", p, "--user", "demo", "--password", "demo",
    )  # fmt: skip
    assert "Sending authentication request with password to https://127.0.0.1:" in out
    assert "WebSocket successfully connected!" in out


def test_2018_client_id_and_basic_authorization_are_the_users() -> None:
    a = build_parser().parse_args(
        ["market-price", "--auth_hostname", "h", "--hostname", "h", "--user", "GE-1",
         "--password", "pw"]
    )  # fmt: skip
    fill_credentials(a)
    creds = grant_credentials(a, v2=False)
    assert isinstance(creds, PasswordCredentials) and creds.client_id == "GE-1"
    req = TokenRequest.password(creds)
    # the 2018 program: requests.post(..., auth=(user, client_secret="")) -> Basic "user:"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"GE-1:").decode()


def test_2018_explicit_client_id_still_wins() -> None:
    a = build_parser().parse_args(
        ["market-price", "--auth_hostname", "h", "--user", "u", "--password", "p",
         "--clientid", "app"]
    )  # fmt: skip
    fill_credentials(a)
    assert a.clientid == "app"


def test_2020_and_rto_authentication_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    p = str(tls_sim.port)
    vendor_run(
        "--hostname", "127.0.0.1", "--port", p,
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key",
    )  # fmt: skip


def test_service_discovery_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--discovery_url", f"https://127.0.0.1:{p}/streaming/pricing/v1/",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key",
        "--region", "us-east-1",
    )  # fmt: skip
    assert "Service discovery succeeded" in out


def test_service_discovery_hot_standby_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--discovery_url", f"https://127.0.0.1:{p}/streaming/pricing/v1/",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key", "--hotstandby",
    )  # fmt: skip
    assert "for session1" in out or "on session1" in out


def test_client_credentials_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    p = str(tls_sim.port)
    out = vendor_run(
        "--clientid", "svc-1", "--clientsecret", "s3cret",
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v2/token",
        "--hostname", "127.0.0.1", "--port", p,
    )  # fmt: skip
    assert "with client credentials" in out


def test_contributed_view_batch_snapshot_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """E14's `--ric a,b --view F,G --no_streaming` (a contributor's 2019 branch)."""
    p = str(tls_sim.port)
    out = vendor_run(
        "--hostname", "127.0.0.1", "--port", p,
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key",
        "--ric", "TRI.N,IBM.N", "--view", "BID,ASK", "--no_streaming",
    )  # fmt: skip
    assert '"Streaming":false' in out


def test_kebab_case_and_vendor_spellings_parse_the_same() -> None:
    vendor = ["--auth_url", "https://a/t", "--app_id", "7", "--clientid", "c",
              "--standbyhostname", "s", "--standbyport", "444", "--jwkFile", "k.json",
              "--newPassword", "x", "--no_streaming", "--discovery_url", "https://d/",
              "--hotstandby", "--auth_hostname", "h", "--auth_port", "1", "--auth_path", "p",
              "--clientsecret", "s", "--view", "BID"]  # fmt: skip
    kebab = ["--auth-url", "https://a/t", "--app-id", "7", "--client-id", "c",
             "--standby-hostname", "s", "--standby-port", "444", "--jwk-file", "k.json",
             "--new-password", "x", "--snapshot", "--discovery-url", "https://d/",
             "--hot-standby", "--auth-hostname", "h", "--auth-port", "1", "--auth-path", "p",
             "--client-secret", "s", "--fields", "BID"]  # fmt: skip
    parse = build_parser().parse_args
    a: argparse.Namespace = parse(["market-price", *vendor])
    b: argparse.Namespace = parse(["market-price", *kebab])
    assert vars(a) == vars(b)
    assert a.auth_url == "https://a/t" and a.clientid == "c" and a.snapshot and a.view == "BID"


def test_2018_service_discovery_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """The 2018 service discovery quick start: `--auth_hostname H --auth_port P --user U
    --password P`; discovery on the token host."""
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_hostname", "127.0.0.1", "--auth_port", p, "--user", "demo", "--password", "demo",
    )  # fmt: skip
    assert f"service discovery request to https://127.0.0.1:{p}/streaming/pricing/v1/" in out
    assert "Service discovery succeeded" in out and "WebSocket successfully connected!" in out


def test_2018_service_discovery_hot_standby_command_line(
    tls_sim: SimProcess, vendor_run: Any
) -> None:
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_hostname", "127.0.0.1", "--auth_port", p, "--user", "demo", "--password", "demo",
        "--hotstandby",
    )  # fmt: skip
    assert "WebSocket successfully connected for session1!" in out
    assert "WebSocket successfully connected for session2!" in out


def test_new_password_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """The 2020/RTO authentication examples' `--newPassword`: the password is changed
    first, then the session runs on the new one."""
    p = str(tls_sim.port)
    new = "Abcdefghij0123456789klmnopqrst!"
    out = vendor_run(
        "--hostname", "127.0.0.1", "--port", p,
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key",
        "--newPassword", new,
    )  # fmt: skip
    assert new not in out and "WebSocket successfully connected!" in out


def test_client_credentials_discovery_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """The client-credentials example without --hostname: service discovery."""
    p = str(tls_sim.port)
    out = vendor_run(
        "--clientid", "svc-1", "--clientsecret", "s3cret",
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v2/token",
        "--discovery_url", f"https://127.0.0.1:{p}/streaming/pricing/v1/",
    )  # fmt: skip
    assert "with client credentials" in out and "Service discovery succeeded" in out


@pytest.fixture
def jwk_file(tmp_path: Path) -> str:
    key = tmp_path / "key.jwk"
    key.write_text(json.dumps(generate_jwk("k1")))
    return str(key)


def test_jwt_command_line(
    sim_process: Any, private_ca: dict[str, str], jwk_file: str, vendor_run: Any
) -> None:
    sim: SimProcess = sim_process(
        "--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"],
        "--jwk", f"svc-jwt={jwk_file}",
    )  # fmt: skip
    p = str(sim.port)
    out = vendor_run(
        "--clientid", "svc-jwt", "--jwkFile", jwk_file,
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v2/token",
        "--hostname", "127.0.0.1", "--port", p,
    )  # fmt: skip
    assert "with client credentials" in out and "WebSocket successfully connected!" in out


def test_2020_service_discovery_region_command_line(tls_sim: SimProcess, vendor_run: Any) -> None:
    """The 2020 service discovery example's regions are amer/emea/apac."""
    p = str(tls_sim.port)
    out = vendor_run(
        "--auth_url", f"https://127.0.0.1:{p}/auth/oauth2/v1/token",
        "--discovery_url", f"https://127.0.0.1:{p}/streaming/pricing/v1/",
        "--user", "demo", "--password", "demo", "--clientid", "my-app-key", "--region", "amer",
    )  # fmt: skip
    assert "Service discovery succeeded" in out and "WebSocket successfully connected!" in out
