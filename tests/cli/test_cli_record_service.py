"""``record`` connects to the service its credentials name (environment, ``--config``,
credentials file), with service discovery, ``--region``, ``--url`` and a standby endpoint;
it records the simulator only when no credential of any kind is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import SimProcess, cli_env, run_cli

pytestmark = pytest.mark.timeout(120)

SIMULATED = "SIMULATED"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = cli_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"), **extra)
    for k in list(env):
        if k.startswith("ERTCLOUD_") and k not in extra:
            del env[k]
    return env


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _creds_env(tmp_path: Path, sim: SimProcess, **extra: str) -> dict[str, str]:
    return _env(
        tmp_path,
        ERTCLOUD_USER="demo",
        ERTCLOUD_PASSWORD="demo",
        ERTCLOUD_CLIENT_ID="rec-app",
        ERTCLOUD_TOKEN_URL=sim.info["token_url"],
        **extra,
    )


def test_environment_credentials_without_hostname_never_record_simulated_data(
    tmp_path: Path,
) -> None:
    """Credentials and a token URL in the environment, no --hostname: the token URL is
    tried (here: nothing listens) and the command fails instead of recording the simulator."""
    env = _env(
        tmp_path, ERTCLOUD_USER="u", ERTCLOUD_PASSWORD="p", ERTCLOUD_CLIENT_ID="c",
        ERTCLOUD_TOKEN_URL="http://127.0.0.1:1/auth/oauth2/v1/token",
    )  # fmt: skip
    out = tmp_path / "t.jsonl"
    r = run_cli("record", "TRI.N", "--to", f"jsonl:{out}", "--token-timeout", "2", env=env)
    assert r.returncode == 1, r.stderr
    assert SIMULATED not in r.stderr
    assert "127.0.0.1:1" in r.stderr


def test_environment_credentials_with_url_from_environment(
    sim_process: Any, tmp_path: Path
) -> None:
    sim: SimProcess = sim_process()
    env = _creds_env(tmp_path, sim, ERTCLOUD_URL=sim.info["websocket_url"])
    out = tmp_path / "t.jsonl"
    r = run_cli("record", "TRI.N", "--to", f"jsonl:{out}", "--duration", "1", env=env)
    assert r.returncode == 0, r.stderr
    assert SIMULATED not in r.stderr
    assert any(row.get("ric") == "TRI.N" for row in _rows(out))


@pytest.mark.parametrize("spelling", ["--discovery_url", "--discovery-url"])
def test_discovery_and_region(sim_process: Any, tmp_path: Path, spelling: str) -> None:
    sim: SimProcess = sim_process("--endpoints", "2")
    out = tmp_path / "t.jsonl"
    r = run_cli(
        "record", "TRI.N", "--to", f"jsonl:{out}", "--duration", "1", "--tls", "off",
        spelling, sim.info["discovery_url"], "--region", "us-east-1",
        env=_creds_env(tmp_path, sim),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert SIMULATED not in r.stderr
    assert any(row.get("ric") == "TRI.N" for row in _rows(out))


def test_hot_standby_from_discovery(sim_process: Any, tmp_path: Path) -> None:
    sim: SimProcess = sim_process("--endpoints", "2")
    out = tmp_path / "t.jsonl"
    r = run_cli(
        "record", "TRI.N", "--to", f"jsonl:{out}", "--duration", "1", "--tls", "off",
        "--discovery-url", sim.info["discovery_url"], "--hotstandby",
        env=_creds_env(tmp_path, sim),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert any(row.get("ric") == "TRI.N" for row in _rows(out))


def test_config_credentials_and_url(sim_process: Any, tmp_path: Path) -> None:
    sim: SimProcess = sim_process()
    out = tmp_path / "t.jsonl"
    cfg = tmp_path / "rec.toml"
    cfg.write_text(
        f'url = "{sim.info["websocket_url"]}"\nauth-url = "{sim.info["token_url"]}"\n'
        'user = "demo"\npassword = "demo"\nclient-id = "rec-app"\nrics = ["TRI.N"]\n'
        f'to = ["jsonl:{out}"]\n'
    )
    cfg.chmod(0o600)
    r = run_cli("record", "--config", str(cfg), "--duration", "1", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert SIMULATED not in r.stderr
    assert any(row.get("ric") == "TRI.N" for row in _rows(out))


def test_nothing_given_records_the_simulator_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    r = run_cli("record", "TRI.N", "--to", f"jsonl:{out}", "--duration", "1", env=_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert SIMULATED in r.stderr


def test_a_credentials_file_alone_means_a_real_service(tmp_path: Path) -> None:
    creds = tmp_path / "xdg" / "ertcloud" / "credentials.toml"
    creds.parent.mkdir(parents=True)
    creds.write_text('user = "u"\npassword = "p"\nclient_id = "c"\n')
    creds.chmod(0o600)
    env = _env(tmp_path, ERTCLOUD_TOKEN_URL="http://127.0.0.1:1/t")
    r = run_cli("record", "TRI.N", "--to", "jsonl:/dev/null", "--token-timeout", "1", env=env)
    assert r.returncode == 1
    assert SIMULATED not in r.stderr


def test_record_help_is_its_own() -> None:
    r = run_cli("record", "--help")
    flat = " ".join(r.stdout.split())
    assert "each session's frames are printed" not in flat
    assert "default TRI.N" not in flat
    assert "--url URL" in flat and "--hot-standby" in flat
