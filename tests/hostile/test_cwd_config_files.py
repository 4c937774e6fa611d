"""Hostile configuration files: a password in a world-readable ``record --config`` file is
refused (as ssh refuses a readable key), and a file nested 100,000 deep is a one-line error,
not a RecursionError traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import cli_env, run_cli

DEEP = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"


def _env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    return {k: v for k, v in env.items() if not k.startswith("ERTCLOUD_")}


@pytest.mark.parametrize("key", ["password", "client-secret", "newPassword"])
def test_record_refuses_a_secret_in_a_readable_config(tmp_path: Path, key: str) -> None:
    cfg = tmp_path / "rec.toml"
    cfg.write_text(f'hostname = "h"\nuser = "u"\n{key} = "hunter2"\nrics = ["TRI.N"]\n')
    cfg.chmod(0o644)
    r = run_cli("record", "--config", str(cfg), env=_env(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"ertcloud: error: config file {cfg} holds a secret ({key}) and is accessible by "
        f"group or others (mode 0644); run: chmod 600 {cfg}"
    )
    assert "hunter2" not in r.stderr


def test_a_readable_config_without_secrets_is_fine(tmp_path: Path) -> None:
    cfg = tmp_path / "rec.toml"
    out = tmp_path / "t.jsonl"
    cfg.write_text(f'rics = ["TRI.N"]\nto = ["jsonl:{out}"]\nduration = 1\n')
    cfg.chmod(0o644)
    r = run_cli("record", "--config", str(cfg), env=_env(tmp_path))
    assert r.returncode == 0, r.stderr


def test_record_config_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "deep.toml"
    cfg.write_text(DEEP)
    r = run_cli("record", "TRI.N", "--config", str(cfg), env=_env(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip() == f"ertcloud: error: {cfg}: invalid TOML: nested too deeply"


def test_credentials_file_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    creds = tmp_path / "creds.toml"
    creds.write_text(DEEP)
    os.chmod(creds, 0o600)
    r = run_cli("token", "--credentials", str(creds), "--auth-url", "http://127.0.0.1:1/t",
                env=_env(tmp_path))  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"ertcloud: error: credentials file {creds} is not valid TOML: nested too deeply"
    )
