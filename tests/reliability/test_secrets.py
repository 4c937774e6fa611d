"""Secrets stay secret: no password, client secret or token in a repr, an exception, a log
line (DEBUG on) or the output of any command, unless ``--show-secrets``. Credentials from
the environment and from a 0600 credentials file."""

from __future__ import annotations

import logging
import os
import pty
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import reap, start_cli_to

from ertcloud import PasswordCredentials, Session, TokenClient, TokenManager
from ertcloud.auth.grants import ClientCredentials, Token, TokenRequest
from ertcloud.cli import main
from ertcloud.config import Credentials, load_credentials_file, resolve_credentials
from ertcloud.exceptions import ConfigError
from ertcloud.sim.server import SimServer

from .simthread import SimThread

PASSWORD = "pw-Zq8vTgW3kR"
CLIENT_SECRET = "cs-Hn4xLpQ7yE"
NEW_PASSWORD = "np-Bv9cJm2sUa"


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimThread(
        users={"alice": PASSWORD}, clients={"svc": CLIENT_SECRET}, token_ttl=2
    ) as server:
        yield server


def secrets_of(sim: SimServer) -> list[str]:
    """Everything that must never be printed: credentials and every token issued."""
    gw = sim.gateway
    tokens = [*gw.access, *gw.refresh]
    assert tokens, "the gateway issued no token: nothing was exercised"
    return [PASSWORD, CLIENT_SECRET, *tokens]


def mp_args(sim: SimServer, *extra: str, duration: float = 1.0) -> list[str]:
    return [
        "market-price",
        "--hostname",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--tls",
        "off",
        "--auth_url",
        sim.token_url,
        "--clientid",
        "app",
        "--ric",
        "TRI.N",
        "--duration",
        str(duration),
        *extra,
    ]


def test_reprs_and_exceptions_hold_no_secret() -> None:
    creds = PasswordCredentials("alice", PASSWORD, "app", client_secret=CLIENT_SECRET)
    v2 = ClientCredentials("svc", CLIENT_SECRET)
    token = Token(
        access_token="AT-secret-value",
        expires_in=300,
        obtained_at=0.0,
        refresh_token="RT-secret-value",
    )
    request = TokenRequest.password(creds)
    stored = Credentials("alice", PASSWORD, "app", CLIENT_SECRET)
    tm = TokenManager(TokenClient("http://127.0.0.1:9/token"), creds)
    session = Session("ws://127.0.0.1:9/WebSocket", tokens=tm)
    for obj in (creds, v2, token, request, stored, tm, tm.client, session):
        text = repr(obj) + str(obj)
        for secret in (PASSWORD, CLIENT_SECRET, "AT-secret-value", "RT-secret-value"):
            assert secret not in text, (type(obj).__name__, text)


def test_no_secret_in_any_output_or_log(
    sim: SimServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    runs: list[tuple[list[str], int]] = [
        # long enough for a token renewal (TTL 2 s) and its reissue on the login stream
        (mp_args(sim, "--user", "alice", "--password", PASSWORD, duration=3.0), 0),
        (mp_args(sim, "--user", "alice", "--password", "wrong"), 1),
        (
            mp_args(
                sim,
                "--clientid",
                "svc",
                "--clientsecret",
                CLIENT_SECRET,
                "--auth_url",
                sim.base_url + "/auth/oauth2/v2/token",
            ),
            0,
        ),
        (
            [
                "token",
                "--url",
                sim.websocket_url,
                "--auth_url",
                sim.token_url,
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--clientid",
                "app",
            ],
            0,
        ),
        (
            [
                "subscribe",
                "TRI.N",
                "--snapshot",
                "--url",
                sim.websocket_url,
                "--auth_url",
                sim.token_url,
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--clientid",
                "app",
            ],
            0,
        ),
        (
            [
                "post",
                "TRI.N",
                "--field",
                "BID=1.5",
                "--url",
                sim.websocket_url,
                "--auth_url",
                sim.token_url,
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--clientid",
                "app",
            ],
            0,
        ),
    ]
    seen: list[str] = []
    for argv, code in runs:
        assert main(argv) == code, argv
        out, err = capsys.readouterr()
        seen += [out, err]
    # the environment route of market-price
    monkeypatch.setenv("ERTCLOUD_USER", "alice")
    monkeypatch.setenv("ERTCLOUD_PASSWORD", PASSWORD)
    assert main(mp_args(sim)) == 0
    out, err = capsys.readouterr()
    assert "Login" in out and "RECEIVED" in out
    seen += [out, err]
    seen += [r.getMessage() for r in caplog.records]
    seen += [repr(r.args) for r in caplog.records]
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    everything = "\n".join(seen)
    for secret in secrets_of(sim):
        assert secret not in everything
    assert "<redacted>" in everything

    # the check would have caught them: --show-secrets prints them
    assert (
        main(
            [
                "token",
                "--show-secrets",
                "--url",
                sim.websocket_url,
                "--auth_url",
                sim.token_url,
                "--user",
                "alice",
                "--password",
                PASSWORD,
                "--clientid",
                "app",
            ]
        )
        == 0
    )
    shown = capsys.readouterr().out
    assert any(t in shown for t in sim.gateway.access)


def test_credentials_file(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "credentials.toml"
    f.write_text(f'user = "alice"\npassword = "{PASSWORD}"\nclient_id = "app"\n')
    f.chmod(0o600)
    assert load_credentials_file(f) == {"user": "alice", "password": PASSWORD, "client_id": "app"}
    assert main(mp_args(sim, "--credentials", str(f))) == 0
    out, err = capsys.readouterr()
    assert "WebSocket successfully connected!" in out and PASSWORD not in out + err
    f.chmod(0o644)
    assert main(mp_args(sim, "--credentials", str(f))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "accessible by group or others (mode 0644)" in err and "chmod 600" in err
    assert PASSWORD not in err


def test_credentials_precedence_and_bad_files(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('user = "file-user"\npassword = "file-pw"\nclient_id = "file-app"\n')
    f.chmod(0o600)
    env = {"ERTCLOUD_PASSWORD": "env-pw", "XDG_CONFIG_HOME": str(tmp_path / "none")}
    c = resolve_credentials(user="cli-user", file=f, environ=env)
    assert (c.user, c.password, c.client_id) == ("cli-user", "env-pw", "file-app")
    # the default file under XDG_CONFIG_HOME is used when it exists
    (tmp_path / "cfg" / "ertcloud").mkdir(parents=True)
    d = tmp_path / "cfg" / "ertcloud" / "credentials.toml"
    d.write_text('password = "default-pw"\n')
    d.chmod(0o600)
    c = resolve_credentials(environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert c.password == "default-pw"
    bad = tmp_path / "bad.toml"
    bad.write_text(f'password = "{PASSWORD}\n')
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="not valid TOML") as exc:
        load_credentials_file(bad)
    assert PASSWORD not in str(exc.value)
    bad.write_text('pasword = "x"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_credentials_file(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_credentials_file(tmp_path / "missing.toml")


def test_password_on_the_command_line_warns_at_a_terminal() -> None:
    # a local simulator that refuses these credentials at once (a closed port would be
    # retried for seconds): nothing leaves this machine
    with SimThread() as sim:
        master, slave = pty.openpty()
        try:
            args = ["market-price", "--user", "u", "--password", PASSWORD, "--clientid", "c",
                    "--hostname", "127.0.0.1", "--port", str(sim.port),
                    "--auth_url", sim.token_url]  # fmt: skip
            proc = start_cli_to(args, stderr=slave)  # stderr at the terminal
            try:
                proc.communicate(timeout=60)
            finally:
                reap(proc)
            os.close(slave)
            slave = -1
            err = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
    text = err.decode()
    assert proc.returncode == 1
    assert "--password on the command line can be seen by other users" in text
    assert "ERTCLOUD_PASSWORD" in text and PASSWORD not in text
