"""Every command's options read the same way: kebab-case names in --help, the vendor
examples' spellings accepted as hidden aliases, one name for one thing across commands,
"did you mean" hints for misspelt options, help text written for each command."""

from __future__ import annotations

import re

import pytest
from support import run_cli

from ertcloud.cli import build_parser

COMMANDS = ("market-price", "subscribe", "post", "token", "discover", "record", "sim", "board")


def _help(command: str) -> str:
    r = run_cli(command, "--help")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_kebab_case_options_only(command: str) -> None:
    text = _help(command)
    options = set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", text))
    odd = sorted(o for o in options if "_" in o or o != o.lower())
    assert odd == [], f"{command}: {odd}"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "board"])
def test_help_has_no_markup(command: str) -> None:
    text = _help(command)
    assert "``" not in text and ":class:" not in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help(command: str) -> None:
    parser = build_parser()
    sub = next(a.choices[command] for a in parser._actions if hasattr(a, "choices") and a.choices)
    for action in sub._actions:
        if action.option_strings and action.help is not argparse_suppress():
            assert action.help, f"{command} {action.option_strings} has no help"


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["market-price", "--auth-url", "https://a/t"], "auth_url", "https://a/t"),
        (["market-price", "--auth_url", "https://a/t"], "auth_url", "https://a/t"),
        (["market-price", "--fields", "BID"], "view", "BID"),
        (["market-price", "--view", "BID"], "view", "BID"),
        (["market-price", "--url", "wss://h/WebSocket"], "url", "wss://h/WebSocket"),
        (["subscribe", "--ric", "TRI.N"], "ric", ["TRI.N"]),
        (["subscribe", "X", "--view", "BID"], "fields", "BID"),
        (["subscribe", "X", "--auth_url", "https://a/t"], "auth_url", "https://a/t"),
        (["subscribe", "X", "--clientid", "c"], "clientid", "c"),
        (["subscribe", "X", "--hotstandby"], "hotstandby", True),
        (["record", "--url", "wss://h/WebSocket"], "url", "wss://h/WebSocket"),
        (["record", "--fields", "BID"], "view", "BID"),
        (["record", "--discovery_url", "https://d/"], "discovery_url", "https://d/"),
        (["discover", "--hotstandby"], "hotstandby", True),
        (["discover", "--discovery-url", "https://d/"], "discovery_url", "https://d/"),
        (["sim", "--ric", "A.N,B.N"], "rics", "A.N,B.N"),
        (["sim", "--rics", "A.N"], "rics", "A.N"),
        (["token", "--app_id", "9"], "app_id", "9"),
    ],
)
def test_same_name_for_the_same_thing(argv: list[str], dest: str, value: object) -> None:
    ns = build_parser().parse_args(argv)
    assert getattr(ns, dest) == value


@pytest.mark.parametrize(
    ("command", "typo", "hint"),
    [
        ("market-price", "--auth-ulr", "--auth-url"),
        ("market-price", "--clientId", "--client-id"),
        ("subscribe", "--hostnme", "--hostname"),
        ("record", "--stanby-hostname", "--standby-hostname"),
        ("token", "--tokn-timeout", "--token-timeout"),
    ],
)
def test_misspelt_option_gets_a_suggestion(command: str, typo: str, hint: str) -> None:
    args = [command, typo, "x"] if command != "subscribe" else [command, "TRI.N", typo, "x"]
    r = run_cli(*args)
    assert r.returncode == 2
    assert f"{typo}: did you mean {hint}?" in r.stderr


def test_subscribe_takes_ric_option_and_needs_an_item() -> None:
    r = run_cli("subscribe")
    assert r.returncode == 2
    assert r.stderr.strip() == "ertcloud: error: no item given: name at least one RIC (or --ric)"


def test_board_help_is_its_own() -> None:
    flat = " ".join(_help("board").split())
    assert "--new-password" not in flat
    assert "each session's frames are printed" not in flat
    assert "default TRI.N" in flat  # its RIC argument's default, stated once


def test_subscribe_format_has_help() -> None:
    flat = " ".join(_help("subscribe").split())
    assert re.search(r"--format \{pretty,jsonl,table\} pretty: ", flat)


def test_vendor_spellings_stay_out_of_help() -> None:
    text = _help("market-price")
    for alias in ("--auth_url", "--clientid", "--newPassword", "--jwkFile", "--no_streaming"):
        assert alias not in text
