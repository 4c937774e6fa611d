"""Helpers shared by the tests: running ``ertcloud`` commands and simulator processes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HTTPS_PROXY", None)
    env.pop("https_proxy", None)
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    env.update(extra)
    return env


def ertcloud_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ertcloud", *args]


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def client_args(self, *extra: str) -> list[str]:
        """market-price options that point at this simulator."""
        return [
            "--hostname",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--auth_url",
            self.info["token_url"],
            "--user",
            "demo",
            "--password",
            "demo",
            "--clientid",
            "test-app",
            *extra,
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ertcloud_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ertcloud_cmd(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
    )


def wait_for_output(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> str:
    """Read the process's stdout until ``needle`` appears; returns what was read (the rest
    is left for ``communicate()``)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if needle.encode() in seen:
                return seen.decode()
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} not seen in output:\n{seen.decode()[-3000:]}")
