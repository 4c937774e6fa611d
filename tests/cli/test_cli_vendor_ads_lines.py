"""The deployed-ADS examples' command lines (``market_price.py``, the batch-and-view and ping
examples: ``--hostname H --port P --app_id A --user U --position P [--snapshot]``, no
token) work with ``ertcloud market-price``: a Login by user name on ``ws://``, against
``ertcloud sim --allow-user-login``, printed as those programs print. The batch-and-view
example's fixed items and view are given as ``--ric`` and ``--view``; the ping example's
own Pings are the session's. Each runs until Ctrl+C, which ends it with exit code 0."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Program, SimProcess, cli_env, received, run_cli, sent, start_cli

import ertcloud
from ertcloud.cli import build_parser
from ertcloud.cli.market_price import fill_credentials, user_login

pytestmark = pytest.mark.timeout(120)


class MarketPrice(Program):
    """``ertcloud market-price ARGS`` as a process (stderr kept apart from the output)."""

    def __init__(self, args: list[str], **env: str) -> None:
        self.proc = start_cli("market-price", *args, env=cli_env(**env))
        self.out = ""


@pytest.fixture
def market_price() -> Iterator[Callable[..., MarketPrice]]:
    started: list[MarketPrice] = []

    def start(*args: str, **env: str) -> MarketPrice:
        started.append(MarketPrice(list(args), **env))
        return started[-1]

    yield start
    for p in started:
        p.stop()


def ads_sim(sim_process: Any, *args: str) -> SimProcess:
    sim: SimProcess = sim_process("--allow-user-login", "--rate", "5", *args)
    return sim


def stop_ok(p: MarketPrice) -> str:
    """Ctrl+C; the whole output, after checking the exit code is 0."""
    out = p.stop()
    assert p.proc.returncode == 0, out[-3000:]
    return out


def user_login_of(out: str, user: str, position: str | None) -> dict[str, Any]:
    """The Login sent, checked to be by user name with no token."""
    login = sent(out)[0]
    assert login["Domain"] == "Login" and login["Key"]["Name"] == user
    assert "NameType" not in login["Key"]
    assert "AuthenticationToken" not in login["Key"]["Elements"]
    if position is not None:
        assert login["Key"]["Elements"]["Position"] == position
    (reply, *_) = received(out)
    assert reply["Domain"] == "Login" and reply["State"]["Stream"] == "Open"
    assert reply["Key"]["Name"] == user
    return login


def test_market_price_example_command_line(sim_process: Any, market_price: Any) -> None:
    sim = ads_sim(sim_process)
    p = market_price(
        "--hostname", "127.0.0.1", "--port", str(sim.port), "--app_id", "256",
        "--user", "root", "--position", "10.0.0.7",
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Update"', 1)
    out = stop_ok(p)
    lines = out.splitlines()
    assert lines[:2] == [
        f"Connecting to WebSocket ws://127.0.0.1:{sim.port}/WebSocket ...",
        "WebSocket successfully connected!",
    ]
    assert "SENT:" in lines and "RECEIVED: " in lines
    assert "Authentication" not in out  # no token is asked for
    login = user_login_of(out, "root", "10.0.0.7")
    assert login["Key"]["Elements"]["ApplicationId"] == "256"
    request = sent(out)[1]
    # As the ADS example: no Service, so the server's default service answers.
    assert request["Key"] == {"Name": "TRI.N"} and request.get("Streaming", True)
    (refresh,) = [m for m in received(out) if m["Type"] == "Refresh" and m["ID"] == 2]
    assert refresh["State"]["Stream"] == "Open" and refresh["State"]["Data"] == "Ok"
    assert isinstance(refresh["Fields"]["BID"], float)


def test_market_price_example_snapshot_command_line(sim_process: Any, market_price: Any) -> None:
    sim = ads_sim(sim_process)
    p = market_price(
        "--hostname", "127.0.0.1", "--port", str(sim.port), "--app_id", "256",
        "--user", "root", "--position", "10.0.0.7", "--snapshot",
    )  # fmt: skip
    p.wait_for(r'^\s*"Stream":"NonStreaming"', 1)
    out = stop_ok(p)
    user_login_of(out, "root", "10.0.0.7")
    assert sent(out)[1]["Streaming"] is False
    (refresh,) = [m for m in received(out) if m["Type"] == "Refresh" and m["ID"] == 2]
    assert refresh["Key"]["Name"] == "TRI.N" and "BID" in refresh["Fields"]


def test_batch_view_example_command_line(sim_process: Any, market_price: Any) -> None:
    """``market_price_batch_view.py --hostname H --port P --app_id A --user U --position P``;
    its items and view, fixed in that program, are options here."""
    sim = ads_sim(sim_process)
    p = market_price(
        "--hostname", "127.0.0.1", "--port", str(sim.port), "--app_id", "256",
        "--user", "root", "--position", "10.0.0.7",
        "--ric", "TRI.N,IBM.N,T.N", "--view", "BID,ASK,BIDSIZE",
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Refresh"', 4)  # the Login's and three items'
    out = stop_ok(p)
    user_login_of(out, "root", "10.0.0.7")
    view = {"BID", "ASK", "BIDSIZE"}
    refreshes = {
        m["Key"]["Name"]: m for m in received(out) if m["Type"] == "Refresh" and m["ID"] > 1
    }
    assert set(refreshes) == {"TRI.N", "IBM.N", "T.N"}
    assert all({"BID", "ASK"} <= set(r["Fields"]) <= view for r in refreshes.values())
    assert all(set(m["Fields"]) <= view for m in received(out) if m["Type"] == "Update")


def test_posting_example_command_line(sim_process: Any, market_price: Any) -> None:
    """``market_price_posting.py --hostname H --port P --app_id A --user U --position P``
    with ``--post``: on-stream Posts of the example's Update, PostID 1, 2..., Acks printed,
    and the posted values reach the item's subscribers (the poster among them)."""
    sim = ads_sim(sim_process)
    p = market_price(
        "--hostname", "127.0.0.1", "--port", str(sim.port), "--app_id", "256",
        "--user", "trader1", "--position", "10.0.0.7", "--post", "--post-interval", "0.5",
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Ack"', 2)
    p.wait_for(r'^\s*"PostID":2,?$', 1)  # printed after it is sent: its Ack may come first
    out = stop_ok(p)
    user_login_of(out, "trader1", "10.0.0.7")
    posts = [m for m in sent(out) if m.get("Type") == "Post"]
    assert [m["PostID"] for m in posts[:2]] == [1, 2]
    first = posts[0]
    assert first["ID"] == 2 and first["Ack"] is True and first["Domain"] == "MarketPrice"
    assert first["PostUserInfo"]["Address"] == "10.0.0.7"
    assert first["PostUserInfo"]["UserID"] == p.proc.pid
    assert first["Message"]["Type"] == "Update"
    assert first["Message"]["Fields"] == {"BID": 45.55, "BIDSIZE": 18, "ASK": 45.57, "ASKSIZE": 19}
    acks = [m for m in received(out) if m["Type"] == "Ack"]
    assert [a["AckID"] for a in acks[:2]] == [1, 2]
    assert all(a["ID"] == 2 and "NakCode" not in a for a in acks)
    assert any(
        m["Type"] == "Update" and m.get("ID") == 2 and m["Fields"].get("BID") == 45.55
        for m in received(out)
    )


def test_post_interval_must_be_positive() -> None:
    r = run_cli(
        "market-price", "--hostname", "127.0.0.1", "--port", "9", "--user", "root",
        "--post", "--post-interval", "0",
    )  # fmt: skip
    assert r.returncode == 2 and "Connecting" not in r.stdout  # refused before any network
    assert r.stderr.strip().splitlines()[-1].endswith("--post-interval must be positive")


@pytest.mark.serial  # counts Pings and Pongs in real time
def test_ping_example_command_line(sim_process: Any, market_price: Any) -> None:
    """``market_price_ping.py --hostname H --port P --user U``: a quiet stream (no updates,
    no Pings from the server) is kept alive by the client's own Pings, which get Pongs."""
    sim = ads_sim(sim_process, "--ping-timeout", "3", "--rate", "0", "--ping-mode", "off")
    p = market_price("--hostname", "127.0.0.1", "--port", str(sim.port), "--user", "root")
    p.wait_for(r'^\s*"Type":"Pong"', 2, timeout=30)
    assert p.proc.poll() is None
    out = stop_ok(p)
    login = user_login_of(out, "root", None)
    # the ADS examples' default Position: this host's IP, no host name
    assert "/" not in login["Key"]["Elements"]["Position"]
    assert "No ping from server" not in out
    assert len([m for m in sent(out) if m.get("Type") == "Ping"]) >= 2


def test_explicit_user_login_ignores_a_password_in_the_environment(
    sim_process: Any, market_price: Any
) -> None:
    sim = ads_sim(sim_process)
    p = market_price(
        "--url", f"ws://127.0.0.1:{sim.port}/WebSocket", "--user", "trader1", "--user-login",
        ERTCLOUD_PASSWORD="cloud-secret", ERTCLOUD_CLIENT_ID="app",
    )  # fmt: skip
    p.wait_for(r'^\s*"Type":"Update"', 1)
    out = stop_ok(p)
    user_login_of(out, "trader1", None)
    assert "cloud-secret" not in out


def test_user_login_refused_by_a_cloud_server_is_a_one_line_error(sim_process: Any) -> None:
    sim: SimProcess = sim_process()  # no --allow-user-login: the cloud wants a token
    r = run_cli(
        "market-price", "--hostname", "127.0.0.1", "--port", str(sim.port), "--user", "root",
        "--no-reconnect", "--connect-timeout", "10",
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ertcloud: error:"), r.stderr
    assert "Connecting to WebSocket ws://127.0.0.1:" in r.stdout


def _decide(argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> bool:
    for k in ("USER", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL", "URL"):
        monkeypatch.delenv(f"ERTCLOUD_{k}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no credentials file
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    a = build_parser().parse_args(["market-price", *argv])
    fill_credentials(a)
    return user_login(a)


@pytest.mark.parametrize(
    ("argv", "by_user"),
    [
        (["--hostname", "h", "--user", "root"], True),
        (["--url", "ws://h:15000/WebSocket", "--user", "root"], True),
        (["--hostname", "h", "--user", "root", "--password", "p"], False),
        (["--hostname", "h", "--user", "root", "--auth_url", "https://a/t"], False),
        (["--hostname", "h", "--user", "root", "--auth_hostname", "a"], False),
        (["--hostname", "h", "--clientid", "c", "--clientsecret", "s"], False),
        (["--user", "root"], False),  # no host: the cloud (discovery), which wants a token
        (["--hostname", "h"], False),
        (["--hostname", "h", "--user", "root", "--password", "p", "--user-login"], True),
    ],
)
def test_when_the_login_is_by_user_name(
    argv: list[str], by_user: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _decide(argv, monkeypatch, tmp_path) is by_user


def test_a_password_from_the_environment_means_a_token_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = ["--hostname", "h", "--user", "root"]
    assert not _decide(argv, monkeypatch, tmp_path, ERTCLOUD_PASSWORD="p")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--hostname", "127.0.0.1"], "--user-login needs --user (the user name to log in as)"),
        (["--user", "root"], "--user-login needs --hostname or --url (no service discovery)"),
    ],
)
def test_user_login_option_needs_a_user_and_a_host(argv: list[str], error: str) -> None:
    env = {k: v for k, v in cli_env().items() if not k.startswith("ERTCLOUD_")}
    r = run_cli("market-price", *argv, "--user-login", env=env)
    assert r.returncode == 2
    assert r.stderr.strip() == f"ertcloud: error: {error}"


async def test_library_session_logs_in_by_user_name(
    make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's side: ``connect(url, user=...)`` with no token URL, and ``Session(url,
    login=LoginParams(user=...))`` with no ``tokens``, log in by user name."""
    for k in ("USER", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_URL", "URL"):
        monkeypatch.delenv(f"ERTCLOUD_{k}", raising=False)
    async with make_sim(server={"allow_user_login": True, "rate": 0}) as sim:
        sessions = [
            ertcloud.connect(sim.websocket_url, user="trader1", position="10.0.0.9"),
            ertcloud.Session(sim.websocket_url, login=ertcloud.LoginParams(user="trader1")),
        ]
        for session in sessions:
            async with session:
                sub = session.subscribe(["TRI.N"], snapshot=True)
                await asyncio.wait_for(sub.wait_complete(), 20)
                (stream,) = sub.streams
                assert stream.is_open is False and "BID" in stream.fields
                refresh = session.protocol.login.refresh
                assert refresh is not None and refresh.key is not None
                assert refresh.key.name == "trader1"
