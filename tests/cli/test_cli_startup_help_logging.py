"""The command line stays light and consistent: ``--version``, ``--help`` and every
command's ``--help`` import no network or data library, every help reads as plain text,
and every command takes ``--log-level`` and ``-v/--verbose``."""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import cli_env

from ertcloud.cli import build_parser, main
from ertcloud.cli.options import log_level
from ertcloud.client.transport import pick_transport

#: what a command imports only when it runs
HEAVY = (
    "aiohttp", "picows", "duckdb", "polars", "pyarrow", "textual", "nats", "matplotlib",
    "ertcloud.sim.server", "ertcloud.client", "ertcloud.sinks",
)  # fmt: skip

#: runs the command line in-process, then prints the modules it imported (JSON)
_PROBE = """
import contextlib, io, json, runpy, sys
sys.argv = ["ertcloud", *json.loads(sys.argv[1])]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        runpy.run_module("ertcloud", run_name="__main__")
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser, with the words that select it (``cluster status``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


def _imported(*argv: str) -> set[str]:
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        capture_output=True, text=True, timeout=120, env=cli_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    return set(json.loads(r.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def test_import_of_the_package_and_the_command_line_loads_no_heavy_library() -> None:
    code = "import ertcloud.cli, json, sys; print(json.dumps(sorted(sys.modules)))"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=cli_env()
    )
    assert r.returncode == 0, r.stderr
    assert _heavy(set(json.loads(r.stdout))) == []


def test_version_is_printed_on_stdout_with_the_transport_and_the_core() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ertcloud", "--version"],
        capture_output=True, text=True, timeout=120, env=cli_env(),
    )  # fmt: skip
    assert r.returncode == 0 and r.stderr == ""
    m = re.fullmatch(
        r"ertcloud \S+ \(transport: (picows|aiohttp)\) \(core: (pure|compiled)\)\n", r.stdout
    )
    assert m is not None, r.stdout
    assert m[1] == pick_transport("auto")  # what a Session picks by default


def test_version_and_help_load_no_heavy_library() -> None:
    assert _heavy(_imported("--version")) == []
    assert _heavy(_imported("--help")) == []


def test_every_command_help_loads_no_heavy_library() -> None:
    """All commands in one process: what one ``--help`` imports stays for the next, so a
    clean result holds for each."""
    commands = [path for path, _ in _subcommands(build_parser()) if path != ("bench",)]
    probe = (
        "import contextlib, io, json, sys\n"
        "from ertcloud.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main([*argv, '--help'])\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=cli_env()
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert _heavy(set(json.loads(r.stdout.splitlines()[-1]))) == []


def test_a_command_that_runs_still_finds_what_it_imports_lazily(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dictionary", "--source", "builtin"]) == 0
    assert "fields" in capsys.readouterr().out.lower()


#: reStructuredText that must not reach a terminal
_MARKUP = re.compile(r"``|:(class|func|meth|mod|attr|data|exc|obj):|(?<![\w`])`[^`\s][^`]*`(?!`)")


@pytest.mark.parametrize(
    "path",
    # bench --help is the benchmark runner's own (python -m benchmarks)
    [p for p, _ in _subcommands(build_parser()) if p != ("bench",)],
    ids=lambda p: " ".join(p),
)
def test_every_command_help_is_plain_text_with_a_description(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*path, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:"), out[:200]
    found = _MARKUP.search(out)
    assert found is None, f"{' '.join(path)} --help shows {found.group(0)!r}"
    parser = dict(_subcommands(build_parser()))[path]
    assert (parser.description or "").strip(), f"{' '.join(path)} has no description"


@pytest.mark.parametrize(
    "path",
    [p for p, _ in _subcommands(build_parser()) if p != ("bench",)],
    ids=lambda p: " ".join(p),
)
def test_every_command_takes_the_logging_options(path: tuple[str, ...]) -> None:
    parser = dict(_subcommands(build_parser()))[path]
    options = parser._option_string_actions
    assert {"--log-level", "-v", "--verbose"} <= set(options)
    shared = dict(_subcommands(build_parser()))[("subscribe",)]._option_string_actions
    assert options["--log-level"].help == shared["--log-level"].help  # one shared definition
    with pytest.raises(SystemExit):
        parser.parse_args(["--log-level", "LOUD"])


def test_log_level_and_verbose_resolve_the_same_everywhere() -> None:
    p = build_parser()
    assert log_level(p.parse_args(["token"])) == "WARNING"
    assert log_level(p.parse_args(["token", "-v"])) == "INFO"
    assert log_level(p.parse_args(["token", "-vv"])) == "DEBUG"
    assert log_level(p.parse_args(["token", "--verbose", "--log-level", "error"])) == "ERROR"
    # a nested command does not undo what its parent parsed
    args = p.parse_args(["cluster", "--log-level", "debug", "status", "nats://h:4222", "-v"])
    assert (args.log_level, args.verbose) == ("DEBUG", 1)


def test_log_level_reaches_logging(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = root.level
    try:
        assert main(["sim", "--list-faults", "--log-level", "debug"]) == 0
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before)
    capsys.readouterr()


def test_the_tls_context_is_made_once_and_only_for_tls_urls() -> None:
    from ertcloud.cli.market_price import ssl_context

    args = build_parser().parse_args(["subscribe", "TRI.N"])
    assert ssl_context(args, "ws://127.0.0.1:1/WebSocket", "http://127.0.0.1:1/token") is None
    first = ssl_context(args, "wss://host:443/WebSocket")
    assert first is not None and first is not False
    assert ssl_context(args) is first  # made once per command
    assert ssl_context(args, "ws://127.0.0.1:1/WebSocket") is None  # made, not for plain ws


def test_a_ca_file_is_read_even_where_no_url_uses_tls(tmp_path: Path) -> None:
    from ertcloud.cli.market_price import first_urls, ssl_context
    from ertcloud.exceptions import ConfigError

    missing = str(tmp_path / "missing.pem")
    args = build_parser().parse_args(["market-price", "--ca-file", missing, "--tls", "off"])
    args.hostname = "127.0.0.1"
    plain = first_urls(args, "http://127.0.0.1:1/token")
    assert plain == ["http://127.0.0.1:1/token", "ws://127.0.0.1:443/WebSocket"]
    with pytest.raises(ConfigError, match="cannot load CA file"):
        ssl_context(args, *plain)
    args.ca_file = None
    assert ssl_context(args, *plain) is None
    # no host: service discovery chooses the WebSocket, which may use TLS: the CA bundle
    args.hostname = None
    assert first_urls(args, "http://127.0.0.1:1/token") == []
    context = ssl_context(args, *first_urls(args, "http://127.0.0.1:1/token"))
    assert context is not None and context is not False


def test_a_command_is_parsed_by_a_parser_of_its_own_as_by_the_whole() -> None:
    from ertcloud.cli import COMMANDS

    whole = build_parser()
    assert [p[0] for p, _ in _subcommands(whole) if len(p) == 1] == list(COMMANDS)
    for name in COMMANDS:
        own = build_parser(name)
        mine = {path: sub.format_help() for path, sub in _subcommands(own)}
        assert [p[0] for p in mine] == [name] * len(mine)
        assert mine == {p: s.format_help() for p, s in _subcommands(whole) if p[0] == name}
    argv = ["market-price", "--hostname", "h", "--ric", "A,B", "-v", "--tls", "off", "-x"]

    def parsed(parser: argparse.ArgumentParser) -> tuple[dict[str, object], list[str]]:
        ns, extra = parser.parse_known_args(argv)  # the command's function made per parser:
        return {k: getattr(v, "__qualname__", v) for k, v in vars(ns).items()}, extra

    assert parsed(build_parser("market-price")) == parsed(whole)
