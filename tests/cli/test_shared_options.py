"""An option several commands take is the same option on each (cli/shared_options.py): the
same names and hidden aliases, action, type and metavar; only its default and help may be
the command's own."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from ertcloud.cli import build_parser
from ertcloud.cli.shared_options import OPTIONS, add_shared

#: the simulator's --port, --user, --password, --service and --ric are the server's own
#: (what it listens on, whom it accepts, what it serves)
OWN_MEANING = {"ertcloud sim"}


def _commands(
    parser: argparse.ArgumentParser, path: str = "ertcloud"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{path} {name}")


def _shape(action: argparse.Action, parser: argparse.ArgumentParser) -> tuple[object, ...]:
    aliases = sorted(
        s
        for s, a in parser._option_string_actions.items()
        if a.dest == action.dest and a is not action
    )
    return (action.option_strings, aliases, type(action), action.type, action.metavar)


def test_each_shared_option_is_the_table_s_on_every_command() -> None:
    table = argparse.ArgumentParser()
    add_shared(table, *OPTIONS)
    want = {
        a.option_strings[0]: _shape(a, table)
        for a in table._actions
        if a.option_strings and a.help is not argparse.SUPPRESS and a.dest != "help"
    }
    seen: dict[str, set[str]] = {}
    for path, parser in _commands(build_parser()):
        if path in OWN_MEANING:
            continue
        for action in parser._actions:
            if action.help is argparse.SUPPRESS or not action.option_strings:
                continue
            name = action.option_strings[0]
            if name in want:
                shape = _shape(action, parser)
                if name == "--fields":  # market-price, record and board keep it as ``view``
                    assert action.dest in ("fields", "view"), path
                assert shape == want[name], f"{path} {name}: {shape} != {want[name]}"
                seen.setdefault(name, set()).add(path)
    # every entry of the table is used, most by several commands
    assert set(seen) == set(want)
    assert len(seen["--auth-url"]) >= 10 and len(seen["--hot-standby"]) >= 4


def test_keywords_for_an_option_not_added_are_refused() -> None:
    with pytest.raises(TypeError, match="region"):
        add_shared(argparse.ArgumentParser(), "url", region={"default": None})
