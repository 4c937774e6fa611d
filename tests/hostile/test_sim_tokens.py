"""Tokens survive a simulator restart with a persistent key; the token table is pruned."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ertcloud.sim.gateway import Gateway

from .sim_hardening_support import (
    http_json,
    login_msg,
    password_token,
    raw_websocket,
    send_json,
    start_sim,
    stop_sim,
)


def _discovery_status(port: int, token: str) -> int:
    status, _ = http_json(
        f"http://127.0.0.1:{port}/streaming/pricing/v1/", Authorization=f"Bearer {token}"
    )
    return status


def _login_state(port: int, token: str) -> str:
    sock = raw_websocket(port)
    try:
        send_json(sock, login_msg(token))
        data = b""
        while b"Login" not in data or b"Stream" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return "Open" if b'"Stream":"Open"' in data else data.decode(errors="replace")
    finally:
        sock.close()


@pytest.mark.parametrize("how", ["key-file", "seed"])
def test_tokens_issued_before_a_restart_stay_valid(tmp_path: Path, how: str) -> None:
    key = tmp_path / "sim.key"
    args = ("--key-file", str(key)) if how == "key-file" else ("--key-from-seed", "--seed", "7")
    first = start_sim(*args)
    try:
        token = password_token(first)
        assert _discovery_status(first.port, token) == 200
    finally:
        stop_sim(first)
    if how == "key-file":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    second = start_sim(*args)
    try:
        assert _discovery_status(second.port, token) == 200
        assert _login_state(second.port, token) == "Open"
        assert _discovery_status(second.port, token[:-3] + "AAA") == 401  # forged: refused
    finally:
        stop_sim(second)


def test_without_a_persistent_key_a_restart_forgets_tokens() -> None:
    first = start_sim()
    try:
        token = password_token(first)
    finally:
        stop_sim(first)
    second = start_sim()
    try:
        assert _discovery_status(second.port, token) == 401
    finally:
        stop_sim(second)


def test_token_table_is_pruned_as_tokens_run_out() -> None:
    now = [1_000_000.0]
    gw = Gateway(token_ttl=1, refresh_ttl=2, clock=lambda: now[0], clients={"c": "s"})
    gw.v2_ttl = 1
    v2 = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}
    pw = {"grant_type": "password", "username": "demo", "password": "demo", "client_id": "x"}
    tokens = []
    for _ in range(30_000):
        status, body = gw.token("/auth/oauth2/v2/token", v2, None)
        assert status == 200
        tokens.append(body["access_token"])
    for _ in range(50):
        assert gw.token("/auth/oauth2/v1/token", pw, None)[0] == 200
    assert len(gw.access) == 30_050 and len(gw.refresh) == 1
    now[0] += 3
    gw.token("/auth/oauth2/v1/token", pw, None)
    assert len(gw.access) == 1 and len(gw.refresh) == 1
    # a forgotten token is refused for what it is
    assert gw.check(tokens[-1]) == (None, "token expired")


def test_token_table_is_bounded() -> None:
    now = [1_000_000.0]
    gw = Gateway(token_ttl=3600, clock=lambda: now[0], max_tokens=1000)
    form = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}
    gw.clients["c"] = "s"
    first = gw.token("/auth/oauth2/v2/token", form, None)[1]["access_token"]
    for _ in range(5000):
        gw.token("/auth/oauth2/v2/token", form, None)
    assert len(gw.access) <= 1000
    assert gw.check(first) == (None, "invalid token")


def test_revoked_tokens_are_not_revived_by_pruning() -> None:
    now = [1_000_000.0]
    gw = Gateway(token_ttl=100, clock=lambda: now[0])
    form = {"grant_type": "password", "username": "demo", "password": "demo", "client_id": "x"}
    old = gw.token("/auth/oauth2/v1/token", form, None)[1]["access_token"]
    gw.expire_all()
    now[0] += 2
    gw.prune()
    assert gw.check(old)[0] is None
