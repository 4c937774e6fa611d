"""Bad input, environment defaults, TLS, hot standby output and server refusals of the
command line, run as subprocesses against the real simulator."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, SimProcess, cli_env, messages, run_cli

from ertcloud.auth.grants import DEFAULT_SCOPE
from ertcloud.cli import build_parser, market_price, subscribe
from ertcloud.cli.checks import ENV_OPTIONS, ITEM_DOMAINS, password_policy_problem
from ertcloud.config import ENV_VARS

GOOD_PASSWORD = "Abcdefghij0123456789klmnopqrst!"
#: Nothing listens here: a command that reached the network would fail with exit code 1.
DEAD_TOKEN_URL = "http://127.0.0.1:9/auth/oauth2/v1/token"


def mp(*extra: str) -> list[str]:
    """market-price with every required option, pointing at nothing."""
    return [
        "market-price", "--hostname", "127.0.0.1", "--port", "9", "--tls", "off",
        "--auth_url", DEAD_TOKEN_URL, "--user", "u", "--password", "p", "--clientid", "c",
        *extra,
    ]  # fmt: skip


def sim_opts(sim: SimProcess) -> list[str]:
    return [
        "--url", sim.info["websocket_url"], "--auth_url", sim.info["token_url"],
        "--user", "demo", "--password", "demo", "--clientid", "t",
    ]  # fmt: skip


def one_error_line(r: Any, code: int) -> str:
    """The run failed with ``code`` and exactly one line on stderr, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return str(lines[0])


# -- 1. --newPassword policy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("Short1!", "at least 30 characters"),
        ("abcdefghijklmnopqrstuvwxyzabcdef", "missing: upper case, digits, symbols"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "mix at least 3 of"),
        ("Abcdefghij0123456789klmnopqrst\u00e9", "may only contain"),
        ("Abcdefghij0123456789klmnopqrst pad", "may only contain"),
    ],
)
def test_new_password_policy_is_checked_before_any_network(new: str, why: str) -> None:
    r = run_cli(*mp("--newPassword", new))
    line = one_error_line(r, 2)
    assert line.startswith("ertcloud: error: --new-password ") and why in line
    assert new not in r.stderr
    assert r.stdout == ""  # no "Sending authentication request": nothing was sent


def test_new_password_policy_matches_the_reference() -> None:
    assert password_policy_problem(GOOD_PASSWORD) == ""
    assert password_policy_problem("abcdefghij0123456789klmnopqrs!") == ""  # 3 of 4
    assert "3 of" in password_policy_problem("abcdefghijklmnopqrstuvwxyzabcd")
    assert "30" in password_policy_problem("Ab1!" * 7)  # 28 characters


def test_a_valid_new_password_is_sent_and_used(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    base = [
        "market-price", "--hostname", "127.0.0.1", "--port", str(sim.port), "--tls", "off",
        "--auth_url", sim.info["token_url"], "--user", "demo", "--clientid", "app",
        "--duration", "1",
    ]  # fmt: skip
    r = run_cli(*base, "--password", "demo", "--newPassword", GOOD_PASSWORD)
    assert r.returncode == 0, r.stderr
    assert GOOD_PASSWORD not in r.stdout + r.stderr
    token = run_cli("token", "--auth_url", sim.info["token_url"], "--user", "demo",
                    "--password", GOOD_PASSWORD, "--clientid", "app")  # fmt: skip
    assert token.returncode == 0, token.stderr


# -- 2. README: the deliberate differences name our real defaults ----------------------------


def test_readme_differences_state_the_real_defaults() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Deliberate differences from the vendor examples") :]
    section = section[: section.index("\n### ")]
    ns = build_parser().parse_args(["market-price"])
    assert market_price._rics(ns) == ["TRI.N"]
    assert ns.scope == DEFAULT_SCOPE == "trapi"
    assert re.search(r"\| `--ric` \| `TRI\.N` \| `/TRI\.N`", section)
    assert re.search(r"\| `--scope` \| `trapi` .*\| `trapi\.streaming\.pricing\.read` \|", section)
    assert ns.port == "443" and "`--port` 443" in section
    assert ns.service == "ELEKTRON_DD" and "`--service ELEKTRON_DD`" in section
    assert ns.region == "us-east-1" and "`--region us-east-1`" in section
    assert ns.app_id == "256" and "`--app-id 256`" in section
    assert ns.auth_url is None and market_price.token_url_of(ns) in section


# -- 3. --tls selects the scheme; the port stays --port (443) ---------------------------------


def test_tls_selects_the_scheme_and_keeps_the_port(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    base = [
        "market-price", "--hostname", "127.0.0.1", "--auth_url", sim.info["token_url"],
        "--user", "demo", "--password", "demo", "--clientid", "app", "--no-reconnect",
    ]  # fmt: skip
    on_default_port = run_cli(*base, "--tls", "on", "--duration", "5")
    assert "Connecting to WebSocket wss://127.0.0.1:443/WebSocket ..." in on_default_port.stdout
    assert on_default_port.returncode == 1
    on = run_cli(*base, "--tls", "on", "--port", str(sim.port), "--duration", "5")
    assert f"Connecting to WebSocket wss://127.0.0.1:{sim.port}/WebSocket ..." in on.stdout
    assert "TLS failure" in one_error_line(on, 1)
    for tls in ("off", "auto"):  # auto: the token URL is http://
        r = run_cli(*base, "--tls", tls, "--port", str(sim.port), "--duration", "1")
        assert r.returncode == 0, r.stderr
        assert f"Connecting to WebSocket ws://127.0.0.1:{sim.port}/WebSocket ..." in r.stdout
    help_text = " ".join(run_cli("market-price", "--help").stdout.split())
    assert "wss:// unless the token URL is http://" in help_text
    assert "The port is --port (default 443) whatever the choice" in help_text


# -- 4. subscribe: unknown domains, Errors and closed Status ---------------------------------


def test_subscribe_unknown_domain_is_refused_locally() -> None:
    r = run_cli("subscribe", "TRI.N", "--domain", "Bogus", timeout=20)
    line = one_error_line(r, 2)
    assert line.startswith("ertcloud: error: --domain 'Bogus' is not a domain; valid: ")
    assert all(d in line for d in ("MarketPrice", "MarketByPrice", "SymbolList"))
    assert "Login," not in line
    login = one_error_line(run_cli("subscribe", "TRI.N", "--domain", "login"), 2)
    assert "is the login stream, not an item domain" in login
    assert set(ITEM_DOMAINS) >= {"MarketPrice", "MarketByOrder", "YieldCurve"}


def test_subscribe_domain_case_does_not_matter() -> None:
    r = run_cli("subscribe", "TRI.N", "--domain", "marketbyprice", "--format", "jsonl",
                "--count", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["domain"] == "MarketByPrice"


@pytest.mark.parametrize("rics", [["TRI.N"], ["TRI.N", "IBM.N"]])
def test_subscribe_ends_on_an_error_answering_the_request(
    rics: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A server whose domains differ from ours answers the request with an Error (the
    simulator does for a domain it does not know): one line per item, exit 1, no hang."""
    a = build_parser().parse_args(["subscribe", *rics, "--format", "jsonl"])
    a.domain = "Bogus"  # past the local check, as if the server knew fewer domains

    async def go() -> int:
        return await asyncio.wait_for(subscribe.run(a), 20)

    assert asyncio.run(go()) == 1
    out, err = capsys.readouterr()
    errors = [x for x in err.splitlines() if x.startswith("ertcloud: error:")]
    assert errors == [
        f"ertcloud: error: cannot open {r}: the server answered with an Error: "
        "JSON Unexpected Value. Received 'Bogus' for key 'Domain'"
        for r in rics
    ]
    recs = [json.loads(x) for x in out.splitlines()]
    assert [(x["ric"], x["event"]) for x in recs] == [(r, "error") for r in rics]


def test_subscribe_closed_items_end_the_command() -> None:
    r = run_cli("subscribe", "TRI.N", "BAD.RIC", "--snapshot", "--format", "jsonl", timeout=30)
    assert r.returncode == 1
    errors = [x for x in r.stderr.splitlines() if "error" in x]
    assert errors == [
        "ertcloud: error: cannot open BAD.RIC: **The record could not be found (NotFound)"
    ]
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert {(x["ric"], x["event"]) for x in recs} >= {("TRI.N", "refresh"), ("BAD.RIC", "closed")}


# -- 5. post: the server refuses ---------------------------------------------------------------


def test_post_to_a_missing_item_is_a_runtime_failure() -> None:
    r = run_cli("post", "NO.SUCH", "--field", "BID=1")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "ertcloud: error: cannot open NO.SUCH: **The record could not be found"
    )


def test_post_the_server_refuses_is_a_runtime_failure(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--no-post")
    r = run_cli("post", "TRI.N", "--field", "BID=1", *sim_opts(sim))
    line = one_error_line(r, 1)
    assert line.startswith("ertcloud: error: post 1 refused: DeniedBySrc")


# -- 6. an unknown option shows the command's usage ------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["subscribe", "TRI.N", "--bogus"],
        ["post", "TRI.N", "--field", "A=1", "--bogus"],
        ["market-price", "--bogus"],
        ["token", "--bogus", "x"],
    ],
)
def test_unknown_option_prints_the_command_usage(argv: list[str]) -> None:
    r = run_cli(*argv)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"usage: ertcloud {argv[0]} ")
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith(f"ertcloud {argv[0]}: error: unrecognized arguments: --bogus")
    )


# -- 7. bad values are refused before any network -------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (mp("--ric", ""), "--ric needs an item name, got ''"),
        (mp("--ric", " , "), "--ric needs an item name, got ' , '"),
        (mp("--port", "abc"), "--port must be a port number from 1 to 65535, got 'abc'"),
        (mp("--port", "99999"), "--port must be a port number from 1 to 65535, got '99999'"),
        (mp("--port", "0"), "--port must be a port number from 1 to 65535, got '0'"),
        (mp("--view", ","), "--fields needs at least one field name, got ','"),
        (mp("--hotstandby", "--standbyhostname", "h", "--standbyport", "x"), "--standby-port"),
        (["subscribe", ""], "RIC needs an item name, got ''"),
        (["subscribe", "TRI.N", "--fields", ","], "--fields needs at least one field name"),
        (["subscribe", "TRI.N", "--hostname", "h", "--port", "abc"], "--port must be a port"),
        (["subscribe", "TRI.N", "--url", "http://h/WebSocket"], "must be a ws:// or wss:// URL"),
        (["subscribe", "TRI.N", "--count", "0"], "--count must be at least 1"),
        (["post", " ", "--field", "BID=1"], "RIC must be one item name"),
        (["record", "TRI.N", "--port", "65536"], "--port must be a port number"),
        (["demo", "--ric", ""], "--ric needs an item name"),
    ],
)
def test_bad_values_exit_2_before_any_network(argv: list[str], message: str) -> None:
    r = run_cli(*argv, timeout=20)
    line = one_error_line(r, 2)
    assert line.startswith("ertcloud: error: ") and message in line
    assert r.stdout == "" and "simulator" not in r.stderr


# -- 8. --hotstandby prints each update once per session --------------------------------------


def test_hot_standby_prints_every_update_once_per_session(sim_process: Any) -> None:
    sim: SimProcess = sim_process("--endpoints", "3", "--rate", "10")
    r = run_cli(
        "market-price", "--auth_url", sim.info["token_url"],
        "--discovery_url", sim.info["discovery_url"], "--user", "demo", "--password", "demo",
        "--clientid", "app", "--tls", "off", "--region", "eu-west-1", "--hotstandby",
        "--duration", "1.5",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    ports = {
        int(p)
        for p in re.findall(
            r"Connecting to WebSocket ws://127\.0\.0\.1:(\d+)/WebSocket for", r.stdout
        )
    }
    assert len(ports) == 2 and ports <= set(sim.info["ports"])
    seen = {
        session: [
            msg["SeqNumber"]
            for msg in messages(r.stdout, f"RECEIVED on {session}:")
            if msg.get("Type") == "Update"
        ]
        for session in ("session1", "session2")
    }
    for seqs in seen.values():
        assert seqs and len(seqs) == len(set(seqs))  # no repeat within a session
    both = set(seen["session1"]) & set(seen["session2"])
    assert len(both) >= 3  # the same updates, printed by each session: not de-duplicated
    help_text = " ".join(run_cli("market-price", "--help").stdout.split())
    assert "de-duplicated" not in help_text
    assert "every update appears once per session" in help_text


# -- 9. environment variables give the options their defaults --------------------------------


def test_readme_env_vars_are_the_ones_the_cli_reads() -> None:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| variable | default for | commands |") :].split("\n\n")[0]
    documented = set(re.findall(r"`(ERTCLOUD_[A-Z_]+)`", table))
    assert documented == set(ENV_OPTIONS.values()) | set(ENV_VARS.values())


def test_url_and_token_url_from_the_environment(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    env = cli_env(
        ERTCLOUD_URL=sim.info["websocket_url"],
        ERTCLOUD_TOKEN_URL=sim.info["token_url"],
        ERTCLOUD_USER="demo",
        ERTCLOUD_PASSWORD="demo",
        ERTCLOUD_CLIENT_ID="t",
    )
    r = run_cli("subscribe", "IBM.N", "--snapshot", "--format", "jsonl", env=env)
    assert r.returncode == 0, r.stderr
    assert "embedded" not in r.stderr and r.stderr == ""
    assert json.loads(r.stdout.splitlines()[0])["ric"] == "IBM.N"
    t = run_cli("token", env=env)
    assert t.returncode == 0, t.stderr
    assert t.stdout.startswith(f"Token from {sim.info['token_url']}:")
    m = run_cli("market-price", "--hostname", "127.0.0.1", "--port", str(sim.port),
                "--duration", "1", env=env)  # fmt: skip
    assert m.returncode == 0, m.stderr
    assert f"Sending authentication request with password to {sim.info['token_url']} ..." in (
        m.stdout
    )


def test_explicit_options_win_over_the_environment(sim_process: Any) -> None:
    sim: SimProcess = sim_process()
    env = cli_env(
        ERTCLOUD_URL="ws://127.0.0.1:9/WebSocket",
        ERTCLOUD_TOKEN_URL=DEAD_TOKEN_URL,
        ERTCLOUD_USER="nobody",
        ERTCLOUD_PASSWORD="wrong",
    )
    r = run_cli("subscribe", "TRI.N", "--snapshot", "--format", "jsonl", *sim_opts(sim), env=env)
    assert r.returncode == 0, r.stderr
    by_host = run_cli(
        "subscribe", "TRI.N", "--snapshot", "--hostname", "127.0.0.1", "--port", "9",
        "--auth_url", sim.info["token_url"], "--user", "demo", "--password", "demo",
        "--clientid", "t", env=env, timeout=60,
    )  # fmt: skip
    # --hostname wins over ERTCLOUD_URL: wss://127.0.0.1:9, not the environment's ws:// URL
    assert "wss://127.0.0.1:9/WebSocket" in one_error_line(by_host, 1)


def test_record_reads_the_credentials_from_the_environment(
    sim_process: Any, tmp_path: Path
) -> None:
    sim: SimProcess = sim_process()
    out = tmp_path / "ticks.jsonl"
    env = cli_env(
        ERTCLOUD_TOKEN_URL=sim.info["token_url"],
        ERTCLOUD_USER="demo",
        ERTCLOUD_PASSWORD="demo",
        ERTCLOUD_CLIENT_ID="t",
        XDG_CONFIG_HOME=str(tmp_path / "none"),
    )
    r = run_cli(
        "record", "TRI.N", "--hostname", "127.0.0.1", "--port", str(sim.port), "--tls", "off",
        "--to", f"jsonl:{out}", "--duration", "1", "--progress-interval", "0", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "SIMULATED" not in r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert any(x.get("ric") == "TRI.N" for x in rows)
