"""``--proxy`` and the proxy environment on the CLI: the token, discovery and WebSocket go
through a real loopback proxy; a wrong proxy is a one-line error, its password hidden."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from connect_proxy import ConnectProxy
from support import SimProcess, cli_env, run_cli


async def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """``ertcloud ARGS`` to its end in a thread: the proxy runs in this event loop."""
    r = await asyncio.to_thread(run_cli, *args, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def tls_sim(sim_process: Any, private_ca: dict[str, str]) -> SimProcess:
    sim: SimProcess = sim_process("--tls-cert", private_ca["cert"], "--tls-key", private_ca["key"])
    return sim


def account(sim: SimProcess, private_ca: dict[str, str]) -> list[str]:
    return [
        "--auth-url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--client-id", "test-app", "--ca-file", private_ca["ca"],
    ]  # fmt: skip


async def test_market_price_discovery_flow_goes_through_the_proxy(
    sim_process: Any, private_ca: dict[str, str]
) -> None:
    sim = tls_sim(sim_process, private_ca)
    async with ConnectProxy("trader", "pr0xy-pass") as proxy:
        code, out, err = await run(
            "market-price", *account(sim, private_ca),
            "--discovery-url", sim.info["discovery_url"], "--ric", "TRI.N",
            "--proxy", proxy.url, "--duration", "1",
        )  # fmt: skip
        assert code == 0, err
        assert '"Type":"Refresh"' in out.replace(" ", "") or '"Refresh"' in out
        target = f"127.0.0.1:{sim.port}"
        assert proxy.tunnels == [target] * 3  # the token, discovery, the WebSocket
        assert proxy.forwarded == [] and proxy.refused == 0
        assert "pr0xy-pass" not in out + err


@pytest.mark.parametrize("transport", ["aiohttp", "picows"])
async def test_subscribe_through_the_proxy(
    sim_process: Any, private_ca: dict[str, str], transport: str
) -> None:
    sim = tls_sim(sim_process, private_ca)
    async with ConnectProxy("trader", "pr0xy-pass") as proxy:
        code, out, err = await run(
            "subscribe", "TRI.N", "--url", sim.info["websocket_url"], *account(sim, private_ca),
            "--proxy", proxy.url, "--transport", transport, "--count", "2", "--format", "jsonl",
        )  # fmt: skip
        assert code == 0, err
        assert '"event":"refresh"' in out
        assert proxy.tunnels == [f"127.0.0.1:{sim.port}"] * 2  # the token, the WebSocket
        assert "pr0xy-pass" not in out + err


async def test_https_proxy_from_the_environment(
    sim_process: Any, private_ca: dict[str, str]
) -> None:
    sim = tls_sim(sim_process, private_ca)
    async with ConnectProxy() as proxy:
        env = cli_env(HTTPS_PROXY=proxy.url, NO_PROXY="")
        code, _, err = await run(
            "subscribe", "TRI.N", "--url", sim.info["websocket_url"],
            *account(sim, private_ca), "--count", "2", "--format", "jsonl",
            env=env,
        )  # fmt: skip
        assert code == 0, err
        assert len(proxy.tunnels) == 2  # the token and the WebSocket
        code, _, err = await run(
            "subscribe", "TRI.N", "--url", sim.info["websocket_url"],
            *account(sim, private_ca), "--count", "2", "--format", "jsonl", "--proxy", "none",
            env=env,
        )  # fmt: skip
        assert code == 0, err
        assert len(proxy.tunnels) == 2  # --proxy none: straight to the server


async def test_a_wrong_proxy_is_one_line_and_a_failure(
    sim_process: Any, private_ca: dict[str, str]
) -> None:
    sim = tls_sim(sim_process, private_ca)
    async with ConnectProxy("trader", "the-right-one") as proxy:
        wrong_password = proxy.url.replace("the-right-one", "not-the-one")
        code, out, err = await run(
            "subscribe", "TRI.N", "--url", sim.info["websocket_url"],
            *account(sim, private_ca), "--count", "1", "--proxy", wrong_password,
        )  # fmt: skip
        port = proxy.port
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("ertcloud: error: ") and "407" in line
    assert f"through proxy http://trader:***@127.0.0.1:{port}" in line
    assert "not-the-one" not in err
    # the proxy is gone now: nothing listens on its port
    code, out, err = await run(
        "subscribe", "TRI.N", "--url", sim.info["websocket_url"],
        *account(sim, private_ca), "--count", "1", "--proxy", wrong_password,
        "--token-timeout", "10",
    )  # fmt: skip
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("ertcloud: error: ") and "not-the-one" not in err


def test_a_malformed_proxy_url_is_a_usage_error() -> None:
    r = run_cli("token", "--proxy", "socks5://u:hush@127.0.0.1:1080", "--user", "x")
    assert r.returncode == 2 and "hush" not in r.stderr
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith("ertcloud: error: bad proxy URL socks5://u:***@")
    )
