"""Running ``ertcloud`` as a subprocess (kept here so these tests do not depend on which
``conftest`` module Python happens to have imported under that name)."""

from __future__ import annotations

import os
import subprocess
import sys

import cli_forkserver


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def ertcloud_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ertcloud", *args]


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = cli_forkserver.run(list(args), env or cli_env(), timeout)
    if done is not None:  # forked from a process with the package imported
        return done
    return subprocess.run(
        ertcloud_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env or cli_env()
    )


def start_cli(*args: str) -> subprocess.Popen[str]:
    forked = cli_forkserver.start(list(args), cli_env())
    if forked is not None:
        return forked
    return subprocess.Popen(
        ertcloud_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
